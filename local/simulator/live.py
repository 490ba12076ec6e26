"""The live view: what the API shows at the simulated time `now` of a replayed scenario.

- A session exists once its startTime <= now (before that GetStageSession answers 404 and the
  listings leave it out). Its endTime shows once it is <= now; until then it is active, and it
  is its stage's `activeSessionId` (the newest started one, should a scenario overlap them).
  A session with endTime null stays active for ever.
- While a session is active, a participant is listed once it has joined (firstJoinTime <= now;
  without firstJoinTime, its first event), and its events show in list order up to now: an
  event shows once it and every event listed before it have happened (exactly eventTime <= now
  for events in time order, as IVS lists them), so a listing only grows at its end and keyset
  tokens stay exact. `state` is CONNECTED until a LEFT with no later JOINED, then
  DISCONNECTED; `published` is true from the first PUBLISH_STARTED.
- Once a session has ended, it reads exactly as without live replay: every participant and
  event of the scenario, with its recorded state and published.
"""

from __future__ import annotations

import threading
import weakref
from bisect import bisect_left, bisect_right
from datetime import UTC, datetime, timedelta
from functools import cached_property

from local.simulator.clock import SimClock, WallClock, from_ms
from local.simulator.store import Order, Record, SessionData, StageData, Store, time_ms

# Live replay starts this long before the scenario's earliest session, unless told when.
LEAD = timedelta(minutes=1)


def replay_clock(
    store: Store, live: bool, speed: float, start: datetime | None, wall: WallClock
) -> SimClock:
    """The simulator's clock. Its default start: live, LEAD before the earliest session start
    (or the wall clock's now for a scenario without sessions); not live, the wall clock's now
    (the API then ignores the clock and shows the whole scenario)."""
    starts = [s.start_ms for stage in store.timelines() for s in stage.sessions]
    if start is None and live and starts:
        start = from_ms(min(starts)) - LEAD
    return SimClock(start or datetime.now(UTC), speed, wall)


class _Track:
    """One participant's replay: when it appears, and its state after each of its events."""

    def __init__(self, events: list[Record], first_join: str | None, session_start: int) -> None:
        self.reached: list[int] = []  # reached[i]: when the first i + 1 events have happened
        self.connected: list[bool | None] = [None]  # after the first i events (None: no change)
        self.published: list[bool] = [False]
        latest = -(2**63)
        for event in events:
            latest = max(latest, time_ms(event["eventTime"]))
            self.reached.append(latest)
            name = event["name"]
            change = True if name == "JOINED" else False if name == "LEFT" else None
            self.connected.append(self.connected[-1] if change is None else change)
            self.published.append(self.published[-1] or name == "PUBLISH_STARTED")
        if first_join is not None:
            self.joined = time_ms(first_join)
        else:
            self.joined = self.reached[0] if self.reached else session_start

    def count(self, now: int) -> int:
        """How many of its events have happened by `now`."""
        return bisect_right(self.reached, now)

    def as_of(self, participant: Record, now: int) -> Record:
        seen = self.count(now)
        connected = self.connected[seen] is not False
        return {
            **participant,
            "state": "CONNECTED" if connected else "DISCONNECTED",
            "published": self.published[seen],
        }


class _Replay:
    """The tracks of one session's participants, each built on first use."""

    def __init__(self, session: SessionData) -> None:
        self.session = session
        self._tracks: dict[str, _Track] = {}

    @cached_property
    def _raw(self) -> dict[str, Record]:
        return {p["participantId"]: p for p in self.session.raw.get("participants", [])}

    def track(self, participant_id: str) -> _Track:
        found = self._tracks.get(participant_id)
        if found is None:
            raw = self._raw[participant_id]
            events = self.session.events.get(participant_id, [])
            found = _Track(events, raw.get("firstJoinTime"), self.session.start_ms)
            self._tracks[participant_id] = found  # a race builds the same track twice: harmless
        return found


class _Actives:
    """Which of a stage's sessions is active when, without scanning all of them."""

    def __init__(self, stage: StageData) -> None:
        self.sessions = stage.sessions  # newest first
        self.newest_first = [-s.start_ms for s in self.sessions]  # ascending, for bisect
        # last_end[i]: when the last of sessions i.. ends (never: 2**63).
        self.last_end = [-(2**63)] * (len(self.sessions) + 1)
        for i in range(len(self.sessions) - 1, -1, -1):
            end = self.sessions[i].end_ms
            self.last_end[i] = max(self.last_end[i + 1], 2**63 if end is None else end)

    def at(self, now: int) -> str | None:
        """The newest session started and not ended by `now`."""
        for i in range(bisect_left(self.newest_first, -now), len(self.sessions)):
            if self.last_end[i] <= now:
                return None  # it and every older session have ended
            if not _ended(self.sessions[i], now):
                return str(self.sessions[i].info["sessionId"])
        return None


def _ended(session: SessionData, now: int) -> bool:
    return session.end_ms is not None and session.end_ms <= now


class LiveView:
    """Reads the store as of the clock's now; the same read methods as `Store` (`Reader`)."""

    def __init__(self, store: Store, clock: SimClock) -> None:
        self.store = store
        self.clock = clock
        # A replay dies with its session (a mutation replaces the session): weak keys.
        self._replays: weakref.WeakKeyDictionary[SessionData, _Replay]
        self._replays = weakref.WeakKeyDictionary()
        self._actives: weakref.WeakKeyDictionary[StageData, _Actives]
        self._actives = weakref.WeakKeyDictionary()
        self._lock = threading.Lock()

    def _replay(self, session: SessionData) -> _Replay:
        with self._lock:
            found = self._replays.get(session)
            if found is None:
                found = self._replays[session] = _Replay(session)
            return found

    # --- stages and sessions -----------------------------------------------------------
    def _summary(self, stage: StageData, now: int) -> Record:
        with self._lock:
            found = self._actives.get(stage)
            if found is None:
                found = self._actives[stage] = _Actives(stage)
        return {**stage.info, "activeSessionId": found.at(now)}

    def stages(self) -> list[Record]:
        now = self.clock.now_ms()
        return [self._summary(stage, now) for stage in self.store.timelines()]

    def stage(self, arn: str) -> Record | None:
        found = self.store.timeline(arn)
        return None if found is None else self._summary(found, self.clock.now_ms())

    @staticmethod
    def _info(session: SessionData, now: int) -> Record:
        return session.info if _ended(session, now) else {**session.info, "endTime": None}

    def sessions(self, arn: str) -> list[Record]:
        found = self.store.timeline(arn)
        if found is None:
            return []
        now = self.clock.now_ms()
        return [self._info(s, now) for s in found.sessions if s.start_ms <= now]

    def _session(self, arn: str, session_id: str, now: int) -> SessionData | None:
        found = self.store.timeline(arn)
        session = found.by_id.get(session_id) if found else None
        return session if session is not None and session.start_ms <= now else None

    def session(self, arn: str, session_id: str) -> Record | None:
        now = self.clock.now_ms()
        found = self._session(arn, session_id, now)
        return None if found is None else self._info(found, now)

    # --- participants and events ---------------------------------------------------------
    def participants(self, arn: str, session_id: str, order: Order | None = None) -> list[Record]:
        now = self.clock.now_ms()
        found = self._session(arn, session_id, now)
        if found is None:
            return []
        people = found.participants if order is None else found.ordered(order)
        if _ended(found, now):
            return people
        replay = self._replay(found)
        return [
            track.as_of(person, now)
            for person in people
            if (track := replay.track(person["participantId"])).joined <= now
        ]

    def participant(self, arn: str, session_id: str, participant_id: str) -> Record | None:
        now = self.clock.now_ms()
        found = self._session(arn, session_id, now)
        person = found.by_id.get(participant_id) if found else None
        if found is None or person is None or _ended(found, now):
            return person
        track = self._replay(found).track(participant_id)
        return track.as_of(person, now) if track.joined <= now else None

    def events(self, arn: str, session_id: str, participant_id: str) -> list[Record]:
        now = self.clock.now_ms()
        found = self._session(arn, session_id, now)
        if found is None or participant_id not in found.by_id:
            return []
        events = found.events.get(participant_id, [])
        if _ended(found, now):
            return events
        return events[: self._replay(found).track(participant_id).count(now)]
