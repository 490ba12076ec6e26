"""The timeline as a PNG, drawn with matplotlib (Agg: no display needed)."""

from __future__ import annotations

from collections import Counter, defaultdict
from pathlib import Path

import matplotlib.dates as mdates
import numpy as np
from matplotlib import patheffects
from matplotlib.axes import Axes
from matplotlib.backends.backend_agg import FigureCanvasAgg
from matplotlib.collections import PolyCollection
from matplotlib.figure import Figure
from matplotlib.lines import Line2D
from matplotlib.patches import Patch

from console.timeline import layout, style, words
from console.timeline.model import Fold, Mark, Timeline

LANE_INCHES = 0.3
WIDTH_INCHES = 15.0
DPI = 100
FONT = 7.5
MARK_FONT = FONT - 0.5
CHAR_EM = 0.7  # a capital letter's width, in ems (DejaVu Sans)
_HALO = [patheffects.withStroke(linewidth=2.2, foreground="white")]


def write_png(timeline: Timeline, path: str | Path) -> Path:
    """Draw `timeline` into `path` (a .png) and return the path."""
    figure = draw(timeline)
    target = Path(path)
    figure.savefig(target, dpi=DPI, format="png")
    return target


def draw(timeline: Timeline) -> Figure:
    boxes = layout.lane_boxes(timeline)
    lanes = boxes[-1].bottom if boxes else 0.0
    bands = layout.fold_bands(lanes, timeline.fold) if timeline.fold is not None else {}
    bottom = max([lanes, *(b for _, b in bands.values())]) + 0.3
    height = 1.9 + bottom * LANE_INCHES
    figure = Figure(figsize=(WIDTH_INCHES, height), dpi=DPI, layout="constrained")
    FigureCanvasAgg(figure)  # Agg: no display, no pyplot state
    ax = figure.add_subplot()
    ax.set_ylim(bottom, -0.9)
    first, last = timeline.first, timeline.last
    pad = (last - first) * 0.01
    ax.set_xlim(mdates.date2num(first - pad), mdates.date2num(last + pad))
    _frame(ax, timeline)
    for box in boxes[1::2]:
        ax.axhspan(box.top, box.bottom, color="#f5f6f8", zorder=0, lw=0)
    _spans(ax, timeline, boxes)
    rows: list[tuple[list[Mark], float, float | None]] = [
        (list(lane.marks), box.mark_y, box.label_y)
        for lane, box in zip(timeline.lanes, boxes, strict=True)
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
    ax.tick_params(axis="y", length=0)
    _titles(figure, ax, timeline)
    _legend(figure)
    # Mark labels are spaced by the plot's width in characters, known once laid out.
    engine = figure.get_layout_engine()
    if engine is not None:
        engine.execute(figure)
    width_chars = ax.get_window_extent().width / (MARK_FONT * DPI / 72 * CHAR_EM)
    for marks, y, label_y in rows:
        _marks(ax, timeline, marks, y, label_y, width_chars)
    return figure


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
    for lane, box in zip(timeline.lanes, boxes, strict=True):
        for span in lane.spans_of("replicating"):
            ax.annotate(
                f"replicating to {span.remote}",
                (mdates.date2num(span.start), box.label_y),
                xytext=(-3, 0),
                textcoords="offset points",
                fontsize=MARK_FONT,
                color=style.REPLICATION,
                va="center",
                path_effects=_HALO,
                zorder=5,
            )


def _marks(
    ax: Axes,
    timeline: Timeline,
    marks: list[Mark],
    y: float,
    label_y: float | None,
    width_chars: float,
) -> None:
    """Draw marks on a row at `y`; with `label_y`, label the errors there with their codes."""
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
    if label_y is None:
        return
    for label in layout.label_groups(marks, timeline.first, timeline.last, width_chars):
        ax.annotate(
            label.text,
            (mdates.date2num(label.time), label_y),
            xytext=(-3, 0),
            textcoords="offset points",
            fontsize=MARK_FONT,
            color=style.ERROR,
            va="center",
            path_effects=_HALO,
            zorder=7,
            annotation_clip=True,
            clip_on=True,
            in_layout=False,
        )


def _fold(
    ax: Axes,
    timeline: Timeline,
    fold: Fold,
    bands: dict[str, tuple[float, float]],
) -> tuple[list[float], list[str], list[tuple[list[Mark], float, float | None]]]:
    """The summary lanes of the folded subscribers; returns their y ticks and labels, and
    their rows of marks."""
    ticks: list[float] = []
    labels: list[str] = []
    x = mdates.date2num(list(fold.times)) if fold.times else np.array([])
    for name in ("connected", "watching", "marks"):
        top, bottom = bands[name]
        ax.axhspan(top, bottom, color="#eef2f6", zorder=0, lw=0)
    top, bottom = bands["connected"]
    peak = max(fold.peak_connected, 1)
    scale = (bottom - top) * 0.9 / peak
    if len(x):
        ax.fill_between(
            x,
            bottom,
            bottom - np.array(fold.connected) * scale,
            step="post",
            color=style.FOLDED,
            alpha=0.55,
            lw=0,
            zorder=2,
        )
        at = fold.times[fold.connected.index(fold.peak_connected)]
        late = at > timeline.first + (timeline.last - timeline.first) * 0.7
        ax.annotate(
            f"peak {fold.peak_connected:,} connected at {at:%H:%M:%S}",
            (mdates.date2num(at), bottom - fold.peak_connected * scale),
            xytext=(-4 if late else 4, 2),
            textcoords="offset points",
            ha="right" if late else "left",
            fontsize=FONT - 0.5,
            color=style.FOLDED,
            va="bottom",
            path_effects=_HALO,
            zorder=7,
        )
    ticks.append((top + bottom) / 2)
    labels.append(f"{words.folded_subscribers(fold.participants)} folded:\nconnected")

    top, bottom = bands["watching"]
    order = [p for p in timeline.publishers if p in fold.watching]
    order += sorted(p for p in fold.watching if p not in timeline.publishers)
    if len(x) and order:
        stacked = np.cumsum([np.array(fold.watching[p]) for p in order], axis=0)
        scale = (bottom - top) * 0.9 / max(int(stacked[-1].max()), 1)
        below = np.zeros(len(x))
        for pid, level in zip(order, stacked, strict=True):
            index = timeline.publisher_index.get(pid)
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
    rows: list[tuple[list[Mark], float, float | None]] = []
    for index, (kind, code) in enumerate(layout.fold_rows(fold)):
        y = top + layout.FOLD_ROW * (index + 0.5)
        rows.append(([m for m in fold.marks if (m.kind, m.error_code) == (kind, code)], y, None))
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
