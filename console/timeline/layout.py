"""Where things go, the same for both renderers: rows within a lane, its label lines, the
folded summary's bands, and where each label is, so that no two labels are drawn over each
other: the error marks that a label would run into share one label, counted by code.

Label positions are fractions of the plot's width (0 its left edge, 1 its right; the plot shows
`plot_range`), and `labels` asks the renderer how wide a text is (`Measure`)."""

from __future__ import annotations

from collections import Counter
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import Literal, TypeVar

from console.timeline.model import Fold, Mark, Span, Timeline
from console.timeline.words import TIMES

# Within a lane's body of height 1 (y grows downwards): the bar of connected/publishing spans, a
# thin line of replication above it, and below it one thin row per publisher for subscriptions.
# A lane with errors or replication has a strip above its body with one line of labels for
# each (replication above errors), so no label covers a bar or another kind of label.
LABEL_STRIP = 0.6  # the height of one line of labels
BAR = (0.10, 0.46)
PUBLISHING = (BAR[0] + 0.06, BAR[1] - 0.06)
REPLICATION = (0.02, 0.09)
SUBSCRIPTIONS = (0.52, 0.94)
MARK_Y = (BAR[0] + BAR[1]) / 2
# The folded summary: lanes of these heights, below the participants' lanes.
FOLD_CONNECTED = 2.5
FOLD_PUBLISHING = 1.5
FOLD_WATCHING = 2.5
FOLD_TEXT = 0.45  # room at the top of a band of counts for the words on its peak
FOLD_ROWS = ("JOIN_ERROR", "PUBLISH_ERROR", "SUBSCRIBE_ERROR", "TOKEN_EXCHANGED")
FOLD_ROW = 0.75
LABEL_CHARS = 40  # past this many characters, a label says "+N more" instead
PAD = 0.01  # the time shown before the first moment and after the last, of their distance

LabelKind = Literal["replication", "errors"]
T = TypeVar("T")


def plot_range(timeline: Timeline) -> tuple[datetime, datetime]:
    """The times at the plot's left and right edges: the first and last moments, padded."""
    first, last = timeline.first, timeline.last
    pad = max((last - first) * PAD, timedelta(seconds=1))
    return first - pad, last + pad


@dataclass(frozen=True)
class LaneBox:
    """Where a lane is: from `top`, its label strip (a line for each of `lines`, none without
    errors or replication), then its body of height 1 from `body`."""

    top: float
    lines: tuple[LabelKind, ...] = ()

    @property
    def strip(self) -> float:
        return LABEL_STRIP * len(self.lines)

    @property
    def body(self) -> float:
        return self.top + self.strip

    @property
    def bottom(self) -> float:
        return self.body + 1

    @property
    def mark_y(self) -> float:
        return self.body + MARK_Y

    def line(self, kind: LabelKind) -> tuple[float, float]:
        """(top, bottom) of the line of labels of this kind."""
        top = self.top + LABEL_STRIP * self.lines.index(kind)
        return top, top + LABEL_STRIP


def lane_boxes(timeline: Timeline) -> list[LaneBox]:
    boxes, top = [], 0.0
    for lane in timeline.lanes:
        lines: list[LabelKind] = []
        if lane.spans_of("replicating"):
            lines.append("replication")
        if lane.errors:
            lines.append("errors")
        box = LaneBox(top, tuple(lines))
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
    """One row per kind of the folded participants' marks and error code: (event name, code),
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
        ("publishing", FOLD_PUBLISHING if fold.publishers else 0.0),
        ("watching", FOLD_WATCHING),
        ("marks", FOLD_ROW * max(len(fold_rows(fold)), 1)),
    ):
        if height:
            bands[name] = (top, top + height)
            top += height + 0.2
    return bands


def watching_stacks(timeline: Timeline, fold: Fold) -> list[tuple[str | None, tuple[int, ...]]]:
    """The folded participants' subscriptions as stacked counts: one per publisher with a lane
    (in colour order), then one for all the others together (None: folded publishers, or
    remotes that are not in the session)."""
    stacks: list[tuple[str | None, tuple[int, ...]]] = [
        (pid, fold.watching[pid]) for pid in timeline.publishers if pid in fold.watching
    ]
    known = timeline.publisher_index
    others = [counts for pid, counts in fold.watching.items() if pid not in known]
    if others:
        stacks.append((None, tuple(sum(column) for column in zip(*others, strict=True))))
    return stacks


@dataclass(frozen=True)
class Measure:
    """What a renderer says of its text: how wide a label is drawn (`width`, a fraction of the
    plot's width, its halo included), and `pad`: a label starts that far left of its mark, and
    two labels on a line are at least that far apart."""

    width: Callable[[str], float]
    pad: float


@dataclass(frozen=True)
class Label:
    """One label, for the error `marks` of a lane (their codes, counted) or its replication
    `spans`, in time order, from `left` to `right` (fractions of the plot's width) and from
    `top` to `bottom` (lane units)."""

    kind: LabelKind
    participant_id: str
    marks: tuple[Mark, ...]
    spans: tuple[Span, ...]
    text: str
    left: float
    right: float
    top: float
    bottom: float

    @property
    def time(self) -> datetime:
        return self.marks[0].time if self.marks else self.spans[0].start

    @property
    def y(self) -> float:
        return (self.top + self.bottom) / 2

    def overlaps(self, other: Label) -> bool:
        return (
            self.left < other.right
            and other.left < self.right
            and self.top < other.bottom
            and other.top < self.bottom
        )


def labels(timeline: Timeline, boxes: Sequence[LaneBox], measure: Measure) -> list[Label]:
    """Every label of the lanes, placed: on each line, in time order, a label starts just
    before its first mark (or further left, to end within the plot); a mark whose label would
    start before the previous label ends (with `measure.pad` between them) joins that label,
    and so does a label that would then run into the one before it. No two labels overlap,
    and each lies within the plot (unless its text alone is wider than the plot)."""
    first, last = plot_range(timeline)
    seconds = (last - first).total_seconds()

    def x(moment: datetime) -> float:
        return (moment - first).total_seconds() / seconds

    placed: list[Label] = []
    for lane, box in zip(timeline.lanes, boxes, strict=True):
        pid = lane.participant_id
        for kind in box.lines:
            top, bottom = box.line(kind)
            if kind == "errors":
                errors = sorted(lane.errors, key=lambda m: m.time)
                for marks, text, left, right in _place(
                    errors, [x(m.time) for m in errors], _error_text, measure
                ):
                    label = Label(kind, pid, tuple(marks), (), text, left, right, top, bottom)
                    placed.append(label)
            else:
                spans = sorted(lane.spans_of("replicating"), key=lambda s: s.start)
                for group, text, left, right in _place(
                    spans, [x(s.start) for s in spans], _replication_text, measure
                ):
                    label = Label(kind, pid, (), tuple(group), text, left, right, top, bottom)
                    placed.append(label)
    return placed


def _place(
    items: Sequence[T],
    anchors: Sequence[float],
    words: Callable[[Sequence[T]], str],
    measure: Measure,
) -> list[tuple[list[T], str, float, float]]:
    """Items (in order of their `anchors`) grouped and placed on one line: (items, text, left,
    right) with each group's left at least `measure.pad` after the previous group's right."""
    groups: list[tuple[list[T], str, float, float]] = []
    spread: list[tuple[float, float]] = []  # each group's first and last anchors

    def fit(group: list[T], anchor: float) -> tuple[list[T], str, float, float]:
        text = words(group)
        width = measure.width(text)
        left = max(min(anchor - measure.pad, 1 - width), 0.0)
        return group, text, left, left + width

    for item, anchor in zip(items, anchors, strict=True):
        if groups and anchor - measure.pad < groups[-1][3] + measure.pad:
            groups[-1] = fit([*groups[-1][0], item], spread[-1][0])
            spread[-1] = (spread[-1][0], anchor)
        else:
            groups.append(fit([item], anchor))
            spread.append((anchor, anchor))
        # Shifted left to end within the plot, a label may reach the one before it, or stand
        # over its marks: then they are one label.
        while len(groups) > 1 and groups[-1][2] < max(groups[-2][3] + measure.pad, spread[-2][1]):
            last, (_, end) = groups.pop(), spread.pop()
            groups[-1] = fit([*groups[-1][0], *last[0]], spread[-1][0])
            spread[-1] = (spread[-1][0], end)
    return groups


def _error_text(marks: Sequence[Mark]) -> str:
    """`CODE`, `CODE x3`, `A, B x2` or, past LABEL_CHARS, `A, B +5 more` (times sign)."""
    return _counted([m.error_code or m.kind for m in marks])


def _replication_text(spans: Sequence[Span]) -> str:
    """`replicating to STAGE/SESSION`, to several: `replicating to A x2, B`."""
    return "replicating to " + _counted([s.remote or "?" for s in spans])


def _counted(names: Sequence[str]) -> str:
    counts = list(Counter(names).items())
    words = [name if n == 1 else f"{name} {TIMES}{n}" for name, n in counts]
    shown, covered = words[0], counts[0][1]
    for (_, n), word in zip(counts[1:], words[1:], strict=True):
        if len(shown) + len(word) + 2 > LABEL_CHARS:
            return f"{shown} +{len(names) - covered} more"
        shown, covered = f"{shown}, {word}", covered + n
    return shown
