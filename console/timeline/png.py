"""The timeline as a PNG, drawn with matplotlib (Agg: no display needed)."""

from __future__ import annotations

from collections import Counter, defaultdict
from pathlib import Path

import matplotlib.dates as mdates
import numpy as np
from matplotlib import patheffects
from matplotlib.axes import Axes
from matplotlib.backends.backend_agg import FigureCanvasAgg, RendererAgg
from matplotlib.collections import PolyCollection
from matplotlib.figure import Figure
from matplotlib.font_manager import FontProperties
from matplotlib.lines import Line2D
from matplotlib.patches import Patch

from console.timeline import layout, style, words
from console.timeline.model import Fold, Mark, Timeline

LANE_INCHES = 0.3
WIDTH_INCHES = 15.0
DPI = 100
FONT = 7.5
MARK_FONT = FONT - 0.5
POINT = DPI / 72  # pixels
HALO = 2.2  # the white outline around text over the picture, in points (both sides together)
LABEL_PAD = 3.0  # points between a label and the next, and from a label's start to its mark
_HALO = [patheffects.withStroke(linewidth=HALO, foreground="white")]


def write_png(timeline: Timeline, path: str | Path) -> Path:
    """Draw `timeline` into `path` (a .png) and return the path."""
    figure = draw(timeline)
    target = Path(path)
    figure.savefig(target, dpi=DPI, format="png")
    return target


def draw(timeline: Timeline) -> Figure:
    figure, _ = draw_with_labels(timeline)
    return figure


def draw_with_labels(timeline: Timeline) -> tuple[Figure, list[layout.Label]]:
    """The figure, and the lanes' labels as laid out and drawn (one text each, in order)."""
    boxes = layout.lane_boxes(timeline)
    lanes = boxes[-1].bottom if boxes else 0.0
    bands = layout.fold_bands(lanes, timeline.fold) if timeline.fold is not None else {}
    bottom = max([lanes, *(b for _, b in bands.values())]) + 0.3
    height = 1.9 + bottom * LANE_INCHES
    figure = Figure(figsize=(WIDTH_INCHES, height), dpi=DPI, layout="constrained")
    FigureCanvasAgg(figure)  # Agg: no display, no pyplot state
    ax = figure.add_subplot()
    ax.set_ylim(bottom, -0.9)
    first, last = layout.plot_range(timeline)
    ax.set_xlim(mdates.date2num(first), mdates.date2num(last))
    _frame(ax, timeline)
    for index, (lane, box) in enumerate(zip(timeline.lanes, boxes, strict=True)):
        if lane.participant_id == timeline.participant:
            ax.axhspan(box.top, box.bottom, color=style.CHOSEN, zorder=0, lw=0)
        elif index % 2:
            ax.axhspan(box.top, box.bottom, color="#f5f6f8", zorder=0, lw=0)
    _spans(ax, timeline, boxes)
    rows: list[tuple[list[Mark], float]] = [
        (list(lane.marks), box.mark_y) for lane, box in zip(timeline.lanes, boxes, strict=True)
    ]
    ticks = [box.body + 0.5 for box in boxes]
    labels = [words.lane_label(lane) for lane in timeline.lanes]
    colours = [_label_colour(timeline, lane.participant_id, lane.role) for lane in timeline.lanes]
    if timeline.fold is not None:
        fold_ticks, fold_labels, fold_rows = _fold(ax, timeline, timeline.fold, bands)
        ticks += fold_ticks
        labels += fold_labels
        colours += [style.FOLDED] * len(fold_ticks)
        rows += fold_rows
    ax.set_yticks(ticks, labels, fontsize=FONT)
    for tick, colour in zip(ax.get_yticklabels(), colours, strict=True):
        tick.set_color(colour)
    for tick, lane in zip(ax.get_yticklabels(), timeline.lanes, strict=False):
        if lane.participant_id == timeline.participant:
            tick.set_fontweight("bold")
    ax.tick_params(axis="y", length=0)
    _titles(figure, ax, timeline)
    _legend(figure)
    for marks, y in rows:
        _marks(ax, marks, y)
    # Labels are placed by their drawn widths, known once the plot is laid out.
    engine = figure.get_layout_engine()
    if engine is not None:
        engine.execute(figure)
    renderer = figure.canvas.get_renderer()  # type: ignore[attr-defined]
    plot = ax.get_window_extent(renderer).width
    placed = layout.labels(timeline, boxes, _measure(renderer, plot))
    for label in placed:
        _label(ax, label, HALO / 2 * POINT / plot)
    return figure, placed


def _measure(renderer: RendererAgg, plot: float) -> layout.Measure:
    """Label widths as drawn (the text's width in pixels, with its halo) over the plot's."""
    font = FontProperties(size=MARK_FONT)

    def width(text: str) -> float:
        drawn, _, _ = renderer.get_text_width_height_descent(text, font, ismath=False)
        return (drawn + HALO * POINT) / plot

    return layout.Measure(width, LABEL_PAD * POINT / plot)


def _label(ax: Axes, label: layout.Label, inset: float) -> None:
    """A label's text, from its left edge (plus its halo, `inset`) at the middle of its line."""
    colour = style.ERROR if label.kind == "errors" else style.REPLICATION
    ax.text(
        label.left + inset,
        label.y,
        label.text,
        transform=ax.get_yaxis_transform(),
        fontsize=MARK_FONT,
        color=colour,
        ha="left",
        va="center",
        path_effects=_HALO,
        zorder=7,
        parse_math=False,
        in_layout=False,
    )


def _frame(ax: Axes, timeline: Timeline) -> None:
    locator = mdates.AutoDateLocator(tz=mdates.UTC, maxticks=14)
    ax.xaxis.set_major_locator(locator)
    formatter = mdates.ConciseDateFormatter(locator, tz=mdates.UTC, show_offset=False)
    ax.xaxis.set_major_formatter(formatter)
    ax.tick_params(axis="x", labelsize=FONT + 0.5, labeltop=True, top=True)
    ax.grid(axis="x", color=style.GRID, lw=0.8, zorder=0)
    ax.set_xlabel(f"time (UTC), {timeline.start:%Y-%m-%d}", fontsize=FONT + 0.5)
    for spine in ("left", "right"):
        ax.spines[spine].set_visible(False)
    for moment, name in ((timeline.start, "start"), (timeline.end, "end")):
        x = mdates.date2num(moment)
        ax.axvline(x, color=style.MUTED, lw=1, ls="--", zorder=1)
        ax.annotate(
            f"{name} {moment:%H:%M:%S}",
            (x, -0.45),
            xytext=(3 if name == "start" else -3, 0),
            textcoords="offset points",
            ha="left" if name == "start" else "right",
            va="center",
            fontsize=FONT,
            color=style.MUTED,
        )


def _label_colour(timeline: Timeline, pid: str, role: str) -> str:
    if role == "subscriber":
        return style.TEXT
    return style.publisher_colour(timeline.publisher_index[pid])


def _spans(ax: Axes, timeline: Timeline, boxes: list[layout.LaneBox]) -> None:
    """Every span as a rectangle, one PolyCollection per kind and colour."""
    rects: dict[tuple[str, str], list[list[tuple[float, float]]]] = defaultdict(list)
    for lane, box in zip(timeline.lanes, boxes, strict=True):
        for span in lane.spans:
            start, end = mdates.date2num(span.start), mdates.date2num(span.end)
            if span.kind == "connected":
                (low, high), colour = layout.BAR, style.CONNECTED
            elif span.kind == "publishing":
                low, high = layout.PUBLISHING
                colour = _label_colour(timeline, lane.participant_id, lane.role)
            elif span.kind == "replicating":
                (low, high), colour = layout.REPLICATION, style.REPLICATION
            else:
                low, high, publisher = layout.subscription_row(timeline, span.remote)
                colour = style.publisher_colour(publisher)
            top, bottom = box.body + low, box.body + high
            rects[span.kind, colour].append(
                [(start, top), (end, top), (end, bottom), (start, bottom)]
            )
    for (kind, colour), verts in rects.items():
        connected = kind == "connected"
        ax.add_collection(
            PolyCollection(
                verts,
                facecolors=colour,
                edgecolors=style.CONNECTED_EDGE if connected else "none",
                linewidths=0.4 if connected else 0,
                zorder=2 if connected else 3,
            ),
            autolim=False,
        )


def _marks(ax: Axes, marks: list[Mark], y: float) -> None:
    """Draw marks on a row at `y` (their labels are `layout.labels`')."""
    by_kind: dict[str, list[float]] = defaultdict(list)
    for mark in marks:
        by_kind[mark.kind].append(mdates.date2num(mark.time))
    for kind, xs in by_kind.items():
        error = kind in ("JOIN_ERROR", "PUBLISH_ERROR", "SUBSCRIBE_ERROR")
        ax.scatter(
            xs,
            [y] * len(xs),
            marker=style.marker(kind),
            s=26 if style.marker(kind) != "|" else 60,
            c=style.mark_colour(kind, error),
            edgecolors="white" if style.marker(kind) != "|" else None,
            linewidths=0.5 if style.marker(kind) != "|" else 1.4,
            zorder=6,
        )


def _fold(
    ax: Axes,
    timeline: Timeline,
    fold: Fold,
    bands: dict[str, tuple[float, float]],
) -> tuple[list[float], list[str], list[tuple[list[Mark], float]]]:
    """The summary lanes of the folded participants; returns their y ticks and labels, and
    their rows of marks."""
    ticks: list[float] = []
    labels: list[str] = []
    x = mdates.date2num(list(fold.times)) if fold.times else np.array([])
    for top, bottom in bands.values():
        ax.axhspan(top, bottom, color="#eef2f6", zorder=0, lw=0)
    late = timeline.first + (timeline.last - timeline.first) * 0.7
    for name, levels, peak, what in (
        ("connected", fold.connected, fold.peak_connected, "connected"),
        ("publishing", fold.publishing, fold.peak_publishing, "publishing"),
    ):
        if name not in bands:
            continue
        top, bottom = bands[name]
        scale = (bottom - top - layout.FOLD_TEXT) / max(peak, 1)
        if len(x) and peak:
            ax.fill_between(
                x,
                bottom,
                bottom - np.array(levels) * scale,
                step="post",
                color=style.FOLDED if name == "connected" else style.UNKNOWN_PUBLISHER,
                alpha=0.55,
                lw=0,
                zorder=2,
            )
            at = fold.times[levels.index(peak)]
            ax.annotate(
                f"peak {peak:,} {what} at {at:%H:%M:%S}",
                (mdates.date2num(at), top),
                xytext=(-4 if at > late else 4, -1),
                textcoords="offset points",
                ha="right" if at > late else "left",
                fontsize=FONT - 0.5,
                color=style.FOLDED,
                va="top",
                path_effects=_HALO,
                zorder=7,
                annotation_clip=False,
                parse_math=False,
            )
        ticks.append((top + bottom) / 2)
    labels.append(f"{words.folded_who(fold)} folded:\nconnected")
    if "publishing" in bands:
        labels.append(f"{words.folded_publishers(fold.publishers)} folded:\npublishing")

    top, bottom = bands["watching"]
    stacks = layout.watching_stacks(timeline, fold)
    if len(x) and stacks:
        stacked = np.cumsum([np.array(level) for _, level in stacks], axis=0)
        scale = (bottom - top - layout.FOLD_TEXT) / max(int(stacked[-1].max()), 1)
        below = np.zeros(len(x))
        for (pid, _), level in zip(stacks, stacked, strict=True):
            index = None if pid is None else timeline.publisher_index.get(pid)
            ax.fill_between(
                x,
                bottom - below * scale,
                bottom - level * scale,
                step="post",
                color=style.publisher_colour(index),
                alpha=0.8,
                lw=0,
                zorder=2,
            )
            below = level
        ax.annotate(
            f"peak {int(stacked[-1].max()):,} subscriptions",
            (0.002, top),
            xycoords=("axes fraction", "data"),
            fontsize=FONT - 0.5,
            color=style.FOLDED,
            va="top",
            zorder=7,
        )
    ticks.append((top + bottom) / 2)
    labels.append("subscriptions\nby publisher")

    top, _ = bands["marks"]
    counts = Counter((m.kind, m.error_code) for m in fold.marks)
    rows: list[tuple[list[Mark], float]] = []
    for index, (kind, code) in enumerate(layout.fold_rows(fold)):
        y = top + layout.FOLD_ROW * (index + 0.5)
        rows.append(([m for m in fold.marks if (m.kind, m.error_code) == (kind, code)], y))
        ticks.append(y)
        labels.append(layout.fold_row_label(kind, code, counts[kind, code]))
    if not counts:
        ticks.append(top + layout.FOLD_ROW / 2)
        labels.append("no errors or token exchanges")
    return ticks, labels, rows


def _titles(figure: Figure, ax: Axes, timeline: Timeline) -> None:
    figure.suptitle(words.title(timeline), fontsize=FONT + 4, fontweight="bold", x=0.01, ha="left")
    lines = [words.subtitle(timeline)]
    if timeline.fold is not None:
        lines.append(words.fold_note(timeline))
    ax.set_title("\n".join(lines), loc="left", fontsize=FONT + 1.5, color=style.TEXT, pad=8)


def _legend(figure: Figure) -> None:
    handles: list[Patch | Line2D] = []
    for entry in style.LEGEND:
        if entry.key == "connected":
            handles.append(Patch(fc=style.CONNECTED, ec=style.CONNECTED_EDGE, label=entry.text))
        elif entry.key == "publishing":
            handles.append(Patch(fc=style.PALETTE[0], label=entry.text))
        elif entry.key == "subscribed":
            handles.append(Line2D([], [], color=style.PALETTE[1], lw=2, label=entry.text))
        elif entry.key == "replicating":
            handles.append(Line2D([], [], color=style.REPLICATION, lw=2, label=entry.text))
        else:
            error = entry.key.endswith("_ERROR")
            handles.append(
                Line2D(
                    [],
                    [],
                    ls="none",
                    marker=style.marker(entry.key),
                    color=style.mark_colour(entry.key, error),
                    label=entry.text,
                )
            )
    figure.legend(
        handles=handles,
        loc="outside lower center",
        ncol=len(handles),
        fontsize=FONT,
        frameon=False,
        handlelength=1.6,
        columnspacing=1.2,
    )
