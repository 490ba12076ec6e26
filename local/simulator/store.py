"""The simulated account's stages, sessions, participants and events, and their mutations.

Holds the validated scenario without copying it (never mutated: changes replace objects, so a
reader holding a list keeps a consistent view). Times are made canonical (UTC, milliseconds,
'Z') when a session is first read; an event without `participantId` gets its participant's.
"""

from __future__ import annotations

import threading
from collections.abc import Callable, Iterable
from datetime import datetime
from functools import cached_property
from typing import Any, Protocol

from local.simulator.clock import to_ms
from local.simulator.model import canonical_time, format_time, parse_time

Record = dict[str, Any]
Order = Callable[[Record], Any]


def time_ms(value: str) -> int:
    """An API time string as milliseconds since the epoch (exact, no float rounding)."""
    return to_ms(parse_time(value))


class Reader(Protocol):
    """What the API reads: the whole timeline (`Store`) or what has happened by now
    (`live.LiveView`)."""

    def stages(self) -> list[Record]: ...
    def stage(self, arn: str) -> Record | None: ...
    def sessions(self, arn: str) -> list[Record]: ...
    def session(self, arn: str, session_id: str) -> Record | None: ...
    def participants(
        self, arn: str, session_id: str, order: Order | None = None
    ) -> list[Record]: ...
    def participant(self, arn: str, session_id: str, participant_id: str) -> Record | None: ...
    def events(self, arn: str, session_id: str, participant_id: str) -> list[Record]: ...


class SessionData:
    """One session, its participants sorted by participantId, built lazily."""

    def __init__(self, data: Record, end_time: str | None = None) -> None:
        self.raw = data
        self.info: Record = {
            "sessionId": data["sessionId"],
            "startTime": canonical_time(data["startTime"]),
            "endTime": end_time or (data.get("endTime") and canonical_time(data["endTime"])),
        }
        self.start_ms = time_ms(self.info["startTime"])
        self.end_ms = None if self.info["endTime"] is None else time_ms(self.info["endTime"])
        self._orders: dict[Order, list[Record]] = {}

    def ended(self, end_time: str) -> SessionData:
        return SessionData(self.raw, canonical_time(end_time))

    @cached_property
    def participants(self) -> list[Record]:
        people = sorted(self.raw.get("participants", []), key=lambda p: str(p["participantId"]))
        return [{key: value for key, value in p.items() if key != "events"} for p in people]

    def ordered(self, key: Order) -> list[Record]:
        """The participants sorted by `key`, sorted once (not at every page of a listing)."""
        if key not in self._orders:
            self._orders[key] = sorted(self.participants, key=key)
        return self._orders[key]

    @cached_property
    def by_id(self) -> dict[str, Record]:
        return {p["participantId"]: p for p in self.participants}

    @cached_property
    def events(self) -> dict[str, list[Record]]:
        return {
            p["participantId"]: [
                event
                if "participantId" in event
                else {**event, "participantId": p["participantId"]}
                for event in p.get("events", [])
            ]
            for p in self.raw.get("participants", [])
        }


class StageData:
    """A stage's info and its sessions, newest startTime first."""

    def __init__(self, info: Record, sessions: Iterable[SessionData]) -> None:
        self.info = info
        # Newest startTime first, as the API lists them; ties by sessionId.
        self.sessions = sorted(sessions, key=lambda s: (-s.start_ms, s.info["sessionId"]))
        self.by_id = {s.info["sessionId"]: s for s in self.sessions}
        active = [s.info["sessionId"] for s in self.sessions if s.info["endTime"] is None]
        self.summary: Record = {**info, "activeSessionId": active[0] if active else None}

    def replace(self, sessions: Iterable[SessionData]) -> StageData:
        return StageData(self.info, sessions)


class Store:
    """Thread-safe read access and the mutation hooks tests use."""

    def __init__(self, scenario: Record) -> None:
        self._lock = threading.Lock()
        self._stages: dict[str, StageData] = {}
        for stage in scenario["stages"]:
            info = {key: value for key, value in stage.items() if key != "sessions"}
            sessions = [SessionData(s) for s in stage.get("sessions", [])]
            self._stages[stage["arn"]] = StageData(info, sessions)

    # --- reads -------------------------------------------------------------------------
    def stages(self) -> list[Record]:
        """Stage summaries (with activeSessionId), sorted by arn."""
        with self._lock:
            stages = list(self._stages.values())
        return sorted((s.summary for s in stages), key=lambda s: str(s["arn"]))

    def stage(self, arn: str) -> Record | None:
        found = self._stages.get(arn)
        return found.summary if found else None

    def timelines(self) -> list[StageData]:
        """Every stage with all its sessions, sorted by arn (for views over the store)."""
        with self._lock:
            stages = list(self._stages.values())
        return sorted(stages, key=lambda s: str(s.info["arn"]))

    def timeline(self, arn: str) -> StageData | None:
        return self._stages.get(arn)

    def sessions(self, arn: str) -> list[Record]:
        """Session summaries, newest startTime first; [] for an unknown stage."""
        found = self._stages.get(arn)
        return [s.info for s in found.sessions] if found else []

    def _session(self, arn: str, session_id: str) -> SessionData | None:
        found = self._stages.get(arn)
        return found.by_id.get(session_id) if found else None

    def session(self, arn: str, session_id: str) -> Record | None:
        found = self._session(arn, session_id)
        return found.info if found else None

    def participants(self, arn: str, session_id: str, order: Order | None = None) -> list[Record]:
        """Participants sorted by participantId (or by `order`); [] for an unknown stage or
        session."""
        found = self._session(arn, session_id)
        if found is None:
            return []
        return found.participants if order is None else found.ordered(order)

    def participant(self, arn: str, session_id: str, participant_id: str) -> Record | None:
        found = self._session(arn, session_id)
        return found.by_id.get(participant_id) if found else None

    def events(self, arn: str, session_id: str, participant_id: str) -> list[Record]:
        """A participant's events in scenario order; [] for anything unknown."""
        found = self._session(arn, session_id)
        return found.events.get(participant_id, []) if found else []

    # --- mutations ---------------------------------------------------------------------
    def _update(self, arn: str, sessions: Iterable[SessionData]) -> None:
        self._stages[arn] = self._stages[arn].replace(sessions)

    def _stage_or_raise(self, arn: str) -> StageData:
        if arn not in self._stages:
            raise KeyError(f"unknown stage {arn!r}")
        return self._stages[arn]

    def expire_session(self, arn: str, session_id: str) -> None:
        """IVS forgets the session: it, its participants and events vanish."""
        with self._lock:
            stage = self._stage_or_raise(arn)
            if session_id not in stage.by_id:
                raise KeyError(f"unknown session {session_id!r} of {arn!r}")
            self._update(arn, [s for s in stage.sessions if s.info["sessionId"] != session_id])

    def end_active_session(self, arn: str, end_time: str | datetime) -> str:
        """End the stage's active session at `end_time`; return its sessionId."""
        end = canonical_time(end_time) if isinstance(end_time, str) else format_time(end_time)
        with self._lock:
            stage = self._stage_or_raise(arn)
            active = stage.summary["activeSessionId"]
            if active is None:
                raise ValueError(f"stage {arn!r} has no active session")
            if parse_time(end) < parse_time(stage.by_id[active].info["startTime"]):
                raise ValueError(f"end time {end!r} is before the session's start")
            self._update(
                arn, [s.ended(end) if s.info["sessionId"] == active else s for s in stage.sessions]
            )
            return str(active)

    def start_session(self, arn: str, session: Record) -> None:
        """Add a session (scenario format; already validated) to a stage."""
        with self._lock:
            stage = self._stage_or_raise(arn)
            new = SessionData(session)
            if new.info["sessionId"] in stage.by_id:
                raise ValueError(f"session {new.info['sessionId']!r} already exists")
            if new.info["endTime"] is None and stage.summary["activeSessionId"] is not None:
                raise ValueError(f"stage {arn!r} already has an active session")
            self._update(arn, [*stage.sessions, new])
