"""The picture of a busy session (issue 16): never more lanes than the limit whatever the
session (past it the least active publishers fold too), `--participant ID` keeps one
participant's lane, no two labels drawn over each other, and every participant id whole in the
HTML. The session: 205 participants of whom 192 publish, with errors of many codes."""

from __future__ import annotations

import json
import random
import re
import xml.etree.ElementTree as ET
from collections import Counter, defaultdict
from datetime import datetime, timedelta
from itertools import combinations
from pathlib import Path
from typing import Any

import pyarrow as pa
import pyarrow.parquet as pq
import pytest
from matplotlib.text import Annotation

from archiver.schema import PARTICIPANT_EVENTS, PARTICIPANTS, STAGE_SESSIONS
from console.timeline import (
    FOLD_LIMIT,
    ParticipantNotFound,
    html,
    layout,
    png,
    svg,
    words,
    write_html,
    write_png,
)
from console.timeline.model import Timeline
from tests.helpers.console import Capture, one_error, run
from tests.helpers.timeline import (
    STAGE,
    T0,
    Rows,
    assert_offline,
    at,
    crowd,
    holding,
    known_session,
    one_line,
    parse,
    png_size,
    step_value,
)

BUSY = "st-BusySession01"
TIMES_OR_MORE = re.compile(rf"{words.TIMES}\d|\+\d+ more")  # a label of several marks
CODES = (
    "PUBLISHER_NOT_FOUND",
    "INSUFFICIENT_CAPABILITIES",
    "QUOTA_EXCEEDED",
    "BITRATE_EXCEEDED",
    "RESOLUTION_EXCEEDED",
    "INTERNAL_SERVER_EXCEPTION",
    "B_FRAME_PRESENT",
    "INVALID_VIDEO_CODEC",
)


def busy_session(seed: int = 16) -> Rows:
    """205 participants, 192 of them publishing (`crowd`), each publisher with up to 8 errors
    of mixed codes, a host replicating to another stage with an error just after it starts,
    and errors at the very end of the session (labels that reach the plot's right edge)."""
    rows = crowd(192, 13, seed=seed, session=BUSY)
    rng = random.Random(seed)
    publishers = sorted(p["participant_id"] for p in rows.participants if p["published"])
    for pid in publishers:
        for _ in range(rng.randint(0, 8)):
            kind = rng.choice(["PUBLISH_ERROR", "SUBSCRIBE_ERROR"])
            remote = rng.choice(publishers) if kind == "SUBSCRIBE_ERROR" else None
            when = rng.uniform(600, 5400)
            rows.event(pid, kind, when, error_code=rng.choice(CODES), remote_participant_id=remote)
    busiest = sorted(publishers, key=lambda pid: -_seconds(rows, pid))
    host = busiest[0]  # among the lanes kept, as are the next three
    dest = {
        "destination_stage_arn": STAGE.replace("AbCdEf123456", "Dest00000001"),
        "destination_session_id": "st-Dest000000001",
    }
    rows.event(host, "REPLICATION_STARTED", 900, **dest)
    rows.event(host, "PUBLISH_ERROR", 905, error_code="BITRATE_EXCEEDED")
    rows.event(host, "REPLICATION_STOPPED", 7190, **dest)  # its label reaches the right edge
    for pid in busiest[1:4]:
        rows.event(pid, "PUBLISH_ERROR", 7199, error_code="RESOLUTION_EXCEEDED")
    rows.events.sort(key=lambda e: (e["participant_id"], e["event_time"], e["event_seq"]))
    seq: Counter[str] = Counter()
    for event in rows.events:
        event["event_seq"] = seq[event["participant_id"]]
        seq[event["participant_id"]] += 1
    return rows.finish()


@pytest.fixture(scope="module")
def busy() -> Rows:
    return busy_session()


def publishing(rows: Rows) -> dict[str, list[tuple[datetime, datetime]]]:
    """Each participant's publishing intervals, read straight from the events."""
    spans: dict[str, list[tuple[datetime, datetime]]] = defaultdict(list)
    since: dict[str, datetime] = {}
    for event in sorted(rows.events, key=lambda e: (e["participant_id"], e["event_seq"])):
        pid, name, when = event["participant_id"], event["event_name"], event["event_time"]
        if name == "PUBLISH_STARTED":
            since[pid] = when
        elif name in ("PUBLISH_STOPPED", "LEFT") and pid in since:
            spans[pid].append((since.pop(pid), when))
    return spans


def _seconds(rows: Rows, pid: str) -> float:
    return sum((end - start).total_seconds() for start, end in publishing(rows)[pid])


def most_active(rows: Rows, count: int) -> set[str]:
    """The `count` publishers with the most time publishing."""
    seconds = {
        pid: sum((end - start).total_seconds() for start, end in pairs)
        for pid, pairs in publishing(rows).items()
    }
    return set(sorted(seconds, key=seconds.__getitem__, reverse=True)[:count])


def kept(timeline: Timeline) -> set[str]:
    return {lane.participant_id for lane in timeline.lanes}


# --- the lane limit ------------------------------------------------------------------------------


def test_a_busy_session_has_no_more_lanes_than_the_limit(busy: Rows) -> None:
    timeline = busy.timeline()
    assert (timeline.participant_count, timeline.published) == (205, 192)
    assert len(timeline.lanes) == timeline.fold_limit == FOLD_LIMIT == 40
    fold = timeline.fold
    assert fold is not None
    assert (fold.participants, fold.publishers, fold.subscribers) == (165, 152, 13)
    # The 40 kept are the 40 who published longest, still in order of first join.
    assert kept(timeline) == most_active(busy, 40)
    joins = [lane.first_join for lane in timeline.lanes if lane.first_join is not None]
    assert len(joins) == 40 and joins == sorted(joins)
    assert {lane.participant_id for lane in fold.lanes}.isdisjoint(kept(timeline))
    # The folded publishers publishing, counted over time, against the rows.
    folded = [pair for lane in fold.lanes for pair in publishing(busy)[lane.participant_id]]
    for minute in range(0, 121, 5):
        moment = at(minute * 60 + 0.25)
        assert step_value(fold.times, fold.publishing, moment) == holding(folded, moment)
    assert fold.peak_publishing == max(holding(folded, t) for t in fold.times) > 0
    # What the header says.
    assert "205 participants (192 published)" in words.subtitle(timeline)
    assert words.fold_note(timeline) == (
        "The 152 least active publishers (least time publishing) and 13 subscribers who never "
        "published are folded into the summary lanes at the bottom (205 lanes would pass the "
        "limit of 40)"
    )


@pytest.mark.parametrize("limit", [1, 2, 12, 39, 191, 192, 193, 204, 205, 500])
def test_whatever_the_limit_the_lanes_keep_within_it_and_everyone_is_somewhere(
    busy: Rows, limit: int
) -> None:
    timeline = busy.timeline(fold_limit=limit)
    assert len(timeline.lanes) == (205 if limit >= 205 else min(limit, 192))
    folded = [] if timeline.fold is None else [lane.participant_id for lane in timeline.fold.lanes]
    everyone = [lane.participant_id for lane in timeline.lanes] + folded
    assert sorted(everyone) == sorted(p["participant_id"] for p in busy.participants)
    assert (timeline.fold is None) == (limit >= 205)
    assert timeline.published == 192
    if limit < 205:
        assert kept(timeline) == most_active(busy, min(limit, 192))


def test_the_png_of_a_busy_session_draws_at_most_the_limit_of_lanes(
    busy: Rows, tmp_path: Path
) -> None:
    timeline = busy.timeline()
    figure = png.draw(timeline)
    ticks = [tick.get_text() for tick in figure.axes[0].get_yticklabels()]
    lanes = [text for text in ticks if " · " in text]  # a lane's label: `user · id`
    assert lanes == [words.lane_label(lane) for lane in timeline.lanes]
    assert len(lanes) == 40
    assert "152 publishers, 13 subscribers folded:\nconnected" in ticks
    assert "152 publishers folded:\npublishing" in ticks
    width, height = png_size(write_png(timeline, tmp_path / "busy.png"))
    assert width == 1500 and height < 3000  # 192 lanes were 8,765 px high


def test_the_html_of_a_busy_session_has_at_most_the_limit_of_lanes_and_every_id_whole(
    busy: Rows, tmp_path: Path
) -> None:
    timeline = busy.timeline()
    assert timeline.fold is not None
    page = write_html(timeline, tmp_path / "busy.html").read_text(encoding="utf-8")
    assert_offline(page)
    assert page.count('<g class="lane"') == 40
    assert "Folded: 152 publishers, 13 subscribers</summary>" in page
    # Every participant by its whole id: its lane, or its row in the folded table.
    ids = {p["participant_id"] for p in busy.participants}
    elements = {str(a["id"]) for _, a in parse(page).tags if a.get("id")}
    assert {f"p-{lane.participant_id}" for lane in timeline.lanes} <= elements
    assert {f"f-{lane.participant_id}" for lane in timeline.fold.lanes} <= elements
    named = {e[2:] for e in elements if e[:2] in ("p-", "f-")}
    assert named == ids and len(named) == 205
    # A lane's name shows a shortened id; hovering it gives the whole one.
    picture = ET.fromstring(page[page.index("<svg") : page.index("</svg>") + len("</svg>")])
    for group in picture.iter("g"):
        if group.get("class") != "lane":
            continue
        pid = str(group.get("id")).removeprefix("p-")
        name = group.find("text")
        assert name is not None and name.text is not None
        assert pid not in name.text and pid[:6] in name.text
        hover = name.find("title")
        assert hover is not None and f"participant {pid} " in str(hover.text)
    # Hovering a mark names its participant and publisher by their whole ids.
    titles = parse(page).titles
    for lane in timeline.lanes:
        for mark in lane.errors:
            tip = words.mark_details(timeline, mark)
            assert tip in titles and f"({lane.participant_id})" in tip
            if mark.remote:
                assert f"({mark.remote})" in tip


def test_a_long_user_id_is_shortened_in_a_lanes_name_and_whole_on_hover(tmp_path: Path) -> None:
    rows = known_session()
    long_user = "someone.with.a.very.long.name@example-company.invalid"
    for row in rows.participants + rows.events:
        if row["participant_id"] == "mm-guest-001":
            row["user_id"] = long_user
    timeline = rows.timeline()
    guest = next(lane for lane in timeline.lanes if lane.participant_id == "mm-guest-001")
    label = words.lane_label(guest)
    assert label == f"{long_user[: words.USER_CHARS - 1]}{words.ELLIPSIS} · mm-gue"
    page = write_html(timeline, tmp_path / "t.html").read_text(encoding="utf-8")
    tip = next(t for t in parse(page).titles if t.startswith(long_user))
    assert tip.startswith(f"{long_user} — participant mm-guest-001 (publisher)")


# --- one participant -----------------------------------------------------------------------------


def test_a_participant_asked_for_keeps_its_lane_within_the_limit(busy: Rows) -> None:
    plain = busy.timeline()
    assert plain.fold is not None
    ranked = sorted(plain.lanes, key=lambda lane: _seconds(busy, lane.participant_id))
    least_kept = ranked[0].participant_id
    roles = {lane.role: lane.participant_id for lane in reversed(plain.fold.lanes)}
    folded_publisher, folded_subscriber = roles["publisher"], roles["subscriber"]
    for wanted in (folded_publisher, folded_subscriber):
        chosen = busy.timeline(participant=wanted)
        assert chosen.participant == wanted
        assert len(chosen.lanes) == 40
        assert kept(chosen) == kept(plain) - {least_kept} | {wanted}
        assert chosen.participant_count == 205 and chosen.published == 192
    # Already kept, or a session within the limit: the same lanes, that one highlighted.
    assert kept(busy.timeline(participant=least_kept)) == kept(plain)
    small = known_session().timeline(participant="aa-viewer-01")
    assert len(small.lanes) == 4 and small.participant == "aa-viewer-01"


def test_a_participant_not_in_the_session_is_a_one_line_error(busy: Rows) -> None:
    with pytest.raises(ParticipantNotFound) as error:
        busy.timeline(participant="NoSuchOne")
    assert one_line(error) == f"no participant 'NoSuchOne' in session {BUSY} (205 participants)"
    # The picture shows the first characters of an id: the error names the whole ids.
    with pytest.raises(ParticipantNotFound) as error:
        busy.timeline(participant="pub10")
    assert one_line(error).endswith(
        "; ids that begin with it: pub1000000016, pub100000016, pub1010000016 and 8 more"
    )


def test_the_participant_asked_for_is_highlighted(busy: Rows, tmp_path: Path) -> None:
    plain = busy.timeline()
    assert plain.fold is not None
    wanted = plain.fold.lanes[0].participant_id
    timeline = busy.timeline(participant=wanted)
    page = write_html(timeline, tmp_path / "one.html").read_text(encoding="utf-8")
    lane = re.search(rf'<g class="lane" id="p-{wanted}">\n<rect class="row chosen"', page)
    assert lane is not None and page.count("row chosen") == 1
    figure = png.draw(timeline)
    bold = [t.get_text() for t in figure.axes[0].get_yticklabels() if t.get_fontweight() == "bold"]
    assert bold == [words.lane_label(next(x for x in timeline.lanes if x.participant_id == wanted))]


# --- the command ---------------------------------------------------------------------------------


@pytest.fixture(scope="module")
def busy_archive(busy: Rows, tmp_path_factory: pytest.TempPathFactory) -> Path:
    """The busy session as a local archive folder (landing layout, as `python -m local run
    --out` writes it)."""
    folder = tmp_path_factory.mktemp("busy-archive")
    where = f"dt={T0:%Y-%m-%d}/{STAGE.rsplit('/', 1)[1]}"
    for table, rows, path in (
        (STAGE_SESSIONS, [busy.session], f"stage_sessions/{where}/{BUSY}.parquet"),
        (PARTICIPANTS, busy.participants, f"participants/{where}/{BUSY}/part-00000.parquet"),
        (PARTICIPANT_EVENTS, busy.events, f"participant_events/{where}/{BUSY}/part-00000.parquet"),
    ):
        target = folder / path
        target.parent.mkdir(parents=True)
        pq.write_table(pa.Table.from_pylist(rows, schema=table.arrow_schema), target)
    return folder


def test_the_timeline_command_keeps_the_limit_and_shows_one_participant(
    busy: Rows, busy_archive: Path, capsys: Capture, tmp_path: Path
) -> None:
    args = ("timeline", BUSY, "--dir", busy_archive)
    status, out, err = run(capsys, *args, "--out", tmp_path / "busy.png")
    assert status == 0, err
    assert ", 40 lanes, 152 publishers, 13 subscribers folded (from " in out
    assert png_size(tmp_path / "busy.png")[1] < 3000

    plain = busy.timeline()
    assert plain.fold is not None
    wanted = plain.fold.lanes[-1].participant_id
    page = tmp_path / "one.html"
    status, out, err = run(capsys, *args, "--out", page, "--participant", wanted, "--json")
    assert status == 0, err
    data: dict[str, Any] = json.loads(out)
    assert (data["lanes"], data["lane_limit"], data["participant"]) == (40, 40, wanted)
    assert data["folded"] == 165
    assert f'<g class="lane" id="p-{wanted}">' in page.read_text(encoding="utf-8")

    status, _, err = run(capsys, *args, "--participant", "NoSuchOne", "--out", tmp_path / "x.png")
    assert status == 1
    assert one_error(err, "timeline") == (
        f"no participant 'NoSuchOne' in session {BUSY} (205 participants)"
    )
    assert not (tmp_path / "x.png").exists()
    status, _, err = run(capsys, *args, "--participant", "not an id", "--out", tmp_path / "x.png")
    assert status == 2
    assert one_error(err, "timeline") == (
        "argument --participant: not a participant id (1 to 64 letters, digits, - or _): "
        "'not an id'"
    )


# --- labels --------------------------------------------------------------------------------------


def assert_apart(labels: list[layout.Label]) -> None:
    """No two labels overlap, and each lies within the plot."""
    for one, other in combinations(labels, 2):
        assert not one.overlaps(other), (one.text, other.text)
    for label in labels:
        assert 0 <= label.left < label.right <= 1, label.text


def test_no_two_labels_of_a_busy_session_overlap_in_the_png(busy: Rows) -> None:
    """From the layout model with the PNG's own text widths; and each label drawn lies
    within the box the model gave it (so the model is what is drawn)."""
    timeline = busy.timeline()
    figure, labels = png.draw_with_labels(timeline)
    assert_apart(labels)
    kinds = Counter(label.kind for label in labels)
    assert kinds["errors"] > 40 and kinds["replication"] == 1
    assert any(label.right > 0.95 for label in labels)  # some end at the right edge
    assert any(len(label.marks) > 1 and TIMES_OR_MORE.search(label.text) for label in labels)
    # Every error mark of a lane is in exactly one label of its lane.
    for lane in timeline.lanes:
        labelled = [m for label in labels if label.participant_id == lane.participant_id
                    for m in label.marks]  # fmt: skip
        assert sorted(labelled, key=lambda m: m.time) == sorted(lane.errors, key=lambda m: m.time)

    figure.canvas.draw()
    ax = figure.axes[0]
    box = ax.get_window_extent()
    texts = [t for t in ax.texts if not isinstance(t, Annotation)]
    assert [t.get_text() for t in texts] == [label.text for label in labels]
    for text, label in zip(texts, labels, strict=True):
        drawn = text.get_window_extent()
        top, bottom = (ax.transData.transform((0, y))[1] for y in (label.top, label.bottom))
        assert box.x0 + label.left * box.width - 0.5 <= drawn.x0
        assert drawn.x1 <= box.x0 + label.right * box.width + 0.5
        assert bottom - 0.5 <= drawn.y0 and drawn.y1 <= top + 0.5  # (display y grows upwards)


def test_no_two_labels_of_a_busy_session_overlap_in_the_html(busy: Rows, tmp_path: Path) -> None:
    """From the layout model with the page's text widths; each label is drawn within its box
    (at its left edge, textLength its laid out width)."""
    timeline = busy.timeline()
    boxes = layout.lane_boxes(timeline)
    labels = layout.labels(timeline, boxes, html.measure())
    assert_apart(labels)
    page = write_html(timeline, tmp_path / "busy.html").read_text(encoding="utf-8")
    drawn = re.findall(
        r'<text class="label[^"]*" x="([\d.]+)" y="[\d.]+" textLength="([\d.]+)"', page
    )
    assert len(drawn) == len(labels)
    for (x, length), label in zip(drawn, labels, strict=True):
        start, width = float(x), float(length)
        assert html.LEFT + label.left * html.PLOT <= start + 0.1
        assert start + width <= html.LEFT + label.right * html.PLOT + 0.1
        assert width == pytest.approx(svg.text_width(label.text, html.FONT), abs=0.1)


def test_labels_crowded_on_one_line_join_and_stay_apart() -> None:
    """Any crowding: marks every 0.5 % of the plot with long codes of many kinds, a mark at
    each edge, and a text measure of fixed width per character."""
    rows = Rows(3600)
    rows.participant("crowded-0001", "crowded")
    rows.event("crowded-0001", "JOINED", 0)
    for i in range(200):
        code = CODES[i % len(CODES)]
        rows.event("crowded-0001", "SUBSCRIBE_ERROR", i * 18, error_code=code)
    rows.event("crowded-0001", "JOIN_ERROR", 3600, error_code="QUOTA_EXCEEDED")
    timeline = rows.finish().timeline()
    for per_char in (0.001, 0.004, 0.02):

        def width(text: str, per_char: float = per_char) -> float:
            return len(text) * per_char

        measure = layout.Measure(width, pad=0.002)
        labels = layout.labels(timeline, layout.lane_boxes(timeline), measure)
        assert_apart(labels)
        assert sum(len(label.marks) for label in labels) == 201
        for label in labels:  # each starts no later than its first mark
            first, last = layout.plot_range(timeline)
            anchor = (label.time - first) / (last - first)
            assert label.left <= anchor


def test_replication_and_error_labels_are_on_lines_of_their_own() -> None:
    timeline = known_session().timeline()
    host = layout.lane_boxes(timeline)[0]
    assert host.lines == ("replication",)
    guest = layout.lane_boxes(timeline)[2]
    assert guest.lines == ("errors",)
    assert host.strip == layout.LABEL_STRIP and guest.body == guest.top + layout.LABEL_STRIP
    both = Rows()
    both.participant("both-0000001", "both")
    dest = {"destination_stage_arn": STAGE, "destination_session_id": "st-Other0000001"}
    both.event("both-0000001", "JOINED", 0)
    both.event("both-0000001", "REPLICATION_STARTED", 100, **dest)
    both.event("both-0000001", "PUBLISH_ERROR", 101, error_code="BITRATE_EXCEEDED")
    box = layout.lane_boxes(both.finish().timeline())[0]
    assert box.lines == ("replication", "errors")
    assert box.line("replication")[1] == box.line("errors")[0]


def test_the_plot_range_pads_the_first_and_last_moments() -> None:
    """The plot's range pads the first and last moments (and a session of one instant)."""
    timeline = Rows(0).finish().timeline()
    first, last = layout.plot_range(timeline)
    assert first < timeline.first <= timeline.last < last
    assert last - first == timedelta(seconds=2)


def test_the_texts_drawn_in_the_png_neither_overlap_nor_leave_the_plot() -> None:
    """As matplotlib lays the texts out (their extents, not pixels): a replication starting just
    before an error, an error at the session's end, and errors every 70 s of four codes."""
    rows = Rows(3600)
    dest = {"destination_stage_arn": STAGE, "destination_session_id": "st-Dest000000001"}
    rows.participant("host-0000001", "host")
    rows.event("host-0000001", "JOINED", 5)
    rows.event("host-0000001", "PUBLISH_STARTED", 6)
    rows.event("host-0000001", "REPLICATION_STARTED", 600, **dest)
    rows.event("host-0000001", "PUBLISH_ERROR", 620, error_code="BITRATE_EXCEEDED")
    rows.event("host-0000001", "REPLICATION_STOPPED", 3000, **dest)
    rows.event("host-0000001", "PUBLISH_ERROR", 3590, error_code="RESOLUTION_EXCEEDED")
    rows.event("host-0000001", "LEFT", 3599)
    rows.participant("guest-000001", "guest")
    rows.event("guest-000001", "JOINED", 10)
    for i in range(50):
        code = CODES[i % 4]
        rows.event("guest-000001", "SUBSCRIBE_ERROR", 20 + i * 70, error_code=code)
    figure = png.draw(rows.finish().timeline())
    figure.canvas.draw()
    ax = figure.axes[0]
    plot = ax.get_window_extent()
    drawn = [(t.get_text(), t.get_window_extent()) for t in ax.texts if t.get_text()]
    assert len(drawn) > 8
    for (one, a), (other, b) in combinations(drawn, 2):
        assert not (a.x0 < b.x1 and b.x0 < a.x1 and a.y0 < b.y1 and b.y0 < a.y1), (one, other)
    for text, box in drawn:
        assert plot.x0 - 0.5 <= box.x0 and box.x1 <= plot.x1 + 0.5, text
