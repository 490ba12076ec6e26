"""What the picture says in words, the same in the PNG and the HTML: title, subtitle, lane
labels, and the details shown on hover."""

from __future__ import annotations

from datetime import datetime, timedelta

from console.output import counted
from console.timeline.model import Fold, Lane, Mark, Span, Timeline
from shared.render import duration as seconds

TIMES = "\u00d7"  # the multiplication sign: "QUOTA_EXCEEDED" then TIMES then "3"
DASH = "\u2013"  # the en dash, between two times
ELLIPSIS = "\u2026"
USER_CHARS = 24  # the most of a user id a lane's label shows


def clock(moment: datetime) -> str:
    """`00:23:01` (UTC), with milliseconds when it has them: `00:23:01.975`."""
    text = moment.strftime("%H:%M:%S")
    return f"{text}.{moment.microsecond // 1000:03d}" if moment.microsecond else text


def stamp(moment: datetime) -> str:
    return f"{moment:%Y-%m-%d} {clock(moment)}"


def duration(length: timedelta) -> str:
    """`1h 45m`, `12m 5s`, `40s`, `250ms`: as the console's tables write durations."""
    return seconds(length.total_seconds())


def title(timeline: Timeline) -> str:
    name = timeline.stage_name or timeline.stage_arn.rsplit("/", 1)[-1] or "stage"
    return f"{name} · {timeline.session_id}"


def subtitle(timeline: Timeline) -> str:
    parts = [
        f"{stamp(timeline.start)} {DASH} {clock(timeline.end)} UTC"
        f" ({duration(timeline.end - timeline.start)})",
        f"{counted(timeline.participant_count, 'participant')} ({timeline.published:,} published)",
        counted(timeline.event_count, "event"),
    ]
    if timeline.end.date() != timeline.start.date():
        parts[0] = f"{stamp(timeline.start)} {DASH} {stamp(timeline.end)} UTC"
    return " · ".join(parts)


def fold_note(timeline: Timeline) -> str:
    """The sentence saying who was folded and why, or "" when none were."""
    fold = timeline.fold
    if fold is None:
        return ""
    lanes = len(timeline.lanes) + timeline.folded
    why = f"({lanes:,} lanes would pass the limit of {timeline.fold_limit})"
    if not fold.publishers:
        return (
            f"{folded_subscribers(fold.subscribers)} who never published"
            f" {'is' if fold.subscribers == 1 else 'are'} folded into the summary lanes"
            f" at the bottom {why}"
        )
    who = [f"The {counted(fold.publishers, 'least active publisher')} (least time publishing)"]
    if fold.subscribers:
        who.append(f"{folded_subscribers(fold.subscribers)} who never published")
    verb = "is" if len(who) == 1 and fold.publishers == 1 else "are"
    return f"{' and '.join(who)} {verb} folded into the summary lanes at the bottom {why}"


def folded_subscribers(count: int) -> str:
    """`1 subscriber`, `500 subscribers`."""
    return counted(count, "subscriber")


def folded_publishers(count: int) -> str:
    """`1 publisher`, `152 publishers`."""
    return counted(count, "publisher")


def folded_who(fold: Fold) -> str:
    """Who a fold holds: `500 subscribers`, `152 publishers, 13 subscribers`."""
    if not fold.publishers:
        return folded_subscribers(fold.subscribers)
    parts = [folded_publishers(fold.publishers)]
    if fold.subscribers:
        parts.append(folded_subscribers(fold.subscribers))
    return ", ".join(parts)


def lane_label(lane: Lane) -> str:
    """`user-1 · AbCdEf`: the user id (shortened past USER_CHARS) and the participant id's
    first characters; both whole in `lane_details`."""
    user = lane.user_id
    if len(user) > USER_CHARS:
        user = user[: USER_CHARS - 1] + ELLIPSIS
    label = f"{user} · {lane.short_id}"
    return f"{label} (replica)" if lane.role == "replica" else label


def lane_details(lane: Lane) -> list[str]:
    """Hover details of a lane: who, when connected, what it did, its errors."""
    lines = [f"{lane.user_id} — participant {lane.participant_id} ({lane.role})"]
    if lane.note:
        lines.append(lane.note)
    for span in lane.spans_of("connected"):
        lines.append(f"connected {_range(span)}")
    lines.append(
        f"{len(lane.spans_of('publishing'))} publishing spans, "
        f"{counted(len(lane.spans_of('subscribed')), 'subscription')}, "
        f"{counted(lane.event_count, 'event')}"
    )
    lines += [f"{clock(m.time)} {m.kind} {m.error_code or ''}".rstrip() for m in lane.errors]
    lines += [f"{key}: {value}" for key, value in lane.info]
    return lines


def span_details(timeline: Timeline, lane: Lane, span: Span) -> str:
    what = {
        "connected": "connected",
        "publishing": "publishing",
        "subscribed": f"subscribed to {timeline.describe(span.remote)}",
        "replicating": f"replicating to {span.remote}",
    }[span.kind]
    return f"{lane.user_id}: {what}, {_range(span)}"


def mark_details(timeline: Timeline, mark: Mark) -> str:
    who = timeline.describe(mark.participant_id)
    text = f"{stamp(mark.time)} {who}: {mark.kind}"
    if mark.error_code:
        text += f" {mark.error_code}"
    if mark.remote:
        text += f" (publisher {timeline.describe(mark.remote)})"
    if mark.detail:
        text += f" — {mark.detail}"
    return text


def _range(span: Span) -> str:
    until = clock(span.end)
    if not span.closed:
        until += f" ({span.ended_by})"
    return f"{clock(span.start)} {DASH} {until} ({duration(span.end - span.start)})"
