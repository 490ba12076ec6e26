"""A picture of one stage session (`ivs-archive timeline`): one lane per participant in order
of first join, with when it was connected, published, subscribed to whom, replicated, and its
errors with their codes; never more lanes than a limit: past it, the subscribers who never
published and, if need be, the least active publishers are folded into summary lanes (one
participant asked for keeps its lane). As a PNG (matplotlib) or a self-contained HTML page
(inline SVG).

    rows = load_local_session(directory, session_id)   # or another source's SessionRows
    timeline = build_timeline(rows.session, rows.participants, rows.events)
    write(timeline, "session.png")                     # or "session.html"

Errors are `TimelineError`s whose message is one line.
"""

from __future__ import annotations

from pathlib import Path

from console.timeline.build import FOLD_LIMIT, build_timeline
from console.timeline.errors import (
    ArchiveUnreadable,
    BadRows,
    ParticipantNotFound,
    SessionNotFound,
    TimelineError,
)
from console.timeline.html import write_html
from console.timeline.model import Timeline
from console.timeline.png import write_png
from console.timeline.rows import SessionRows
from console.timeline.source import load_local_session

__all__ = [
    "FOLD_LIMIT",
    "ArchiveUnreadable",
    "BadRows",
    "ParticipantNotFound",
    "SessionNotFound",
    "SessionRows",
    "Timeline",
    "TimelineError",
    "build_timeline",
    "load_local_session",
    "timeline_of",
    "write",
    "write_html",
    "write_png",
]

WRITERS = {".png": write_png, ".html": write_html, ".htm": write_html}


def timeline_of(
    rows: SessionRows, *, fold_limit: int = FOLD_LIMIT, participant: str | None = None
) -> Timeline:
    return build_timeline(
        rows.session,
        rows.participants,
        rows.events,
        fold_limit=fold_limit,
        participant=participant,
    )


def write(timeline: Timeline, path: str | Path) -> Path:
    """Write the picture as a PNG or an HTML page, chosen by `path`'s suffix."""
    target = Path(path)
    writer = WRITERS.get(target.suffix.lower())
    if writer is None:
        raise TimelineError(f"--out {target}: the file name must end in .png or .html")
    if not target.parent.is_dir():
        raise TimelineError(f"--out {target}: no folder {target.parent}")
    return writer(timeline, target)
