"""Where things go, the same for both renderers: rows within a lane, the folded summary's
bands, and which error marks share one label so labels do not run over each other."""

from __future__ import annotations

from collections import Counter
from collections.abc import Sequence
from dataclasses import dataclass
from datetime import datetime

from console.timeline.model import Fold, Mark, Timeline
from console.timeline.words import TIMES

# Within a lane's body of height 1 (y grows downwards): the bar of connected/publishing spans, a
# thin line of replication above it, and below it one thin row per publisher for subscriptions.
# A lane with errors or replication has a strip above its body for their labels, so no label
# covers a bar.
LABEL_STRIP = 0.5
BAR = (0.10, 0.46)
PUBLISHING = (BAR[0] + 0.06, BAR[1] - 0.06)
REPLICATION = (0.02, 0.09)
SUBSCRIPTIONS = (0.52, 0.94)
MARK_Y = (BAR[0] + BAR[1]) / 2
# The folded summary: lanes of these heights, below the participants' lanes.
FOLD_CONNECTED = 2.5
FOLD_WATCHING = 2.5
FOLD_ROWS = ("JOIN_ERROR", "PUBLISH_ERROR", "SUBSCRIBE_ERROR", "TOKEN_EXCHANGED")
FOLD_ROW = 0.75
LABEL_CHARS = 40  # the longest mark label, in characters


@dataclass(frozen=True)
class LaneBox:
    """Where a lane is: from `top`, its label strip (`strip` high, 0 without errors), then
    its body of height 1 from `body`."""

    top: float
    strip: float

    @property
    def body(self) -> float:
        return self.top + self.strip

    @property
    def bottom(self) -> float:
        return self.body + 1

    @property
    def label_y(self) -> float:
        return self.top + self.strip * 0.55

    @property
    def mark_y(self) -> float:
        return self.body + MARK_Y


def lane_boxes(timeline: Timeline) -> list[LaneBox]:
    boxes, top = [], 0.0
    for lane in timeline.lanes:
        labelled = lane.errors or lane.spans_of("replicating")
        box = LaneBox(top, LABEL_STRIP if labelled else 0.0)
        boxes.append(box)
        top = box.bottom
    return boxes


def subscription_row(timeline: Timeline, remote: str | None) -> tuple[float, float, int | None]:
    """(top, bottom, publisher index) of the thin row for subscriptions to `remote`; one row
    per publisher of the picture, plus one shared row for any other remote."""
    rows = len(timeline.publishers) + (1 if timeline.subscribes_elsewhere else 0)
    index = None if remote is None else timeline.publisher_index.get(remote)
    row = len(timeline.publishers) if index is None else index
    top, bottom = SUBSCRIPTIONS
    height = (bottom - top) / max(rows, 1)
    return top + row * height, top + (row + 1) * height, index


def fold_rows(fold: Fold) -> list[tuple[str, str | None]]:
    """One row per kind of the folded subscribers' marks and error code: (event name, code),
    errors first, the commonest code of each event first."""
    counts = Counter((mark.kind, mark.error_code) for mark in fold.marks)
    rank = {kind: index for index, kind in enumerate(FOLD_ROWS)}
    return sorted(counts, key=lambda k: (rank.get(k[0], len(rank)), k[0], -counts[k], k[1] or ""))


def fold_row_label(kind: str, code: str | None, count: int) -> str:
    """`subscribe: PUBLISHER_NOT_FOUND x120`, `token exchanged x3` (with a times sign)."""
    if code is None:
        name = kind.lower().replace("_", " ")
        return f"{name} {TIMES}{count:,}"
    return f"{kind.removesuffix('_ERROR').lower()}: {code} {TIMES}{count:,}"


def fold_bands(lanes: float, fold: Fold) -> dict[str, tuple[float, float]]:
    """The folded summary's bands (top, bottom), below the lanes (which end at `lanes`)."""
    top = lanes + 0.4
    bands = {}
    for name, height in (
        ("connected", FOLD_CONNECTED),
        ("watching", FOLD_WATCHING),
        ("marks", FOLD_ROW * max(len(fold_rows(fold)), 1)),
    ):
        bands[name] = (top, top + height)
        top += height + 0.2
    return bands


@dataclass(frozen=True)
class Label:
    """One label for `marks` (in time order), drawn at the first one."""

    marks: tuple[Mark, ...]
    text: str

    @property
    def time(self) -> datetime:
        return self.marks[0].time


def label_groups(
    marks: Sequence[Mark], first: datetime, last: datetime, width_chars: float
) -> list[Label]:
    """Error marks grouped so that each group's label (its codes, counted) ends before the
    next group starts, given that the time axis is `width_chars` characters wide."""
    seconds = max((last - first).total_seconds(), 1e-3)
    per_char = seconds / width_chars
    groups: list[list[Mark]] = []
    reach = None
    for mark in sorted((m for m in marks if m.is_error), key=lambda m: m.time):
        at = (mark.time - first).total_seconds()
        if groups and reach is not None and at <= reach:
            groups[-1].append(mark)
        else:
            groups.append([mark])
        start = (groups[-1][0].time - first).total_seconds()
        reach = start + (len(_text(groups[-1])) + 2) * per_char
    return [Label(tuple(group), _text(group)) for group in groups]


def _text(marks: Sequence[Mark]) -> str:
    """`CODE`, `CODE x3`, `A, B x2` or, past LABEL_CHARS, `A, B +5 more` (times sign)."""
    counts = list(Counter(m.error_code or m.kind for m in marks).items())
    words = [code if n == 1 else f"{code} {TIMES}{n}" for code, n in counts]
    shown, covered = words[0], counts[0][1]
    for (_, n), word in zip(counts[1:], words[1:], strict=True):
        if len(shown) + len(word) + 2 > LABEL_CHARS:
            return f"{shown} +{len(marks) - covered} more"
        shown, covered = f"{shown}, {word}", covered + n
    return shown
