"""`python -m local generate`: a seeded, realistic IVS Real-Time scenario (format: docs/design.md).

`generate_scenario(stages=3, sessions=3, participants=40, seed=0, now=None)` returns the
scenario dict; `dumps` writes it as deterministic JSON (one seed, one byte-identical file).

Times: everything lies before an anchor, which is `now` when given and otherwise
2026-01-01T00:00:00Z plus (seed mod 365) days (`anchor(seed)`), never the wall clock. Each
stage has `sessions` ended sessions within the 7 days before the anchor (ending at least 3 h
before it); odd-numbered stages (about half) also have an active session (`endTime` null)
that started within the 3 h before the anchor, whose events all lie before it.
`latest_time(scenario)` is the latest start, end or event time in a scenario: run discovery
"now" = at or after it, with a look-back of at least 7 days, to see every session.

The first ended session of the first stage holds a coverage cast (see `coverage`), so every
scenario has every event name and error code of the installed botocore model and
participants with exactly 100 and with more than 100 events.
"""

from __future__ import annotations

import json
import random
import sys
from collections.abc import Iterator
from datetime import datetime
from pathlib import Path
from typing import Any

from local.generator.cast import Actor, Ctx, ReplicaSpec, regular_cast, replica, replicate
from local.generator.cast import host as new_host
from local.generator.coverage import coverage_cast
from local.generator.session import session_record
from local.generator.timeline import Ids, anchor_ms, from_ms, plan_stages
from local.generator.vocab import ErrorCodes

__all__ = ["anchor", "dumps", "generate_scenario", "latest_time", "main"]

LIMITS = {"stages": (1, 1000), "sessions": (1, 150), "participants": (1, 100_000)}
DESIGNATED = (0, 0)  # (stage, slot) of the session holding the coverage cast


def anchor(seed: int, now: datetime | None = None) -> datetime:
    """The time every generated session lies before (`now` if given)."""
    return from_ms(anchor_ms(seed, now))


def generate_scenario(
    *,
    stages: int = 3,
    sessions: int = 3,
    participants: int = 40,
    seed: int = 0,
    now: datetime | None = None,
) -> dict[str, Any]:
    """A scenario: `stages` stages, each with `sessions` ended sessions (and, for odd-numbered
    stages, an active one) of about `participants` participants."""
    for name, value in (("stages", stages), ("sessions", sessions), ("participants", participants)):
        low, high = LIMITS[name]
        if not low <= value <= high:
            raise ValueError(f"{name} must be within {low}..{high}, got {value}")
    rng = random.Random(seed)
    ids = Ids(rng)
    ctx = Ctx(rng, ids, ErrorCodes.from_model())
    plans, links = plan_stages(rng, ids, stages, sessions, anchor_ms(seed, now))
    incoming: dict[tuple[int, int], list[ReplicaSpec]] = {}
    out = []
    for stage in plans:
        records = []
        for plan in stage.sessions:
            target = max(1, round(participants * rng.uniform(0.85, 1.15)))
            arriving = incoming.pop(plan.key, [])
            first = (
                coverage_cast(ctx, stage, plan) if plan.key == DESIGNATED else [new_host(ctx, plan)]
            )
            link = links.get(plan.key)
            spec = replicate(ctx, stage, plan, first[0], link) if link else None
            if spec is not None:
                incoming.setdefault(spec.dest, []).append(spec)
            actors: list[Actor] = regular_cast(ctx, stage, plan, target, first, len(arriving))
            actors += [replica(ctx, each) for each in arriving]
            records.append(session_record(ctx, stage, plan, actors))
        item: dict[str, Any] = {"arn": stage.arn, "name": stage.name, "tags": stage.tags}
        if stage.recording is not None:
            item["autoParticipantRecordingConfiguration"] = stage.recording
        item["sessions"] = records
        out.append(item)
    return {"stages": out}


def dumps(scenario: dict[str, Any]) -> str:
    """Deterministic JSON text of a scenario: objects that hold lists of objects (stages,
    sessions, participants) one member per line, every event on one line."""
    return "".join(_encode(scenario, "")) + "\n"


def _expands(value: Any) -> bool:
    if isinstance(value, list):
        return bool(value) and isinstance(value[0], dict)
    return isinstance(value, dict) and any(
        _expands(member) for member in value.values() if isinstance(member, list)
    )


def _encode(value: Any, pad: str) -> Iterator[str]:
    if not _expands(value):
        yield json.dumps(value, ensure_ascii=False)
        return
    inner = pad + " "
    if isinstance(value, list):
        yield "["
        for index, item in enumerate(value):
            yield ("," if index else "") + "\n" + inner
            yield from _encode(item, inner)
        yield "\n" + pad + "]"
        return
    yield "{"
    for index, (key, member) in enumerate(value.items()):
        yield ("," if index else "") + "\n" + inner + json.dumps(key) + ": "
        yield from _encode(member, inner)
    yield "\n" + pad + "}"


def latest_time(scenario: dict[str, Any]) -> datetime:
    """The latest startTime, endTime or eventTime in a scenario."""
    latest = ""
    for stage in scenario["stages"]:
        for session in stage.get("sessions", []):
            latest = max(latest, session["startTime"], session.get("endTime") or "")
            for participant in session.get("participants", []):
                for event in participant.get("events", []):
                    latest = max(latest, event["eventTime"])
    if not latest:
        raise ValueError("the scenario has no sessions")
    return datetime.fromisoformat(latest)


def main(
    *,
    stages: int,
    sessions: int,
    participants: int,
    seed: int,
    out: Path | None,
    regions: list[str] | None = None,
    accounts: int = 1,
) -> int:
    """The `generate` command: write the scenario to `out` or standard output, its stages over
    the places of `regions` and `accounts` when given (local.generator.places)."""
    from local.generator.places import spread

    try:
        scenario = generate_scenario(
            stages=stages, sessions=sessions, participants=participants, seed=seed
        )
        if regions or accounts > 1:
            scenario = spread(scenario, regions or ["us-east-1"], accounts)
    except ValueError as error:
        print(f"generate: {error}", file=sys.stderr)
        return 2
    text = dumps(scenario)
    if out is None:
        sys.stdout.write(text)
        return 0
    out.parent.mkdir(parents=True, exist_ok=True)
    out.write_text(text, encoding="utf-8")
    print(f"wrote {out}: {describe(scenario)}", file=sys.stderr)
    return 0


def describe(scenario: dict[str, Any]) -> str:
    """What a scenario holds, counted as `python -m local run` accounts for it: `3 stages,
    10 sessions (9 ended, 1 still active), 385 participants, 10,074 events`."""
    from shared.render import counted  # (rich: only when a command prints)

    sessions = [session for stage in scenario["stages"] for session in stage.get("sessions", [])]
    active = sum(session.get("endTime") is None for session in sessions)
    participants = [p for session in sessions for p in session.get("participants", [])]
    events = sum(len(p.get("events", [])) for p in participants)
    places = {tuple(stage["arn"].split(":")[3:5]) for stage in scenario["stages"]}
    where = f" in {counted(len(places), 'place')}" if len(places) > 1 else ""
    return (
        f"{counted(len(scenario['stages']), 'stage')}{where}, "
        f"{counted(len(sessions), 'session')} "
        f"({len(sessions) - active:,} ended, {active:,} still active), "
        f"{counted(len(participants), 'participant')}, {counted(events, 'event')}"
    )
