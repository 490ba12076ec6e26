"""The picture of one session: the model built from known rows, folding past the lane limit,
the PNG and the offline HTML, and the loader over an archive the real pipeline wrote."""

from __future__ import annotations

import shutil
from collections import Counter
from datetime import datetime
from pathlib import Path
from typing import Any

import matplotlib.image
import numpy as np
import pyarrow as pa
import pytest

from archiver.schema import PARTICIPANT_EVENTS, PARTICIPANTS, STAGE_SESSIONS
from console.timeline import (
    ArchiveUnreadable,
    BadRows,
    SessionNotFound,
    TimelineError,
    build_timeline,
    load_local_session,
    timeline_of,
    write,
    write_html,
    write_png,
)
from console.timeline.model import SESSION_END, Timeline
from console.timeline.style import ERROR, PALETTE
from console.timeline.words import DASH, TIMES
from local.generator import generate_scenario
from local.pipeline import EmbeddedPipeline, Options
from tests.helpers.timeline import (
    ERRORS,
    SESSION,
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


def spans(timeline: Timeline, pid: str, kind: str) -> list[tuple[float, float, str, Any]]:
    lane = next(lane for lane in timeline.lanes if lane.participant_id == pid)
    return [
        ((s.start - T0).total_seconds(), (s.end - T0).total_seconds(), s.ended_by, s.remote)
        for s in lane.spans_of(kind)  # type: ignore[arg-type]
    ]


def marks(timeline: Timeline, pid: str) -> list[tuple[float, str, str | None]]:
    lane = next(lane for lane in timeline.lanes if lane.participant_id == pid)
    return [((m.time - T0).total_seconds(), m.kind, m.error_code) for m in lane.marks]


# --- the model -----------------------------------------------------------------------------------


def test_lanes_in_order_of_first_join_with_roles_and_notes() -> None:
    timeline = known_session().timeline()
    assert [lane.participant_id for lane in timeline.lanes] == [
        "zz-host-0001",
        "aa-viewer-01",
        "mm-guest-001",
        "rr-replica-1",
    ]
    assert [lane.role for lane in timeline.lanes] == [
        "publisher",
        "subscriber",
        "publisher",
        "replica",
    ]
    assert timeline.publishers == ("zz-host-0001", "mm-guest-001", "rr-replica-1")
    assert timeline.lanes[0].label == "host · zz-hos"
    assert timeline.lanes[0].note == "replicated to Dest00000001/st-Dest"
    assert timeline.lanes[3].note == "replica of Src000000001/st-Src"
    assert (timeline.stage_name, timeline.session_id) == ("town-hall", SESSION)
    assert (timeline.participant_count, timeline.event_count) == (4, 26)
    assert (timeline.start, timeline.end) == (T0, at(3600))
    assert timeline.fold is None


def test_spans_pair_start_and_stop_and_close_at_left_or_the_session_end() -> None:
    timeline = known_session().timeline()
    host, viewer = "zz-host-0001", "aa-viewer-01"
    assert spans(timeline, host, "connected") == [(10, 3000, "LEFT", None)]
    assert spans(timeline, host, "publishing") == [
        (12, 600, "PUBLISH_STOPPED", None),
        (700, 3000, "LEFT", None),
    ]
    assert spans(timeline, host, "replicating") == [
        (100, 500, "REPLICATION_STOPPED", "Dest00000001/st-Dest")
    ]
    assert spans(timeline, viewer, "connected") == [
        (20, 900, "LEFT", None),
        (960, 3600, SESSION_END, None),
    ]
    assert spans(timeline, viewer, "subscribed") == [
        (22, 601, "SUBSCRIBE_STOPPED", host),
        (962, 3600, SESSION_END, host),
    ]


def test_errors_are_marks_with_their_codes_and_token_exchanges_say_what_changed() -> None:
    timeline = known_session().timeline()
    assert marks(timeline, "aa-viewer-01") == [
        (650, "SUBSCRIBE_ERROR", "PUBLISHER_NOT_FOUND"),
        (950, "JOIN_ERROR", "QUOTA_EXCEEDED"),
    ]
    assert marks(timeline, "mm-guest-001") == [
        (40, "PUBLISH_ERROR", "INSUFFICIENT_CAPABILITIES"),
        (45, "TOKEN_EXCHANGED", None),
        (400, "PUBLISH_ERROR", "BITRATE_EXCEEDED"),
    ]
    guest = timeline.lanes[2]
    exchange = next(m for m in guest.marks if m.kind == "TOKEN_EXCHANGED")
    assert exchange.detail == "capabilities SUBSCRIBE → PUBLISH,SUBSCRIBE; role viewer → guest"
    assert [m.error_code for m in guest.errors] == ["INSUFFICIENT_CAPABILITIES", "BITRATE_EXCEEDED"]
    viewer = timeline.lanes[1]
    assert viewer.errors[0].remote == "zz-host-0001"


def test_pyarrow_tables_and_naive_utc_times_give_the_same_picture() -> None:
    """The renderer takes rows from any source: Parquet tables, or an engine that returns
    timestamps without a zone (UTC), as Athena and DuckDB do."""
    rows = known_session()
    expected = rows.timeline()
    tables = build_timeline(
        pa.Table.from_pylist([rows.session], schema=STAGE_SESSIONS.arrow_schema),
        pa.Table.from_pylist(rows.participants, schema=PARTICIPANTS.arrow_schema),
        pa.Table.from_pylist(rows.events, schema=PARTICIPANT_EVENTS.arrow_schema),
    )
    assert tables.lanes == expected.lanes

    def naive(row: dict[str, Any]) -> dict[str, Any]:
        return {k: v.replace(tzinfo=None) if isinstance(v, datetime) else v for k, v in row.items()}

    plain = build_timeline(
        naive(rows.session),
        [naive(p) for p in rows.participants],
        [naive(e) for e in rows.events],
    )
    assert plain.lanes == expected.lanes


def test_a_participant_with_events_but_no_participants_row_still_has_its_lane() -> None:
    rows = known_session()
    rows.participants = [p for p in rows.participants if p["participant_id"] != "aa-viewer-01"]
    timeline = rows.timeline()
    viewer = timeline.lanes[1]
    assert (viewer.participant_id, viewer.user_id, viewer.first_join) == (
        "aa-viewer-01",
        "viewer",
        at(20),
    )


def test_rows_of_another_session_are_a_one_line_error() -> None:
    rows = known_session()
    rows.events[3]["session_id"] = "st-SomethingElse"
    with pytest.raises(BadRows) as error:
        rows.timeline()
    assert str(error.value) == (
        f"participant_events row 3 is of session st-SomethingElse, not {SESSION}"
    )


# --- folding -------------------------------------------------------------------------------------


def test_past_the_limit_subscribers_who_never_published_fold_with_exact_counts() -> None:
    rows = crowd(publishers=12, subscribers=500)
    timeline = rows.timeline()
    assert timeline.fold is not None
    fold = timeline.fold
    assert (fold.participants, timeline.folded) == (500, 500)
    assert len(timeline.lanes) == 12 and {lane.role for lane in timeline.lanes} == {"publisher"}
    assert timeline.participant_count == 512

    # Errors and token exchanges of the folded subscribers: every one kept, counted by code.
    folded_ids = {p["participant_id"] for p in rows.participants if not p["published"]}
    theirs = [e for e in rows.events if e["participant_id"] in folded_ids]
    expected_errors = Counter(
        (e["event_name"], e["error_code"]) for e in theirs if e["event_name"] in ERRORS
    )
    assert fold.error_counts() == expected_errors
    assert sum(expected_errors.values()) > 20  # the crowd does have errors to count
    tokens = [e for e in theirs if e["event_name"] == "TOKEN_EXCHANGED"]
    assert len([m for m in fold.marks if m.kind == "TOKEN_EXCHANGED"]) == len(tokens) > 0

    # Connected and watching counts, against intervals read straight from the rows.
    connected: list[tuple[datetime, datetime]] = []
    watching: dict[str, list[tuple[datetime, datetime]]] = {}
    by_participant: dict[str, list[dict[str, Any]]] = {}
    for e in theirs:
        by_participant.setdefault(e["participant_id"], []).append(e)
    for pid in folded_ids:
        mine = sorted(by_participant.get(pid, []), key=lambda e: e["event_seq"])
        since: dict[Any, datetime] = {}
        for e in mine:
            name, when, remote = e["event_name"], e["event_time"], e["remote_participant_id"]
            if name == "JOINED":
                since["c"] = when
            elif name == "LEFT":
                connected.append((since.pop("c"), when))
            elif name == "SUBSCRIBE_STARTED":
                since[remote] = when
            elif name == "SUBSCRIBE_STOPPED":
                watching.setdefault(remote, []).append((since.pop(remote), when))
        for key, start in since.items():
            if key == "c":
                connected.append((start, at(7200)))
            else:
                watching.setdefault(key, []).append((start, at(7200)))
    for minute in range(0, 121, 7):
        moment = at(minute * 60 + 0.25)
        assert step_value(fold.times, fold.connected, moment) == holding(connected, moment)
        for remote, pairs in watching.items():
            assert step_value(fold.times, fold.watching[remote], moment) == holding(pairs, moment)
    assert fold.peak_connected == max(holding(connected, t) for t in fold.times)


def test_the_limit_is_on_lanes_and_folds_only_subscribers() -> None:
    at_limit = crowd(publishers=2, subscribers=38, seed=4).timeline()
    assert at_limit.fold is None and len(at_limit.lanes) == 40
    past = crowd(publishers=2, subscribers=39, seed=4).timeline()
    assert past.fold is not None
    assert (past.folded, len(past.lanes)) == (39, 2)
    small = crowd(publishers=2, subscribers=10, seed=4).timeline(fold_limit=5)
    assert (small.folded, len(small.lanes)) == (10, 2)


# --- PNG -----------------------------------------------------------------------------------------


def has_colour(image: np.ndarray, hex_colour: str, pixels: int) -> bool:
    rgb = np.array([int(hex_colour[i : i + 2], 16) for i in (1, 3, 5)]) / 255
    close = np.abs(image[..., :3] - rgb).max(axis=-1) < 0.02
    return int(close.sum()) >= pixels


def test_the_png_is_written_with_sensible_dimensions_and_its_colours(tmp_path: Path) -> None:
    small = write_png(known_session().timeline(), tmp_path / "small.png")
    width, height = png_size(small)
    assert width == 1500 and 300 <= height <= 700
    image = matplotlib.image.imread(small)
    assert has_colour(image, PALETTE[0], 500)  # the host's publishing spans
    assert has_colour(image, PALETTE[1], 200)  # the guest's
    assert has_colour(image, ERROR, 30)  # error marks and codes

    big = write_png(crowd(12, 500).timeline(), tmp_path / "big.png")
    big_width, big_height = png_size(big)
    # 512 participants: 12 lanes and the folded summary, not 512 lanes
    assert big_width == 1500 and height < big_height <= 1100
    assert big.stat().st_size < 400_000


# --- HTML ----------------------------------------------------------------------------------------


def test_the_html_is_offline_and_shows_every_participant_with_hover_details(
    tmp_path: Path,
) -> None:
    timeline = known_session().timeline()
    page = write_html(timeline, tmp_path / "t.html").read_text(encoding="utf-8")
    assert_offline(page)
    for lane in timeline.lanes:
        assert f'id="p-{lane.participant_id}"' in page
        assert lane.user_id in page
    titles = parse(page).titles
    assert any("viewer" in t and "JOIN_ERROR QUOTA_EXCEEDED" in t for t in titles)
    assert any("PUBLISH_ERROR BITRATE_EXCEEDED" in t and "guest" in t for t in titles)
    assert f"viewer: connected, 18:16:00 {DASH} 19:00:00 (session end) (44m 0s)" in titles
    assert any("subscribed to host (zz-host-0001)" in t for t in titles)  # whole ids on hover
    assert "town-hall · st-TestSession0001" in page
    assert "4 participants (3 published) · 26 events" in page


def test_the_html_of_a_crowd_names_the_kept_lanes_and_how_many_were_folded(
    tmp_path: Path,
) -> None:
    timeline = crowd(12, 500).timeline()
    page = write_html(timeline, tmp_path / "crowd.html").read_text(encoding="utf-8")
    assert_offline(page)
    assert page.count('<g class="lane"') == 12
    for lane in timeline.lanes:
        assert f'id="p-{lane.participant_id}"' in page and lane.user_id in page
    assert "500 subscribers who never published are folded" in page
    assert "Folded: 500 subscribers</summary>" in page
    assert timeline.fold is not None
    errors = Counter(m.error_code for m in timeline.fold.errors)
    for code, count in errors.items():
        kind = next(m.kind for m in timeline.fold.errors if m.error_code == code)
        assert f"{kind.removesuffix('_ERROR').lower()}: {code} {TIMES}{count}" in page
    assert len(page) < 1_500_000


# --- the local archive ---------------------------------------------------------------------------


@pytest.fixture(scope="module")
def archive(tmp_path_factory: pytest.TempPathFactory) -> tuple[Path, dict[str, Any]]:
    """A real archive folder: a generated session (every event name and error code) through
    the simulator, moto and the Lambda handlers, mirrored as `python -m local run` does."""
    scenario = generate_scenario(stages=1, sessions=1, participants=14, seed=3)
    out = tmp_path_factory.mktemp("archive")
    with EmbeddedPipeline(scenario, Options(tps=200.0)) as pipeline:
        pipeline.run()
        pipeline.mirror(out)
    session = scenario["stages"][0]["sessions"][0]
    return out, session


def test_a_session_from_an_archive_folder_renders_to_png_and_html(
    archive: tuple[Path, dict[str, Any]], tmp_path: Path
) -> None:
    out, session = archive
    rows = load_local_session(out, session["sessionId"])
    people = session["participants"]
    assert len(rows.participants) == len(people)
    assert len(rows.events) == sum(len(p["events"]) for p in people)
    assert rows.session["session_id"] == session["sessionId"]
    timeline = timeline_of(rows)
    assert [lane.participant_id for lane in timeline.lanes] == [
        p["participantId"]
        for p in sorted(people, key=lambda p: (p["firstJoinTime"], p["participantId"]))
    ]
    page = write(timeline, tmp_path / "s.html").read_text(encoding="utf-8")
    assert_offline(page)
    titles = "\n".join(parse(page).titles)
    codes = {e["errorCode"] for p in people for e in p["events"] if e.get("errorCode")}
    assert len(codes) >= 10
    for code in codes:
        assert code in titles
    assert png_size(write(timeline, tmp_path / "s.png"))[0] == 1500


def test_a_session_not_found_is_a_one_line_error(archive: tuple[Path, dict[str, Any]]) -> None:
    out, _ = archive
    with pytest.raises(SessionNotFound) as error:
        load_local_session(out, "st-NoSuchSession0")
    assert one_line(error) == f"session 'st-NoSuchSession0' in {out}: not found"
    with pytest.raises(SessionNotFound) as error:
        load_local_session(out / "stage_sessions", "st-NoSuchSession0")
    assert "is not an archive folder" in one_line(error)


def test_the_loader_reads_folders_with_glob_characters_and_names_what_is_wrong(
    archive: tuple[Path, dict[str, Any]], tmp_path: Path
) -> None:
    out, session = archive
    sid = session["sessionId"]
    odd = tmp_path / "a[1]*"
    shutil.copytree(out, odd)
    assert len(load_local_session(odd, sid).events) == sum(
        len(p["events"]) for p in session["participants"]
    )

    (part,) = odd.glob("participants/dt=*/*/*/*/*/part-00000.parquet")
    part.write_bytes(b"not parquet")
    with pytest.raises(ArchiveUnreadable) as unreadable:
        load_local_session(odd, sid)
    assert one_line(unreadable).startswith(f"cannot read {part}: ")

    (row,) = odd.glob(f"stage_sessions/dt=*/*/*/*/{sid}.parquet")
    row.unlink()
    with pytest.raises(SessionNotFound) as unfinished:
        load_local_session(odd, sid)
    assert "not finished" in one_line(unfinished)


def test_a_session_without_participants_still_renders(tmp_path: Path) -> None:
    timeline = Rows().finish().timeline()
    assert timeline.lanes == () and timeline.fold is None
    assert png_size(write(timeline, tmp_path / "empty.png"))[0] == 1500
    page = write(timeline, tmp_path / "empty.html").read_text(encoding="utf-8")
    assert_offline(page)
    assert "0 participants (0 published) · 0 events" in page


def test_an_output_that_is_neither_png_nor_html_is_a_one_line_error(tmp_path: Path) -> None:
    timeline = known_session().timeline()
    with pytest.raises(TimelineError) as error:
        write(timeline, tmp_path / "t.svg")
    assert "must end in .png or .html" in one_line(error)
    assert not (tmp_path / "t.svg").exists()
