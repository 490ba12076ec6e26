"""What the picture's things look like, the same in the PNG and the HTML: colours, marker
shapes and the legend's words."""

from __future__ import annotations

from dataclasses import dataclass

# Publishers' colours (their publishing spans, and the subscriptions to them); no red (errors)
# and no grey (connected), so neither is mistaken for a publisher.
PALETTE = (
    "#1f77b4", "#ff7f0e", "#2ca02c", "#9467bd", "#8c564b", "#e377c2", "#bcbd22", "#17becf",
    "#393b79", "#637939", "#8c6d31", "#7b4173", "#6baed6", "#fd8d3c", "#74c476", "#9e9ac8",
)  # fmt: skip
UNKNOWN_PUBLISHER = "#7f7f7f"
CONNECTED = "#cfd5de"
CONNECTED_EDGE = "#9aa3b0"
REPLICATION = "#6a3d9a"
ERROR = "#d62728"
TOKEN = "#222222"
OTHER = "#7f7f7f"
FOLDED = "#5b7083"
CHOSEN = "#fff3c4"  # behind the lane of the participant asked for
TEXT = "#222222"
MUTED = "#666666"
GRID = "#e6e6e6"

# event name -> marker: matplotlib's name and the SVG shape drawn for it
MARKERS = {
    "JOIN_ERROR": "X",
    "PUBLISH_ERROR": "v",
    "SUBSCRIBE_ERROR": "D",
    "TOKEN_EXCHANGED": "|",
}
OTHER_MARKER = "o"


def publisher_colour(index: int | None) -> str:
    return UNKNOWN_PUBLISHER if index is None else PALETTE[index % len(PALETTE)]


def marker(kind: str) -> str:
    return MARKERS.get(kind, OTHER_MARKER)


def mark_colour(kind: str, is_error: bool) -> str:
    if is_error:
        return ERROR
    return TOKEN if kind == "TOKEN_EXCHANGED" else OTHER


@dataclass(frozen=True)
class LegendEntry:
    key: str  # connected | publishing | subscribed | replicating | <event name>
    text: str


LEGEND = (
    LegendEntry("connected", "connected (JOINED … LEFT)"),
    LegendEntry("publishing", "publishing, in the publisher's colour"),
    LegendEntry("subscribed", "subscribed to a publisher (thin rows, its colour)"),
    LegendEntry("replicating", "replicating to another stage"),
    LegendEntry("JOIN_ERROR", "JOIN_ERROR"),
    LegendEntry("PUBLISH_ERROR", "PUBLISH_ERROR"),
    LegendEntry("SUBSCRIBE_ERROR", "SUBSCRIBE_ERROR"),
    LegendEntry("TOKEN_EXCHANGED", "token exchanged"),
)
