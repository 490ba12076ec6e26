"""SVG drawing for the HTML page: a time scale with round ticks, marker shapes, text widths,
and step functions thinned to the plot's pixel columns."""

from __future__ import annotations

from bisect import bisect_right
from collections.abc import Sequence
from dataclasses import dataclass
from datetime import datetime, timedelta
from html import escape

_STEPS = (1, 2, 5, 10, 15, 30, 60, 120, 300, 600, 900, 1800, 3600, 7200, 10800, 21600, 43200)


@dataclass(frozen=True)
class Scale:
    """Time to x pixels: `first`..`last` onto `left`..`left + width`."""

    first: datetime
    last: datetime
    left: float
    width: float

    @property
    def seconds(self) -> float:
        return max((self.last - self.first).total_seconds(), 1e-3)

    def x(self, moment: datetime) -> float:
        return self.left + (moment - self.first).total_seconds() / self.seconds * self.width

    def ticks(self, most: int = 12) -> list[tuple[float, str]]:
        """Round UTC times within the range, at most `most`, as (x, HH:MM or HH:MM:SS)."""
        step = next((s for s in _STEPS if self.seconds / s <= most), 86400)
        midnight = self.first.replace(hour=0, minute=0, second=0, microsecond=0)
        offset = (self.first - midnight).total_seconds()
        moment = midnight + timedelta(seconds=-(-offset // step) * step)
        ticks = []
        while moment <= self.last:
            text = f"{moment:%H:%M}" if step >= 60 else f"{moment:%H:%M:%S}"
            if moment.time() == datetime.min.time() and step >= 3600:
                text = f"{moment:%b %d}"
            ticks.append((self.x(moment), text))
            moment += timedelta(seconds=step)
        return ticks


# Advance widths, in thousandths of an em, the wider of Helvetica's (and Arial's, metric-compatible:
# its font metrics, AFM) and DejaVu Sans' (the default sans-serif of many Linux desktops) for each
# character; characters not listed count as a whole em, so an estimate errs wide.
_WIDTHS = dict(
    zip(
        " !\"#$%&'()*+,-./0123456789:;<=>?@ABCDEFGHIJKLMNOPQRSTUVWXYZ[\\]^_`"
        "abcdefghijklmnopqrstuvwxyz{|}~\u00d7\u2026\u00b7",
        (
            318, 401, 460, 838, 636, 950, 780, 275, 390, 390, 500, 838, 318, 361, 318, 337,
            636, 636, 636, 636, 636, 636, 636, 636, 636, 636, 337, 337, 838, 838, 838, 556,
            1015, 684, 686, 722, 770, 667, 611, 778, 752, 295, 500, 667, 557, 863, 748, 787,
            667, 787, 722, 667, 611, 732, 684, 989, 685, 667, 685, 390, 337, 390, 838, 556,
            500, 613, 635, 550, 635, 615, 352, 635, 634, 278, 278, 579, 278, 974, 634, 612,
            635, 635, 411, 521, 392, 634, 592, 818, 592, 592, 525, 636, 337, 636, 838, 838,
            1000, 318,
        ),
        strict=True,
    )
)  # fmt: skip


def text_width(text: str, size: float) -> float:
    """How wide `text` is at font size `size` (pixels), at most: a label is laid out this
    wide, and drawn so (SVG textLength spaces its letters to fill it), whatever font the
    browser picks."""
    return sum(_WIDTHS.get(char, 1000) for char in text) * size / 1000


def attrs(**values: object) -> str:
    """` a="1" b="x"` (underscores in names become dashes; None is left out)."""
    return "".join(
        f' {name.rstrip("_").replace("_", "-")}="{escape(str(value))}"'
        for name, value in values.items()
        if value is not None
    )


def title(text: str) -> str:
    return f"<title>{escape(text)}</title>"


def marker(shape: str, x: float, y: float, size: float, colour: str, tip: str) -> str:
    """The SVG for one of style.MARKERS' shapes (matplotlib names), centred on (x, y)."""
    r = size / 2
    if shape == "X":
        d = f"M{x - r:.1f},{y - r:.1f}l{size:.1f},{size:.1f}m0,{-size:.1f}l{-size:.1f},{size:.1f}"
        tag, more = "path", attrs(d=d, stroke=colour, stroke_width=2.4)
    elif shape == "v":
        points = f"{x - r:.1f},{y - r:.1f} {x + r:.1f},{y - r:.1f} {x:.1f},{y + r:.1f}"
        tag, more = "polygon", attrs(points=points, fill=colour)
    elif shape == "D":
        points = f"{x:.1f},{y - r:.1f} {x + r:.1f},{y:.1f} {x:.1f},{y + r:.1f} {x - r:.1f},{y:.1f}"
        tag, more = "polygon", attrs(points=points, fill=colour)
    elif shape == "|":
        d = f"M{x:.1f},{y - r:.1f}v{size:.1f}"
        tag, more = "path", attrs(d=d, stroke=colour, stroke_width=1.6)
    else:
        tag, more = "circle", attrs(cx=f"{x:.1f}", cy=f"{y:.1f}", r=f"{r * 0.7:.1f}", fill=colour)
    return f'<{tag} class="mark"{more}>{title(tip)}</{tag}>'


def columns(
    times: Sequence[datetime], totals: Sequence[int], scale: Scale, step: float
) -> list[tuple[float, int | None]]:
    """For every `step` pixels of the plot, (x, index of the grid point to show): of the values
    holding within that column, the one with the highest total (so peaks stay visible);
    None where no grid value holds yet."""
    result: list[tuple[float, int | None]] = []
    per_px = timedelta(seconds=scale.seconds / scale.width)
    x = scale.left
    while x < scale.left + scale.width:
        begin = scale.first + (x - scale.left) * per_px
        low = max(bisect_right(times, begin) - 1, 0)
        high = bisect_right(times, begin + step * per_px)
        candidates = range(low, high)
        best = max(candidates, key=totals.__getitem__) if candidates else None
        result.append((x, best))
        x += step
    return result
