"""The timeline as one self-contained HTML page: inline CSS and SVG, no script, nothing from
another host. Hovering a bar, a mark, a label or a lane's name shows its details (SVG <title>),
with participant ids whole where the picture shortens them; the errors and every folded
participant are also listed in tables below the picture."""

from __future__ import annotations

from collections import Counter, defaultdict
from collections.abc import Iterator
from datetime import timedelta
from html import escape
from pathlib import Path

from console.timeline import layout, style, words
from console.timeline.model import Fold, Lane, Mark, Timeline
from console.timeline.svg import Scale, attrs, columns, marker, text_width, title
from console.timeline.words import DASH, TIMES

LEFT = 290  # the lane labels' column
PLOT = 1080
RIGHT = 30
TOP = 50
BOTTOM = 44
LANE = 26  # pixels per lane
FONT = 11
HOVER_STEP = 8  # pixels per hover column of the folded summary
HALO = 3  # the .label style's white outline (stroke-width), both sides together
LABEL_PAD = 4  # pixels between a label and the next, and from a label's start to its mark
MAX_TABLE_ROWS = 2000

CSS = """
body { font: 13px/1.4 system-ui, -apple-system, "Segoe UI", Roboto, Helvetica, Arial, sans-serif;
       color: #222; margin: 16px 20px; background: #fff; }
h1 { font-size: 18px; margin: 0 0 2px; }
h2 { font-size: 15px; margin: 22px 0 6px; }
p { margin: 2px 0; }
.sub { color: #444; }
.fold { color: #5b7083; font-weight: 600; }
.hint { color: #666; font-size: 12px; margin-top: 4px; }
.legend { display: flex; flex-wrap: wrap; gap: 4px 18px; margin: 10px 0 6px; font-size: 12px; }
.legend span { display: inline-flex; align-items: center; gap: 6px; }
.chart { overflow-x: auto; }
svg { font-family: inherit; }
svg text { font-size: 11px; }
svg .tick { fill: #555; }
svg .name { fill: #222; }
svg .muted { fill: #666; }
svg .label { paint-order: stroke; stroke: #fff; stroke-width: 3px; stroke-linejoin: round; }
svg .err { fill: #d62728; }
svg .row { fill: #eef0f4; fill-opacity: 0.65; }
svg .row.odd { fill-opacity: 0; }
svg .row.chosen { fill: #fff3c4; fill-opacity: 1; }
svg .chosen-name { font-weight: 700; }
svg .lane:hover .row, svg .hover:hover { fill: #fff3c4; fill-opacity: 0.65; }
svg .hover { fill: #fff; fill-opacity: 0; }
svg .span:hover, svg .mark:hover { stroke: #000; stroke-width: 1px; }
table { border-collapse: collapse; font-size: 12px; }
th, td { text-align: left; padding: 2px 10px 2px 0; border-bottom: 1px solid #eee; }
th { border-bottom: 1px solid #ccc; }
td.code { color: #d62728; }
summary { cursor: pointer; font-weight: 600; margin-top: 18px; }
"""


def write_html(timeline: Timeline, path: str | Path) -> Path:
    """Write `timeline` as an HTML page to `path` and return the path."""
    target = Path(path)
    target.write_text(page(timeline), encoding="utf-8")
    return target


def page(timeline: Timeline) -> str:
    head = escape(words.title(timeline))
    parts = [
        "<!doctype html>",
        '<html lang="en"><head><meta charset="utf-8">',
        '<meta name="viewport" content="width=device-width, initial-scale=1">',
        f"<title>Timeline · {head}</title>",
        f"<style>{CSS}</style></head><body>",
        f"<header><h1>{head}</h1>",
        f'<p class="sub">{escape(words.subtitle(timeline))}</p>',
    ]
    if timeline.fold is not None:
        parts.append(f'<p class="fold">{escape(words.fold_note(timeline))}</p>')
    parts += ["</header>", _legend(), '<div class="chart">', chart(timeline), "</div>"]
    parts.append(
        '<p class="hint">Hover over a bar, a mark or a participant for details. Times are UTC.</p>'
    )
    parts += list(_error_table(timeline))
    if timeline.fold is not None:
        parts += list(_folded_table(timeline, timeline.fold))
    parts.append("</body></html>\n")
    return "\n".join(parts)


def chart(timeline: Timeline) -> str:
    """The SVG picture."""
    boxes = layout.lane_boxes(timeline)
    lanes = boxes[-1].bottom if boxes else 0.0
    bands = layout.fold_bands(lanes, timeline.fold) if timeline.fold is not None else {}
    units = max([lanes, *(b for _, b in bands.values())]) + 0.3
    height = TOP + units * LANE + BOTTOM
    width = LEFT + PLOT + RIGHT
    first, last = layout.plot_range(timeline)
    scale = Scale(first, last, LEFT, PLOT)
    out = [
        f"<svg{attrs(width=width, height=f'{height:.0f}')}"
        f' viewBox="0 0 {width} {height:.0f}" role="img">',
        title(f"{words.title(timeline)}: {words.subtitle(timeline)}"),
    ]
    out += _axis(timeline, scale, height)
    labels: dict[str, list[layout.Label]] = defaultdict(list)
    for label in layout.labels(timeline, boxes, measure()):
        labels[label.participant_id].append(label)
    for row, (lane, box) in enumerate(zip(timeline.lanes, boxes, strict=True)):
        out += _lane(timeline, scale, row, lane, box, labels[lane.participant_id])
    if timeline.fold is not None:
        out += _fold(timeline, timeline.fold, scale, bands)
    out.append("</svg>")
    return "\n".join(out)


def measure() -> layout.Measure:
    """Label widths as the page draws them: `text_width` (exactly: textLength), with the halo
    of the .label style (3px), over the plot's width."""
    return layout.Measure(lambda text: (text_width(text, FONT) + HALO) / PLOT, LABEL_PAD / PLOT)


def _y(units: float) -> float:
    return TOP + units * LANE


def _axis(timeline: Timeline, scale: Scale, height: float) -> list[str]:
    out = []
    bottom = height - BOTTOM
    for x, text in scale.ticks():
        out.append(f'<path d="M{x:.1f},{TOP - 14}V{bottom:.1f}" stroke="{style.GRID}"/>')
        out.append(f'<text class="tick"{attrs(x=f"{x:.1f}", y=TOP - 18)} text-anchor="middle">')
        out[-1] += f"{text}</text>"
        out.append(f'<text class="tick"{attrs(x=f"{x:.1f}", y=f"{bottom + 16:.1f}")}')
        out[-1] += f' text-anchor="middle">{text}</text>'
    for moment, name in ((timeline.start, "start"), (timeline.end, "end")):
        x = scale.x(moment)
        out.append(
            f'<path d="M{x:.1f},{TOP - 10}V{bottom:.1f}" stroke="{style.MUTED}" '
            f'stroke-dasharray="4 3">{title(f"session {name}: {words.stamp(moment)} UTC")}</path>'
        )
        anchor = "start" if name == "start" else "end"
        dx = 4 if name == "start" else -4
        out.append(
            f'<text class="muted"{attrs(x=f"{x + dx:.1f}", y=TOP - 2)} text-anchor="{anchor}">'
            f"{name} {moment:%H:%M:%S}</text>"
        )
    out.append(
        f'<text class="muted"{attrs(x=LEFT + PLOT / 2, y=f"{bottom + 34:.1f}")}'
        f' text-anchor="middle">time (UTC), {timeline.start:%Y-%m-%d}</text>'
    )
    return out


def _lane(
    timeline: Timeline,
    scale: Scale,
    row: int,
    lane: Lane,
    box: layout.LaneBox,
    labels: list[layout.Label],
) -> list[str]:
    top = _y(box.body)
    colour = style.TEXT
    if lane.role != "subscriber":
        colour = style.publisher_colour(timeline.publisher_index[lane.participant_id])
    chosen = lane.participant_id == timeline.participant
    shade = " chosen" if chosen else "" if row % 2 else " odd"
    name_class = ' class="chosen-name"' if chosen else ""
    out = [
        f'<g class="lane" id="p-{escape(lane.participant_id)}">',
        f'<rect class="row{shade}"'
        f"{attrs(x=0, y=f'{_y(box.top):.1f}', width=LEFT + PLOT)}"
        f"{attrs(height=f'{(box.bottom - box.top) * LANE:.1f}')}/>",
        f"<text{name_class}"
        f'{attrs(x=LEFT - 8, y=f"{top + LANE * 0.62:.1f}", fill=colour)} text-anchor="end">'
        f"{escape(words.lane_label(lane))}{title(chr(10).join(words.lane_details(lane)))}</text>",
    ]
    for span in lane.spans:
        x0, x1 = scale.x(span.start), scale.x(span.end)
        w = max(x1 - x0, 1.0)
        if span.kind == "connected":
            low, high = layout.BAR
            fill, extra = style.CONNECTED, f' stroke="{style.CONNECTED_EDGE}" stroke-width="0.6"'
        elif span.kind == "publishing":
            low, high = layout.PUBLISHING
            fill, extra = colour, ""
        elif span.kind == "replicating":
            low, high = layout.REPLICATION
            fill, extra = style.REPLICATION, ""
        else:
            low, high, index = layout.subscription_row(timeline, span.remote)
            fill, extra = style.publisher_colour(index), ""
        y0, y1 = top + low * LANE, top + high * LANE
        out.append(
            f'<rect class="span"{attrs(x=f"{x0:.1f}", y=f"{y0:.1f}", width=f"{w:.1f}")}'
            f"{attrs(height=f'{max(y1 - y0, 0.8):.1f}', fill=fill)}{extra}>"
            f"{title(words.span_details(timeline, lane, span))}</rect>"
        )
    out += _marks(timeline, scale, list(lane.marks), _y(box.mark_y))
    out += [_label(timeline, lane, label) for label in labels]
    out.append("</g>")
    return out


def _label(timeline: Timeline, lane: Lane, label: layout.Label) -> str:
    """A label drawn as wide as laid out (textLength: the browser spaces its letters to fill
    that width), its details on hover."""
    if label.kind == "errors":
        tips = [words.mark_details(timeline, m) for m in label.marks]
        css = "label err"
    else:
        tips = [words.span_details(timeline, lane, s) for s in label.spans]
        css = "label"
    tip = "\n".join(tips[:40]) + (f"\n… {len(tips) - 40} more" if len(tips) > 40 else "")
    fill = "" if label.kind == "errors" else f' fill="{style.REPLICATION}"'
    where = attrs(x=f"{LEFT + (label.left * PLOT) + HALO / 2:.1f}", y=f"{_y(label.y) + 4:.1f}")
    length = attrs(textLength=f"{text_width(label.text, FONT):.1f}")
    return f'<text class="{css}"{where}{length}{fill}>{escape(label.text)}{title(tip)}</text>'


def _marks(timeline: Timeline, scale: Scale, marks: list[Mark], y: float) -> list[str]:
    """Marks on a row at `y`, each with its details on hover."""
    out = []
    for mark in marks:
        shape = style.marker(mark.kind)
        size = 12 if shape == "|" else 9
        colour = style.mark_colour(mark.kind, mark.is_error)
        out.append(
            marker(shape, scale.x(mark.time), y, size, colour, words.mark_details(timeline, mark))
        )
    return out


def _fold(
    timeline: Timeline,
    fold: Fold,
    scale: Scale,
    bands: dict[str, tuple[float, float]],
) -> list[str]:
    out = ['<g class="folded">']
    for top, bottom in bands.values():
        out.append(
            f"<rect{attrs(x=LEFT, y=f'{_y(top):.1f}', width=PLOT)}"
            f'{attrs(height=f"{(bottom - top) * LANE:.1f}")} fill="#eef2f6"/>'
        )
    stacks = layout.watching_stacks(timeline, fold)
    totals = [
        sum(level[i] for _, level in stacks) + fold.connected[i] for i in range(len(fold.times))
    ]
    cols = columns(fold.times, totals, scale, 2.0)

    who = words.folded_who(fold)
    for name, steps, peak, what, colour in (
        ("connected", fold.connected, fold.peak_connected, "connected", style.FOLDED),
        ("publishing", fold.publishing, fold.peak_publishing, "publishing", style.OTHER),
    ):
        if name not in bands:
            continue
        top, bottom = bands[name]
        level = [0 if i is None else steps[i] for _, i in cols]
        tip = f"folded participants {what} (peak {peak:,})"
        out.append(_area(cols, level, [0] * len(cols), (_y(top), _y(bottom)), peak, colour, tip))
        if fold.times and peak:
            at = fold.times[steps.index(peak)]
            x = scale.x(at)
            late = x > scale.left + scale.width * 0.7
            where = attrs(x=f"{x - 4 if late else x + 4:.1f}", y=f"{_y(top) + 10:.1f}")
            out.append(
                f'<text class="label muted"{where} text-anchor="{"end" if late else "start"}">'
                f"peak {peak:,} {what} at {at:%H:%M:%S}</text>"
            )
        if name == "connected":
            out += _band_label((top + bottom) / 2, f"{who} folded:", "connected")
        else:
            folded = f"{words.folded_publishers(fold.publishers)} folded:"
            out += _band_label((top + bottom) / 2, folded, "publishing")

    top, bottom = bands["watching"]
    below = [0] * len(cols)
    stacked_peak = max(
        (sum(level[i] for _, level in stacks) for _, i in cols if i is not None), default=0
    )
    for pid, steps in stacks:
        level = [b + (0 if i is None else steps[i]) for b, (_, i) in zip(below, cols, strict=True)]
        index = None if pid is None else timeline.publisher_index.get(pid)
        colour = style.publisher_colour(index)
        tip = f"folded participants watching {_watched(timeline, pid)}"
        out.append(_area(cols, level, below, (_y(top), _y(bottom)), stacked_peak, colour, tip))
        below = level
    out.append(
        f'<text class="muted"{attrs(x=LEFT + 4, y=f"{_y(top) + 11:.1f}")}>'
        f"peak {stacked_peak:,} subscriptions</text>"
    )
    out += _band_label((top + bottom) / 2, "subscriptions", "by publisher")
    out += _hover_columns(timeline, fold, stacks, scale, bands)

    top, _ = bands["marks"]
    counts = Counter((m.kind, m.error_code) for m in fold.marks)
    for index, (kind, code) in enumerate(layout.fold_rows(fold)):
        y = top + layout.FOLD_ROW * (index + 0.5)
        marks = [m for m in fold.marks if (m.kind, m.error_code) == (kind, code)]
        out += _marks(timeline, scale, marks, _y(y))
        out += _band_label(y, layout.fold_row_label(kind, code, counts[kind, code]))
    if not counts:
        out += _band_label(top + layout.FOLD_ROW / 2, "no errors or token exchanges")
    out.append("</g>")
    return out


def _watched(timeline: Timeline, pid: str | None) -> str:
    return "folded publishers (and others)" if pid is None else timeline.describe(pid)


def _area(
    cols: list[tuple[float, int | None]],
    level: list[int],
    base: list[int],
    band: tuple[float, float],
    peak: int,
    colour: str,
    tip: str,
) -> str:
    """A step area between `base` and `level` (per column), scaled so `peak` fills the band
    (top, bottom in pixels) but for the room of the words on its peak."""
    top, bottom = band
    scale = (bottom - top - layout.FOLD_TEXT * LANE) / max(peak, 1)
    if not cols:
        return ""
    step = cols[1][0] - cols[0][0] if len(cols) > 1 else 1.0
    upper = []
    for (x, _), value in zip(cols, level, strict=True):
        y = bottom - value * scale
        upper.append(f"L{x:.1f},{y:.1f}L{x + step:.1f},{y:.1f}")
    lower = []
    for (x, _), value in reversed(list(zip(cols, base, strict=True))):
        y = bottom - value * scale
        lower.append(f"L{x + step:.1f},{y:.1f}L{x:.1f},{y:.1f}")
    start = f"M{cols[0][0]:.1f},{bottom - base[0] * scale:.1f}"
    path = f"{start}{''.join(upper)}{''.join(lower)}Z"
    return f"<path{attrs(d=path, fill=colour, opacity=0.8)}>{title(tip)}</path>"


def _hover_columns(
    timeline: Timeline,
    fold: Fold,
    stacks: list[tuple[str | None, tuple[int, ...]]],
    scale: Scale,
    bands: dict[str, tuple[float, float]],
) -> Iterator[str]:
    """Invisible columns over the count bands whose hover says the counts there."""
    top, bottom = bands["connected"][0], bands["watching"][1]
    totals = list(fold.connected)
    per_px = timedelta(seconds=scale.seconds / scale.width)
    for x, index in columns(fold.times, totals, scale, HOVER_STEP):
        if index is None:
            continue
        begin = scale.first + (x - scale.left) * per_px
        end = begin + HOVER_STEP * per_px
        watching = sorted(
            ((level[index], pid or "") for pid, level in stacks if level[index]), reverse=True
        )
        lines = [
            f"{words.clock(begin)[:8]} {DASH} {words.clock(end)[:8]}: "
            f"up to {fold.connected[index]:,} of {fold.participants:,} folded participants"
            " connected"
        ]
        if fold.publishers:
            lines.append(f"  publishing: {fold.publishing[index]:,} of {fold.publishers:,}")
        lines += [f"  watching {_watched(timeline, p or None)}: {n:,}" for n, p in watching]
        yield (
            f'<rect class="hover"{attrs(x=f"{x:.1f}", y=f"{_y(top):.1f}", width=HOVER_STEP)}'
            f"{attrs(height=f'{(bottom - top) * LANE:.1f}')}>{title(chr(10).join(lines))}</rect>"
        )


def _band_label(units: float, *lines: str) -> list[str]:
    y = _y(units) + 4 - (len(lines) - 1) * 7
    out = [f'<text{attrs(x=LEFT - 8, y=f"{y:.1f}", fill=style.FOLDED)} text-anchor="end">']
    for index, line in enumerate(lines):
        dy = 0 if index == 0 else 14
        out[0] += f"<tspan{attrs(x=LEFT - 8, dy=dy)}>{escape(line)}</tspan>"
    out[0] += "</text>"
    return out


def _legend() -> str:
    items = []
    for entry in style.LEGEND:
        if entry.key == "connected":
            icon = (
                f'<rect x="1" y="4" width="22" height="8" fill="{style.CONNECTED}" '
                f'stroke="{style.CONNECTED_EDGE}"/>'
            )
        elif entry.key == "publishing":
            icon = "".join(
                f'<rect x="{1 + 5.5 * i}" y="4" width="5.5" height="8" fill="{c}"/>'
                for i, c in enumerate(style.PALETTE[:4])
            )
        elif entry.key == "subscribed":
            icon = "".join(
                f'<rect x="1" y="{3 + 3 * i}" width="22" height="2" fill="{c}"/>'
                for i, c in enumerate(style.PALETTE[:4])
            )
        elif entry.key == "replicating":
            icon = f'<rect x="1" y="6" width="22" height="3" fill="{style.REPLICATION}"/>'
        else:
            colour = style.mark_colour(entry.key, entry.key.endswith("_ERROR"))
            size = 12 if style.marker(entry.key) == "|" else 9
            icon = marker(style.marker(entry.key), 12, 8, size, colour, entry.text)
        items.append(
            f'<span><svg width="24" height="16" aria-hidden="true">{icon}</svg>'
            f"{escape(entry.text)}</span>"
        )
    return f'<div class="legend">{"".join(items)}</div>'


def _error_table(timeline: Timeline) -> Iterator[str]:
    errors = [m for lane in timeline.lanes for m in lane.errors]
    if timeline.fold is not None:
        errors += timeline.fold.errors
    errors.sort(key=lambda m: (m.time, m.participant_id))
    counts = Counter(m.error_code or m.kind for m in errors)
    yield f"<h2>Errors ({len(errors):,})</h2>"
    if not errors:
        yield "<p>None.</p>"
        return
    summary = ", ".join(f"{code} {TIMES}{n}" for code, n in counts.most_common())
    yield f"<p>{escape(summary)}</p>"
    yield (
        "<table><tr><th>time (UTC)</th><th>user id</th><th>participant</th><th>event</th>"
        "<th>error code</th><th>publisher</th></tr>"
    )
    for mark in errors[:MAX_TABLE_ROWS]:
        remote = timeline.describe(mark.remote) if mark.remote else ""
        cells = [
            words.clock(mark.time),
            timeline.user_ids.get(mark.participant_id, ""),
            mark.participant_id,
            mark.kind,
        ]
        yield (
            "<tr>"
            + "".join(f"<td>{escape(c)}</td>" for c in cells)
            + f'<td class="code">{escape(mark.error_code or "")}</td><td>{escape(remote)}</td></tr>'
        )
    yield "</table>"
    if len(errors) > MAX_TABLE_ROWS:
        yield f"<p>… and {len(errors) - MAX_TABLE_ROWS:,} more.</p>"


def _folded_table(timeline: Timeline, fold: Fold) -> Iterator[str]:
    """Every folded participant (no limit: the page names every participant whole)."""
    yield f"<details><summary>Folded: {words.folded_who(fold)}</summary>"
    yield (
        "<table><tr><th>user id</th><th>participant</th><th>role</th><th>first join</th>"
        "<th>connected</th><th>publishing</th><th>subscriptions</th><th>errors</th></tr>"
    )
    for lane in fold.lanes:
        connected = sum((s.end - s.start for s in lane.spans_of("connected")), timedelta())
        publishing = sum((s.end - s.start for s in lane.spans_of("publishing")), timedelta())
        errors = ", ".join(m.error_code or m.kind for m in lane.errors)
        cells = [
            lane.user_id,
            lane.participant_id,
            lane.role,
            words.clock(lane.first_join) if lane.first_join else "",
            words.duration(connected),
            words.duration(publishing) if publishing else "",
            str(len(lane.spans_of("subscribed"))),
        ]
        yield (
            f'<tr id="f-{escape(lane.participant_id)}">'
            + "".join(f"<td>{escape(c)}</td>" for c in cells)
            + f'<td class="code">{escape(errors)}</td></tr>'
        )
    yield "</table>"
    yield "</details>"
