"""Folding: which participants keep a lane within the limit, and the others as counts over time.

Past the limit, the subscribers who never published fold first; if the publishers alone still
pass it, the least active of them fold too (`activity`), so a picture never has more lanes than
its limit. A participant asked for keeps its lane whatever its activity. Folded participants
become step functions on one grid of change points (connected, publishing, and per publisher
the folded participants watching it); their errors and token exchanges are kept as marks."""

from __future__ import annotations

from collections import defaultdict
from collections.abc import Iterable, Sequence
from datetime import datetime, timedelta
from itertools import accumulate

from console.timeline.model import Fold, Lane, Span


def choose(
    lanes: Sequence[Lane], limit: int, participant: str | None = None
) -> tuple[list[Lane], list[Lane]]:
    """(kept, folded), each in the order of `lanes`: all of them within `limit`; past it, at
    most `limit` lanes kept: the publishers (and replicas), the most active first, and
    `participant`'s lane if given (taking the place of the least active publisher kept)."""
    if limit < 1:
        raise ValueError(f"the lane limit must be at least 1, got {limit}")
    if len(lanes) <= limit:
        return list(lanes), []
    publishing = [lane for lane in lanes if lane.role != "subscriber"]
    ranked = sorted(publishing, key=activity, reverse=True)
    kept = {id(lane) for lane in ranked[:limit]}
    wanted = next((lane for lane in lanes if lane.participant_id == participant), None)
    if wanted is not None and id(wanted) not in kept:
        if len(kept) == limit:
            kept.remove(id(ranked[limit - 1]))
        kept.add(id(wanted))
    return (
        [lane for lane in lanes if id(lane) in kept],
        [lane for lane in lanes if id(lane) not in kept],
    )


def activity(lane: Lane) -> tuple[timedelta, int, int]:
    """How active a publisher was, to choose whom to fold: time publishing, then events, then
    errors (the busiest first)."""
    published = sum((s.end - s.start for s in lane.spans_of("publishing")), timedelta())
    return published, lane.event_count, len(lane.errors)


def fold_lanes(lanes: Sequence[Lane]) -> Fold:
    times = sorted({t for lane in lanes for s in lane.spans for t in (s.start, s.end)})
    spans = [s for lane in lanes for s in lane.spans]
    watching: dict[str, list[Span]] = defaultdict(list)
    for span in spans:
        if span.kind == "subscribed" and span.remote is not None:
            watching[span.remote].append(span)
    marks = sorted((m for lane in lanes for m in lane.marks), key=lambda m: m.time)
    return Fold(
        lanes=tuple(lanes),
        times=tuple(times),
        connected=_count(times, (s for s in spans if s.kind == "connected")),
        publishing=_count(times, (s for s in spans if s.kind == "publishing")),
        watching={remote: _count(times, group) for remote, group in watching.items()},
        marks=tuple(marks),
    )


def _count(times: list[datetime], spans: Iterable[Span]) -> tuple[int, ...]:
    """How many of `spans` hold at each grid time (from it until the next)."""
    index = {t: i for i, t in enumerate(times)}
    delta = [0] * (len(times) + 1)
    for span in spans:
        if span.end > span.start:
            delta[index[span.start]] += 1
            delta[index[span.end]] -= 1
    return tuple(accumulate(delta[: len(times)]))
