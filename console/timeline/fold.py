"""Folding: the subscribers who never published, as counts over time instead of lanes.

Connected subscribers and, per publisher, the subscribers watching it, as step functions on
one grid of change points; their errors and token exchanges kept as marks."""

from __future__ import annotations

from collections import defaultdict
from collections.abc import Iterable, Sequence
from datetime import datetime
from itertools import accumulate

from console.timeline.model import Fold, Lane, Span


def fold_subscribers(lanes: Sequence[Lane]) -> Fold:
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
