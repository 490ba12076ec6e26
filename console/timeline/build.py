"""From one session's rows to a `Timeline`: lanes in order of first join, spans paired from
their start and stop events (closed at LEFT or at the session's end when no stop came), marks
for errors and token exchanges, and never more than `fold_limit` lanes: past it, the
never-publishing subscribers and, if need be, the least active publishers are folded into
summary lanes (`fold`); a `participant` asked for keeps its lane."""

from __future__ import annotations

from collections import defaultdict
from datetime import UTC, datetime

from console.timeline.errors import BadRows, ParticipantNotFound
from console.timeline.fold import choose, fold_lanes
from console.timeline.model import SESSION_END, Lane, Mark, Role, Span, SpanKind, Timeline
from console.timeline.rows import Row, Rows, as_map, session_rows, text, utc

FOLD_LIMIT = 40
_EARLIEST = datetime.min.replace(tzinfo=UTC)
_LATEST = datetime.max.replace(tzinfo=UTC)

# start event -> (span kind, stop event); spans of one kind are keyed by their remote
_STARTS: dict[str, tuple[SpanKind, str]] = {
    "JOINED": ("connected", "LEFT"),
    "PUBLISH_STARTED": ("publishing", "PUBLISH_STOPPED"),
    "SUBSCRIBE_STARTED": ("subscribed", "SUBSCRIBE_STOPPED"),
    "REPLICATION_STARTED": ("replicating", "REPLICATION_STOPPED"),
}
_STOPS: dict[str, SpanKind] = {stop: kind for kind, stop in _STARTS.values()}


def build_timeline(
    session: Row | Rows,
    participants: Rows,
    events: Rows,
    *,
    fold_limit: int = FOLD_LIMIT,
    participant: str | None = None,
) -> Timeline:
    """The picture of one session from its stage_sessions row, participants rows and
    participant_events rows (lists of dicts or pyarrow Tables, columns of `archiver.schema`),
    with at most `fold_limit` lanes, `participant`'s among them (ParticipantNotFound if the
    session has no such participant)."""
    rows = session_rows(session, participants, events)
    session_id = text(rows.session, "session_id")
    _check_session(session_id, "participants", rows.participants)
    _check_session(session_id, "participant_events", rows.events)

    by_participant: dict[str, list[Row]] = defaultdict(list)
    for event in rows.events:
        by_participant[text(event, "participant_id")].append(event)
    for evs in by_participant.values():
        evs.sort(key=_event_order)
    times = [t for e in rows.events if (t := _time(e)) is not None]
    start = utc(rows.session.get("start_time"), "start_time") or min(times, default=None)
    if start is None:
        raise BadRows(f"session {session_id} has no start time and no events")
    end = utc(rows.session.get("end_time"), "end_time") or max([start, *times])

    details = {text(p, "participant_id"): p for p in rows.participants}
    ids = sorted(set(details) | set(by_participant))
    lanes = [
        _lane(pid, details.get(pid, {}), by_participant.get(pid, []), start, end) for pid in ids
    ]
    lanes.sort(key=_lane_order)
    user_ids = {lane.participant_id: lane.user_id for lane in lanes}
    if participant is not None and participant not in user_ids:
        raise ParticipantNotFound(_not_found(participant, session_id, ids))

    kept, folded = choose(lanes, fold_limit, participant)
    fold = fold_lanes(folded) if folded else None
    publishers = tuple(lane.participant_id for lane in kept if lane.role != "subscriber")
    return Timeline(
        stage_name=text(rows.session, "stage_name"),
        stage_arn=text(rows.session, "stage_arn"),
        session_id=session_id,
        start=start,
        end=end,
        participant_count=len(ids),
        event_count=len(rows.events),
        lanes=tuple(kept),
        publishers=publishers,
        user_ids=user_ids,
        fold=fold,
        fold_limit=fold_limit,
        participant=participant,
    )


def _not_found(participant: str, session_id: str, ids: list[str]) -> str:
    """`no participant 'abc' in session st-...`, naming the ids it begins (so one can copy a
    whole id from the picture's shortened one)."""
    text = f"no participant {participant!r} in session {session_id} ({len(ids):,} participants)"
    like = [pid for pid in ids if pid.startswith(participant)]
    if like:
        more = f" and {len(like) - 3:,} more" if len(like) > 3 else ""
        text += f"; ids that begin with it: {', '.join(like[:3])}{more}"
    return text


def _check_session(session_id: str, table: str, rows: list[Row]) -> None:
    for index, row in enumerate(rows):
        other = row.get("session_id")
        if other is not None and other != session_id:
            raise BadRows(f"{table} row {index} is of session {other}, not {session_id}")


def _event_order(event: Row) -> tuple[int, datetime]:
    seq = event.get("event_seq")
    when = _time(event)
    return (-1 if seq is None else int(seq), when or _EARLIEST)


def _time(event: Row) -> datetime | None:
    return utc(event.get("event_time"), "event_time")


def _lane_order(lane: Lane) -> tuple[int, datetime, str]:
    if lane.first_join is None:
        return (1, _LATEST, lane.participant_id)
    return (0, lane.first_join, lane.participant_id)


def _lane(pid: str, details: Row, events: list[Row], start: datetime, end: datetime) -> Lane:
    spans, marks = _spans_and_marks(pid, events, start, end)
    joins = [t for e in events if text(e, "event_name") == "JOINED" and (t := _time(e))]
    first_join = utc(details.get("first_join_time"), "first_join_time") or min(joins, default=None)
    if first_join is None and marks:
        first_join = min(mark.time for mark in marks)
    user_id = text(details, "user_id") or next(
        (text(e, "user_id") for e in events if e.get("user_id")), ""
    )
    role: Role = "subscriber"
    if text(details, "replication_type") == "REPLICA":
        role = "replica"
    elif details.get("published") or any(s.kind == "publishing" for s in spans):
        role = "publisher"
    return Lane(
        participant_id=pid,
        user_id=user_id or "(no user id)",
        role=role,
        first_join=first_join,
        spans=tuple(spans),
        marks=tuple(marks),
        event_count=len(events),
        note=_note(details, spans),
        info=_info(details),
    )


def _spans_and_marks(
    pid: str, events: list[Row], start: datetime, end: datetime
) -> tuple[list[Span], list[Mark]]:
    """Pair start and stop events. A LEFT ends whatever the participant still had open; a stop
    with no start begins at the last join (or the session's start); the end closes the rest."""
    spans: list[Span] = []
    marks: list[Mark] = []
    open_: dict[tuple[SpanKind, str | None], datetime] = {}
    joined: datetime | None = None

    def close(key: tuple[SpanKind, str | None], when: datetime, by: str) -> None:
        began = open_.pop(key, None)
        if began is None:
            began = start if key[0] == "connected" else joined or start
        spans.append(Span(key[0], began, max(began, when), by, key[1]))

    for event in events:
        name = text(event, "event_name")
        when = _time(event) or start
        remote = _remote(event)
        if name in _STARTS:
            key = (_STARTS[name][0], remote)
            if key in open_:
                if name == "JOINED":
                    continue  # a second JOINED without LEFT changes nothing
                close(key, when, name)  # restarted without a stop: the old one ends here
            open_[key] = when
            if name == "JOINED":
                joined = when
        elif name == "LEFT":
            for key in [k for k in open_ if k[0] != "connected"]:
                close(key, when, "LEFT")
            close(("connected", None), when, "LEFT")
            joined = None
        elif name in _STOPS:
            close((_STOPS[name], remote), when, name)
        else:
            marks.append(
                Mark(
                    kind=name,
                    time=when,
                    participant_id=pid,
                    error_code=event.get("error_code"),
                    remote=event.get("remote_participant_id"),
                    detail=_token_change(event) if name == "TOKEN_EXCHANGED" else "",
                )
            )
    for key in list(open_):
        close(key, end, SESSION_END)
    spans.sort(key=lambda s: (s.start, s.kind))
    return spans, marks


def _remote(event: Row) -> str | None:
    name = text(event, "event_name")
    if name.startswith("SUBSCRIBE"):
        return event.get("remote_participant_id")
    if name.startswith("REPLICATION"):
        stage = text(event, "destination_stage_arn").rsplit("/", 1)[-1]
        return f"{stage or '?'}/{text(event, 'destination_session_id') or '?'}"
    return None


def _token_change(event: Row) -> str:
    before, after = event.get("previous_token") or {}, event.get("new_token") or {}
    parts = []
    caps = [",".join(sorted(t.get("capabilities") or [])) or "none" for t in (before, after)]
    if caps[0] != caps[1]:
        parts.append(f"capabilities {caps[0]} → {caps[1]}")
    old, new = as_map(before.get("attributes")), as_map(after.get("attributes"))
    for key in sorted(set(old) | set(new)):
        if old.get(key) != new.get(key):
            parts.append(f"{key} {old.get(key, '-')} → {new.get(key, '-')}")
    return "; ".join(parts) or "same capabilities and attributes"


def _note(details: Row, spans: list[Span]) -> str:
    if text(details, "replication_type") == "REPLICA":
        stage = text(details, "source_stage_arn").rsplit("/", 1)[-1] or "?"
        return f"replica of {stage}/{text(details, 'source_session_id') or '?'}"
    targets = sorted({s.remote for s in spans if s.kind == "replicating" and s.remote})
    return f"replicated to {', '.join(targets)}" if targets else ""


def _info(details: Row) -> tuple[tuple[str, str], ...]:
    info: list[tuple[str, str]] = []
    client = " ".join(
        text(details, c) for c in ("os_name", "os_version", "browser_name", "browser_version")
    ).strip()
    if client:
        info.append(("client", client))
    for label, column in (
        ("sdk", "sdk_version"),
        ("protocol", "protocol"),
        ("isp", "isp_name"),
        ("recording", "recording_state"),
        ("state", "state"),
    ):
        if text(details, column):
            info.append((label, text(details, column)))
    info += sorted(as_map(details.get("attributes")).items())
    return tuple(info)
