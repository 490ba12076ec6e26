"""Scenario files: load and validate against the installed botocore `ivs-realtime` model.

Format (docs/design.md, "Local, embedded mode"): `{"stages": [stage, ...]}` where
- a stage holds members of the model's `Stage` shape (`arn` required; not `activeSessionId`,
  which is derived) plus `sessions`;
- a session holds `StageSession` members (`sessionId`, `startTime` required; `endTime` null or
  absent = active, at most one per stage) plus `participants`;
- a participant holds `Participant` members (`participantId` required) plus `events`;
- an event holds `Event` members (`name`, `eventTime` required); its `participantId` may be
  left out (it is the participant's) and, when given, must be the participant's.
Times are ISO-8601 strings with a zone and at most millisecond precision.
A bad file fails with the JSON path of the first problem, e.g.
`stages[0].sessions[2].participants[5].events[3].name: 'JOIN' is not an event name (...)`.
"""

from __future__ import annotations

import json
from collections.abc import Iterator
from pathlib import Path
from typing import Any

from local.simulator.model import Violation, check, parse_time, shape


class ScenarioError(ValueError):
    """A scenario that is not valid JSON or breaks the model; the message names the path."""


def load(path: Path) -> dict[str, Any]:
    """Read and validate a scenario file; ScenarioError names the file and what is wrong."""
    try:
        data = json.loads(Path(path).read_bytes().decode("utf-8"))
    except OSError as error:
        raise ScenarioError(f"{path}: cannot be read: {error.strerror or error}") from error
    except UnicodeDecodeError as error:
        raise ScenarioError(
            f"{path}: not UTF-8 text (byte {error.object[error.start]:#04x} at offset "
            f"{error.start})"
        ) from error
    except json.JSONDecodeError as error:
        raise ScenarioError(f"{path}: not valid JSON: {error}") from error
    try:
        validate(data)
    except ScenarioError as error:
        raise ScenarioError(f"{path}: {error}") from error
    return data


def validate(data: dict[str, Any]) -> None:
    """Raise ScenarioError naming the path of the first problem in `data`."""
    for violation in violations(data):
        raise ScenarioError(str(violation))


def validate_session(session: dict[str, Any], path: str = "session") -> None:
    """Raise ScenarioError unless `session` is a valid scenario session (with participants)."""
    for violation in _session(session, path):
        raise ScenarioError(str(violation))


def violations(data: Any) -> Iterator[Violation]:
    """Every problem in the scenario, in document order (lazy)."""
    if not isinstance(data, dict):
        yield Violation("$", "a scenario is an object with a 'stages' list")
        return
    for key in data:
        if key != "stages":
            yield Violation(key, "unknown member (a scenario holds only 'stages')")
    stages = data.get("stages")
    if not isinstance(stages, list):
        yield Violation("stages", "missing or not a list")
        return
    seen: set[str] = set()
    for index, stage in enumerate(stages):
        path = f"stages[{index}]"
        yield from _stage(stage, path)
        arn = stage.get("arn") if isinstance(stage, dict) else None
        if arn in seen:
            yield Violation(f"{path}.arn", f"duplicate stage {arn!r}")
        if isinstance(arn, str):
            seen.add(arn)


def _required(item: dict[str, Any], path: str, names: tuple[str, ...]) -> Iterator[Violation]:
    for name in names:
        if item.get(name) is None:
            yield Violation(f"{path}.{name}", "missing required member")


def _not_list(item: dict[str, Any], path: str, key: str) -> Iterator[Violation]:
    value = item.get(key, [])
    if not isinstance(value, list):
        yield Violation(f"{path}.{key}", f"expected a list, got {type(value).__name__}")


def _list(item: dict[str, Any], path: str, key: str) -> list[tuple[str, Any]]:
    """(path, element) for each element of the optional list `item[key]`."""
    value = item.get(key, [])
    if not isinstance(value, list):
        return []
    return [(f"{path}.{key}[{index}]", element) for index, element in enumerate(value)]


def _stage(stage: Any, path: str) -> Iterator[Violation]:
    yield from check(stage, shape("Stage"), path, extra=frozenset({"sessions"}))
    if not isinstance(stage, dict):
        return
    if "activeSessionId" in stage:
        yield Violation(f"{path}.activeSessionId", "derived from the session with endTime null")
    yield from _not_list(stage, path, "sessions")
    ids: set[str] = set()
    active: str | None = None
    for session_path, session in _list(stage, path, "sessions"):
        yield from _session(session, session_path)
        if not isinstance(session, dict):
            continue
        session_id = session.get("sessionId")
        if session_id in ids:
            yield Violation(f"{session_path}.sessionId", f"duplicate session {session_id!r}")
        if isinstance(session_id, str):
            ids.add(session_id)
        if session.get("endTime") is None:
            if active is not None:
                yield Violation(
                    f"{session_path}.endTime",
                    f"a second active session (endTime null); {active!r} is already active",
                )
            active = str(session_id)


def _session(session: Any, path: str) -> Iterator[Violation]:
    problems = list(check(session, shape("StageSession"), path, extra=frozenset({"participants"})))
    yield from problems
    if not isinstance(session, dict):
        return
    yield from _required(session, path, ("sessionId", "startTime"))
    start, end = session.get("startTime"), session.get("endTime")
    ordered = problems or start is None or end is None or parse_time(start) <= parse_time(end)
    if not ordered:
        yield Violation(f"{path}.endTime", f"{end!r} is before startTime {start!r}")
    yield from _not_list(session, path, "participants")
    ids: set[str] = set()
    for participant_path, participant in _list(session, path, "participants"):
        yield from _participant(participant, participant_path)
        if not isinstance(participant, dict):
            continue
        participant_id = participant.get("participantId")
        if participant_id in ids:
            yield Violation(
                f"{participant_path}.participantId", f"duplicate participant {participant_id!r}"
            )
        if isinstance(participant_id, str):
            ids.add(participant_id)


def _participant(participant: Any, path: str) -> Iterator[Violation]:
    yield from check(participant, shape("Participant"), path, extra=frozenset({"events"}))
    if not isinstance(participant, dict):
        return
    yield from _required(participant, path, ("participantId",))
    event_shape = shape("Event")
    owner = participant.get("participantId")
    yield from _not_list(participant, path, "events")
    for event_path, event in _list(participant, path, "events"):
        yield from check(event, event_shape, event_path)
        if not isinstance(event, dict):
            continue
        yield from _required(event, event_path, ("name", "eventTime"))
        given = event.get("participantId")
        if given is not None and given != owner:
            yield Violation(
                f"{event_path}.participantId", f"{given!r} is not the participant's {owner!r}"
            )
