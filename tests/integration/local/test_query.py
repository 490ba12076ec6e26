"""Each named query on DuckDB over a generated archive equals the answer computed from the scenario.

The expected results are computed in plain Python from the scenario dict, never from the Parquet,
following what each query's header comment says it answers.
"""

from __future__ import annotations

import re
import shutil
from collections import defaultdict
from collections.abc import Callable, Iterator
from datetime import UTC, date, datetime, timedelta
from pathlib import Path
from typing import Any

import pytest
import sqlglot
from rich.cells import cell_len

from archiver.rows import event_rows, participant_row, session_row, stage_id
from archiver.schema import PARTICIPANT_EVENTS, PARTICIPANTS, STAGE_SESSIONS, TABLES
from archiver.writer import SessionKeys, parquet_bytes
from local.generator import generate_scenario
from local.generator.places import spread
from local.query import connect, main, run_query, run_sql
from local.transpile import parameters, to_duckdb
from queries import FOLDER as QUERIES
from queries import load as load_queries
from shared.render import cell, counted, duration, shortened
from tests.helpers.cli import local, on_terminal

CHUNK = 4  # participants per Parquet part: several parts per session
ARCHIVED_AT = datetime(2030, 1, 1, tzinfo=UTC)
TIME_KEYS = {"startTime", "endTime", "firstJoinTime", "eventTime", "expirationTime"}


# --- the archive: scenario -> rows -> Parquet under the contract keys ---------------------------


def api_record(value: Any) -> Any:
    """A scenario object as boto3 parses the API's: ISO-8601 times become datetimes."""
    if isinstance(value, dict):
        return {
            key: parse(item) if key in TIME_KEYS and isinstance(item, str) else api_record(item)
            for key, item in value.items()
        }
    if isinstance(value, list):
        return [api_record(item) for item in value]
    return value


def build_archive(scenario: dict[str, Any], directory: Path) -> None:
    """Write every ended session of `scenario` as the archiver would, keys and all."""
    for stage in api_record(scenario)["stages"]:
        for session in stage["sessions"]:
            if session.get("endTime") is None:
                continue
            keys = SessionKeys("", stage["arn"], session["sessionId"], session["startTime"])
            people = sorted(session["participants"], key=lambda p: p["participantId"])
            for number, start in enumerate(range(0, max(len(people), 1), CHUNK)):
                chunk = people[start : start + CHUNK]
                participants = [
                    participant_row(
                        stage["arn"], session["sessionId"], p, event_count=len(p["events"])
                    )
                    for p in chunk
                ]
                events = [
                    row
                    for p in chunk
                    for row in event_rows(
                        stage["arn"],
                        session["sessionId"],
                        p["participantId"],
                        p.get("userId"),
                        p["events"],
                    )
                ]
                write(
                    directory / keys.participants(number), parquet_bytes(PARTICIPANTS, participants)
                )
                write(directory / keys.events(number), parquet_bytes(PARTICIPANT_EVENTS, events))
            row = session_row(
                stage["arn"],
                stage.get("name"),
                session,
                participant_count=len(people),
                event_count=sum(len(p["events"]) for p in people),
                archived_at=ARCHIVED_AT,
            )
            write(directory / keys.session(), parquet_bytes(STAGE_SESSIONS, [row]))


def write(path: Path, data: bytes) -> None:
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_bytes(data)


@pytest.fixture(scope="module")
def scenario() -> dict[str, Any]:
    # Over two places, for sessions_by_place.
    one_place = generate_scenario(stages=3, sessions=3, participants=14, seed=5)
    return spread(one_place, ["us-east-1", "ap-northeast-1"], 1)


@pytest.fixture(scope="module")
def archive(scenario, tmp_path_factory) -> Path:
    directory = tmp_path_factory.mktemp("archive")
    build_archive(scenario, directory)
    return directory


# --- the scenario, read independently ------------------------------------------------------------


def parse(text: str) -> datetime:
    return datetime.fromisoformat(text).astimezone(UTC)


def naive(text: str) -> datetime:
    """A scenario time as DuckDB returns a `timestamp`: UTC without a zone."""
    return parse(text).replace(tzinfo=None)


def day_of(session: dict[str, Any]) -> str:
    return f"{parse(session['startTime']):%Y-%m-%d}"


def ended(scenario: dict[str, Any], since: str = "") -> Iterator[tuple[dict, dict]]:
    """(stage, session) for each archived session whose partition is on or after `since`."""
    for stage in scenario["stages"]:
        for session in stage["sessions"]:
            if session.get("endTime") is not None and day_of(session) >= since:
                yield stage, session


def events_of(scenario, since):
    """(stage, session, participant, seq, event) for every archived event in the window."""
    for stage, session in ended(scenario, since):
        for person in session["participants"]:
            for seq, event in enumerate(person.get("events", [])):
                yield stage, session, person, seq, event


def clock(scenario: dict[str, Any]) -> date:
    """The runner's default current_date: the newest session end's UTC day."""
    return max(parse(s["endTime"]) for _, s in ended(scenario)).date()


def window(today: date, days: int = 30) -> str:
    return (today - timedelta(days=days)).isoformat()


def whole(delta: timedelta, unit: timedelta) -> int:
    """Athena's date_diff: whole units elapsed, truncated toward zero."""
    count = abs(delta) // unit
    return count if delta >= timedelta(0) else -count


def nulls_last(value: Any) -> tuple[bool, Any]:
    return (value is None, "" if value is None else value)


def is_error(name: str) -> bool:
    return name.endswith("_ERROR")


def sessions_per_day(scenario, since):
    days: dict[str, dict[str, Any]] = defaultdict(
        lambda: {"stages": set(), "sessions": 0, "participants": 0, "users": set(), "pubs": 0}
    )
    for stage, session in ended(scenario, since):
        day = days[day_of(session)]
        day["stages"].add(stage["arn"])
        day["sessions"] += 1
        for person in session["participants"]:
            day["participants"] += 1
            day["users"].add(person.get("userId"))
            day["pubs"] += person.get("published") is True
    events: dict[str, list[int]] = defaultdict(lambda: [0, 0])
    for _, session, _, _, event in events_of(scenario, since):
        events[day_of(session)][0] += 1
        events[day_of(session)][1] += is_error(event["name"])
    return [
        (
            key,
            len(d["stages"]),
            d["sessions"],
            d["participants"],
            len(d["users"] - {None}),
            d["pubs"],
            *events[key],
        )
        for key, d in sorted(days.items())
    ]


def sessions_by_place(scenario, since):
    places: dict[tuple[str, str, str], dict[str, Any]] = defaultdict(
        lambda: {"stages": set(), "sessions": 0, "participants": 0, "events": 0}
    )
    for stage, session in ended(scenario, since):
        _, _, _, region, account, _ = stage["arn"].split(":")
        place = places[(day_of(session), account, region)]
        place["stages"].add(stage["arn"])
        place["sessions"] += 1
        place["participants"] += len(session["participants"])
        place["events"] += sum(len(p["events"]) for p in session["participants"])
    return [
        (*key, len(p["stages"]), p["sessions"], p["participants"], p["events"])
        for key, p in sorted(places.items())
    ]


def timeline(scenario, session_id: str = ""):
    candidates = [(stage, s) for stage, s in ended(scenario) if session_id in ("", s["sessionId"])]
    if not candidates:
        return []
    stage, session = max(candidates, key=lambda c: (parse(c[1]["startTime"]), c[1]["sessionId"]))
    start = parse(session["startTime"])
    rows = [
        (
            stage.get("name"),
            session["sessionId"],
            naive(event["eventTime"]),
            whole(parse(event["eventTime"]) - start, timedelta(seconds=1)),
            person["participantId"],
            person.get("userId"),
            seq,
            event["name"],
            event.get("remoteParticipantId"),
            event.get("errorCode"),
        )
        for person in session["participants"]
        for seq, event in enumerate(person.get("events", []))
    ]
    return sorted(rows, key=lambda r: (r[2], r[4], r[6]))


def errors_by_code(scenario, since):
    groups: dict[tuple, dict[str, Any]] = defaultdict(
        lambda: {"n": 0, "sessions": set(), "people": set(), "users": set()}
    )
    for _, session, person, _, event in events_of(scenario, since):
        if is_error(event["name"]):
            group = groups[(day_of(session), event["name"], event.get("errorCode"))]
            group["n"] += 1
            group["sessions"].add(session["sessionId"])
            group["people"].add(person["participantId"])
            group["users"].add(person.get("userId"))
    rows = [
        (*key, g["n"], len(g["sessions"]), len(g["people"]), len(g["users"] - {None}))
        for key, g in groups.items()
    ]
    return sorted(rows, key=lambda r: (r[0], -r[3], r[1], nulls_last(r[2])))


HEALTH_CODES = ("QUOTA_EXCEEDED", "PUBLISHER_NOT_FOUND")


def stage_health(scenario, since):
    stages: dict[tuple[str, str], dict[str, Any]] = {}
    for stage, session in ended(scenario, since):
        entry = stages.setdefault(
            (day_of(session), stage["arn"]), {"name": stage.get("name"), "n": 0, "people": 0}
        )
        entry["n"] += 1
        entry["people"] += len(session["participants"])
    hits: dict[tuple[str, str], dict[str, Any]] = defaultdict(
        lambda: {code: 0 for code in HEALTH_CODES} | {"people": set()}
    )
    for stage, session, person, _, event in events_of(scenario, since):
        if event.get("errorCode") in HEALTH_CODES:
            hit = hits[(day_of(session), stage["arn"])]
            hit[event["errorCode"]] += 1
            hit["people"].add(person["participantId"])
    return [
        (
            day,
            stage_id(arn),
            e["name"],
            e["n"],
            e["people"],
            hits[(day, arn)]["QUOTA_EXCEEDED"],
            hits[(day, arn)]["PUBLISHER_NOT_FOUND"],
            len(hits[(day, arn)]["people"]),
        )
        for (day, arn), e in sorted(stages.items())
    ]


def publish_time(scenario, since):
    rows = []
    for _, session in ended(scenario, since):
        for person in session["participants"]:
            marks = [
                e
                for e in person.get("events", [])
                if e["name"] in ("PUBLISH_STARTED", "PUBLISH_STOPPED", "LEFT")
            ]
            spans = []
            for i, mark in enumerate(marks):
                if mark["name"] == "PUBLISH_STARTED":
                    stop = marks[i + 1]["eventTime"] if i + 1 < len(marks) else session["endTime"]
                    spans.append((parse(mark["eventTime"]), parse(stop)))
            if spans:
                rows.append(
                    (
                        session["sessionId"],
                        person["participantId"],
                        person.get("userId"),
                        len(spans),
                        sum(whole(b - a, timedelta(milliseconds=1)) for a, b in spans),
                        min(a for a, _ in spans).replace(tzinfo=None),
                        max(b for _, b in spans).replace(tzinfo=None),
                    )
                )
    return sorted(rows, key=lambda r: (-r[4], r[0], r[1]))


def publisher_audience(scenario, since):
    groups: dict[tuple, dict[str, Any]] = {}
    for _, session, person, _, event in events_of(scenario, since):
        remote = event.get("remoteParticipantId")
        if event["name"] != "SUBSCRIBE_STARTED" or remote is None:
            continue
        publisher = {p["participantId"]: p for p in session["participants"]}.get(remote, {})
        group = groups.setdefault(
            (session["sessionId"], remote, publisher.get("userId")),
            {"people": set(), "users": set(), "n": 0},
        )
        group["people"].add(person["participantId"])
        group["users"].add(person.get("userId"))
        group["n"] += 1
    rows = [(*key, len(g["people"]), len(g["users"] - {None}), g["n"]) for key, g in groups.items()]
    return sorted(rows, key=lambda r: (-r[3], r[0], r[1]))


def participants_by_client(scenario, since):
    groups: dict[tuple, dict[str, Any]] = defaultdict(
        lambda: {"n": 0, "users": set(), "sessions": set(), "pubs": 0}
    )
    for _, session in ended(scenario, since):
        for person in session["participants"]:
            group = groups[
                (person.get("osName"), person.get("browserName"), person.get("sdkVersion"))
            ]
            group["n"] += 1
            group["users"].add(person.get("userId"))
            group["sessions"].add(session["sessionId"])
            group["pubs"] += person.get("published") is True
    rows = [
        (*key, g["n"], len(g["users"] - {None}), len(g["sessions"]), g["pubs"])
        for key, g in groups.items()
    ]
    return sorted(rows, key=lambda r: (-r[3], *map(nulls_last, r[:3])))


def join_failures_by_user(scenario, since):
    joined = {
        (stage["arn"], session["sessionId"], person.get("userId"))
        for stage, session, person, _, event in events_of(scenario, since)
        if event["name"] == "JOINED" and person.get("userId") is not None
    }
    users: dict[str | None, dict[str, Any]] = defaultdict(
        lambda: {"n": 0, "sessions": set(), "anyway": set(), "codes": set(), "times": []}
    )
    for stage, session, person, _, event in events_of(scenario, since):
        if event["name"] != "JOIN_ERROR":
            continue
        user = users[person.get("userId")]
        user["n"] += 1
        user["sessions"].add(session["sessionId"])
        if (stage["arn"], session["sessionId"], person.get("userId")) in joined:
            user["anyway"].add(session["sessionId"])
        user["codes"].add(event.get("errorCode"))
        user["times"].append(naive(event["eventTime"]))
    rows = [
        (
            user_id,
            u["n"],
            len(u["sessions"]),
            len(u["anyway"]),
            ", ".join(sorted(u["codes"] - {None})),
            min(u["times"]),
            max(u["times"]),
        )
        for user_id, u in users.items()
    ]
    return sorted(rows, key=lambda r: (-r[1], nulls_last(r[0])))


EXPECTED: dict[str, Callable[[dict[str, Any], str], list[tuple]]] = {
    "sessions_per_day": sessions_per_day,
    "sessions_by_place": sessions_by_place,
    "session_timeline": lambda scenario, since: timeline(scenario),
    "errors_by_code": errors_by_code,
    "stage_health": stage_health,
    "publish_time": publish_time,
    "publisher_audience": publisher_audience,
    "participants_by_client": participants_by_client,
    "join_failures_by_user": join_failures_by_user,
}


# --- the tests -----------------------------------------------------------------------------------


def test_every_expected_query_exists():
    assert set(EXPECTED) <= set(load_queries())


@pytest.mark.parametrize("name", sorted(EXPECTED))
def test_query_answers_what_the_scenario_says(scenario, archive, name):
    columns, rows = run_query(archive, name)
    expected = EXPECTED[name](scenario, window(clock(scenario)))
    assert rows == expected
    assert len(columns) == len(expected[0])


def test_the_scenario_exercises_every_query(scenario):
    """A query compared on an empty answer proves little: each must have rows to check."""
    since = window(clock(scenario))
    for name, expected in EXPECTED.items():
        assert expected(scenario, since), name
    assert {row[2] for row in sessions_by_place(scenario, since)} == {"us-east-1", "ap-northeast-1"}
    names = {event["name"] for *_, event in events_of(scenario, "")}
    assert {"PUBLISH_STARTED", "SUBSCRIBE_STARTED", "JOIN_ERROR", "JOINED"} <= names
    codes = {event.get("errorCode") for *_, event in events_of(scenario, "")}
    assert set(HEALTH_CODES) <= codes


def test_look_back_window_keeps_only_recent_partitions(scenario, archive):
    days = sorted({day_of(s) for _, s in ended(scenario)})
    assert len(days) > 1, "the scenario should span several days"
    today = date.fromisoformat(days[-1]) + timedelta(days=30)  # only the last day is in range
    for name in ("sessions_per_day", "errors_by_code", "stage_health", "publish_time"):
        _, rows = run_query(archive, name, today=today)
        assert rows == EXPECTED[name](scenario, days[-1]), name
    _, rows = run_query(archive, "sessions_per_day", today=today)
    assert [r[0] for r in rows] == [days[-1]]


def test_timeline_of_a_chosen_session(scenario, archive):
    _, oldest = min(ended(scenario), key=lambda c: c[1]["startTime"])
    sql = load_queries()["session_timeline"].sql
    chosen = sql.replace("SELECT '' AS session_id", f"SELECT '{oldest['sessionId']}' AS session_id")
    assert chosen != sql
    _, rows = run_sql(archive, chosen)
    assert rows == timeline(scenario, oldest["sessionId"])
    assert {r[1] for r in rows} == {oldest["sessionId"]}
    _, none = run_sql(archive, sql.replace("SELECT ''", "SELECT 'st-unknown'"))
    assert none == []


def test_the_session_of_session_timeline_is_a_parameter(scenario, archive):
    """In AWS the named query runs as it is (its `params` default: the newest session); locally
    `session_id=ID` after the query's name picks another."""
    assert parameters(load_queries()["session_timeline"].sql) == {"session_id": ""}
    assert run_query(archive, "session_timeline")[1] == timeline(scenario)
    for _, session in ended(scenario):
        chosen = {"session_id": session["sessionId"]}
        _, rows = run_query(archive, "session_timeline", parameters=chosen)
        assert rows == timeline(scenario, session["sessionId"]), session["sessionId"]
    _, oldest = min(ended(scenario), key=lambda c: c[1]["startTime"])
    result = local(
        "query", "--dir", archive, "session_timeline", f"session_id={oldest['sessionId']}",
        "--limit", "0", timeout=60,
    )  # fmt: skip
    assert result.returncode == 0, result.stderr
    assert f"session_timeline (session_id = '{oldest['sessionId']}'): every event" in result.stdout
    shown = {w for w in result.stdout.split() if re.fullmatch(r"st-\w{13}", w)}
    assert shown == {oldest["sessionId"]}
    assert f"({len(timeline(scenario, oldest['sessionId'])):,} rows)" in result.stdout
    result = local(
        "query", "--dir", archive, "session_timeline", "session_id=st-NoSuchSession", timeout=60
    )
    assert (
        result.returncode == 0 and "no rows with session_id = 'st-NoSuchSession'" in result.stdout
    )


def test_a_parameter_no_query_takes_is_bad_input(archive):
    for args, says in [
        (["publish_time", "session_id=st-x"], "no query run takes it (none of them takes any)"),
        (["session=st-x"], "no query run takes it (session_timeline takes session_id)"),
    ]:
        result = local("query", "--dir", archive, *args, timeout=60)
        assert result.returncode == 2 and result.stdout == ""
        [line] = result.stderr.splitlines()
        assert line.startswith("python -m local query: error: parameter ") and says in line, line


def test_views_have_the_contract_columns_and_partition(archive, tmp_path):
    for directory in (archive, tmp_path):  # tmp_path: an empty archive
        with connect(directory) as con:
            for table in TABLES.values():
                described = con.execute(f"DESCRIBE {table.name}").fetchall()
                assert [r[0] for r in described] == [*table.column_names, "dt"]
                assert described[-1][1] == "VARCHAR"
    with connect(archive) as con:
        (dt, start), *_ = con.execute("SELECT dt, start_time FROM stage_sessions").fetchall()
        assert dt == f"{start:%Y-%m-%d}"


def test_every_query_runs_on_an_empty_archive(tmp_path):
    for name in load_queries():
        columns, rows = run_query(tmp_path, name)
        assert columns and rows == [], name


def test_query_files_are_named_described_and_parse():
    files = sorted(QUERIES.glob("*.sql"))
    assert len(files) >= len(EXPECTED)
    for path in files:
        sql = path.read_text(encoding="utf-8")
        first = sql.splitlines()[0]
        assert re.fullmatch(rf"-- {re.escape(path.stem)}: \S.*", first), path.name
        assert re.fullmatch(r"[a-z][a-z0-9_]*", path.stem), path.name
        assert len(sqlglot.parse(sql, read="athena")) == 1, path.name
        assert len(sqlglot.parse(sql, read="trino")) == 1, path.name
        assert to_duckdb(sql).strip(), path.name


def test_main_prints_tables_and_rejects_unknown_names(archive, capsys):
    assert main(archive, ["sessions_per_day", "stage_health"]) == 0
    out = capsys.readouterr().out
    assert "sessions_per_day:" in out and "stage_health:" in out
    assert "publishers" in out and "quota_exceeded" in out
    assert main(archive, ["no_such_query"]) == 2
    err = capsys.readouterr().err
    assert "no_such_query" in err and "sessions_per_day" in err
    assert main(archive / "missing", []) == 2


def test_publish_pairing_rules(tmp_path):
    """A publish ends at the next stop, LEFT or restart, else at the session's end."""

    def person(participant_id: str, *events: tuple[str, str]) -> dict[str, Any]:
        return {
            "participantId": participant_id,
            "userId": f"user-{participant_id}",
            "published": True,
            "events": [{"name": name, "eventTime": f"2026-03-01T{t}Z"} for name, t in events],
        }

    session = {
        "sessionId": "st-pairing",
        "startTime": "2026-03-01T10:00:00.000Z",
        "endTime": "2026-03-01T11:00:00.000Z",
        "participants": [
            person(
                "p1",
                ("JOINED", "10:00:00.000"),
                ("PUBLISH_STARTED", "10:00:01.000"),
                ("LEFT", "10:00:11.500"),
            ),
            person(
                "p2",
                ("PUBLISH_STARTED", "10:01:00.000"),
                ("PUBLISH_STARTED", "10:02:00.000"),
                ("SUBSCRIBE_STARTED", "10:02:10.000"),
                ("PUBLISH_STOPPED", "10:02:30.000"),
            ),
            person("p3", ("PUBLISH_STARTED", "10:59:59.999")),
            person("p4", ("PUBLISH_STOPPED", "10:30:00.000")),
        ],
    }
    arn = "arn:aws:ivs:us-east-1:123456789012:stage/PairingStage1"
    build_archive({"stages": [{"arn": arn, "name": "pairs", "sessions": [session]}]}, tmp_path)
    _, rows = run_query(tmp_path, "publish_time")

    def at(clock_time: str) -> datetime:
        return datetime.fromisoformat(f"2026-03-01T{clock_time}")

    assert rows == [
        ("st-pairing", "p2", "user-p2", 2, 90_000, at("10:01:00"), at("10:02:30")),
        ("st-pairing", "p1", "user-p1", 1, 10_500, at("10:00:01"), at("10:00:11.500")),
        ("st-pairing", "p3", "user-p3", 1, 1, at("10:59:59.999"), at("11:00:00")),
    ]


# --- the command, as a user runs it -------------------------------------------------------------
ANSI = re.compile(r"\x1b\[[0-9;?]*[A-Za-z]")


def test_a_folder_without_an_archive_is_an_error_with_a_hint(archive, tmp_path):
    demo = tmp_path / "demo-out"
    shutil.copytree(archive, demo / "archive")
    (tmp_path / "elsewhere" / "empty").mkdir(parents=True)
    for given in (demo, demo / "archiv", demo / "archive" / "stage_sessions"):
        result = local("query", "--dir", given, "sessions_per_day", timeout=60)
        assert result.returncode == 2 and result.stdout == ""
        [line] = result.stderr.splitlines()
        assert f"--dir: {given} " in line and f"did you mean {demo / 'archive'}?" in line, line
    result = local("query", "--dir", tmp_path / "elsewhere" / "empty", timeout=60)
    assert result.returncode == 2 and result.stdout == ""
    [line] = result.stderr.splitlines()
    assert "holds no archive" in line and "did you mean" not in line, line


def test_a_dir_with_glob_characters_or_dt_in_its_path_reads_that_folder_only(
    scenario, archive, tmp_path
):
    tricky = tmp_path / "a[1]" / "dt=2020-01-01" / "x*?"
    shutil.copytree(archive, tricky)
    decoy = tmp_path / "a1" / "dt=2020-01-01" / "xyz"  # what the unescaped globs would match
    build_archive(generate_scenario(stages=1, sessions=1, participants=3, seed=99), decoy)
    for name in EXPECTED:
        assert run_query(tricky, name) == run_query(archive, name), name
    with connect(tricky) as con:
        days = {dt for (dt,) in con.execute("SELECT DISTINCT dt FROM stage_sessions").fetchall()}
    assert days == {day_of(s) for _, s in ended(scenario)}
    result = local("query", "--dir", tricky, "sessions_per_day", timeout=60)
    assert result.returncode == 0, result.stderr
    assert f"{len(sessions_per_day(scenario, window(clock(scenario))))} rows" in result.stdout


def test_on_a_terminal_tables_fit_its_width_and_read_as_durations_and_times(archive):
    status, shown, errors = on_terminal(
        "query", "--dir", archive, "publish_time", "session_timeline", columns=72, timeout=60
    )
    assert status == 0, errors
    lines = ANSI.sub("", shown).replace("\r", "").splitlines()
    assert max(map(len, lines)) <= 72
    text = "\n".join(lines)
    assert not re.search(r"\d\d:\d\d:\d\d\.\d", text)  # no fractions of seconds
    assert re.search(r"\b\d+h \d+m\b", text)  # publish time as a duration
    assert not re.search(r"\b(varchar|bigint|int64|timestamp)\b", text, re.I)  # no type row


def known_values(scenario) -> set[str]:
    """The ids, names and codes the queries print, whole: stage ids and names, session,
    participant and user ids, event names and error codes."""
    values = set()
    for stage in scenario["stages"]:
        values |= {stage["arn"].rsplit("/", 1)[-1], stage.get("name") or ""}
        for session in stage["sessions"]:
            values.add(session["sessionId"])
            for person in session["participants"]:
                values |= {person["participantId"], person.get("userId") or ""}
                for event in person["events"]:
                    values |= {event["name"], event.get("errorCode") or ""}
    return values - {""}


def broken(text: str, values: set[str]) -> list[str]:
    """The words of `text` that are the start or the end of a value but not the whole of it
    (`st-Ufj` / `9bKCOL`), or a value shortened into something else than its head and tail
    around an ellipsis."""
    found = []
    for word in re.findall(r"[^\s,()]+", text):
        if word in values:
            continue
        if "…" in word:
            head, tail = word.split("…", 1)
            if not any(v.startswith(head) and v.endswith(tail) for v in values):
                found.append(word)
        elif len(word) >= 4 and any(v.startswith(word) or v.endswith(word) for v in values):
            found.append(word)
    return found


QUERIES_SHOWN = ("errors_by_code", "publish_time", "publisher_audience", "session_timeline")


def shown_on(columns: int, archive: Path) -> list[str]:
    status, shown, errors = on_terminal(
        "query", "--dir", archive, *QUERIES_SHOWN, columns=columns, timeout=60
    )
    assert status == 0, errors
    return ANSI.sub("", shown).replace("\r", "").splitlines()


def test_on_an_80_column_terminal_no_value_is_broken(scenario, archive):
    """A table too wide shortens its longest words in the middle (and says so), or shows its
    rows as records when even that does not fit; no value is ever split across lines."""
    lines = shown_on(80, archive)
    assert max(map(len, lines)) <= 80
    text = "\n".join(lines)
    values = known_values(scenario)
    assert broken(text, values) == []
    assert "…" in text  # errors_by_code and publisher_audience fit only shortened
    assert "… marks values shortened to fit: piped (| less -S) they are whole" in text.replace(
        "\n", " "
    )
    # publish_time and session_timeline cannot fit at all: one record per row, values whole.
    records = [line for line in lines if re.fullmatch(r"── \d+ ─+", line)]
    assert records
    ids = [line.split()[1] for line in lines if re.fullmatch(r"session_id +st-\S+", line)]
    assert ids and set(ids) <= values
    columns, rows = run_query(archive, "publish_time")
    first = dict(zip(columns, rows[0], strict=True))
    assert f"participant_id  {first['participant_id']}" in text


def test_on_a_200_column_terminal_every_table_fits_whole(scenario, archive):
    lines = shown_on(200, archive)
    assert max(map(len, lines)) <= 200
    text = "\n".join(lines)
    assert broken(text, known_values(scenario)) == []
    assert "…" not in text and not any(re.fullmatch(r"── \d+ ─+", line) for line in lines)
    header = next(line for line in lines if line.startswith("stage_name "))
    assert header.split() == [
        "stage_name", "session_id", "event_time", "elapsed", "participant_id", "user_id",
        "event_seq", "event_name", "remote_participant_id", "error_code",
    ]  # fmt: skip


def test_into_a_pipe_tables_keep_their_natural_width(archive):
    result = local("query", "--dir", archive, "publish_time", "stage_health", timeout=60)
    assert result.returncode == 0, result.stderr
    headers = [line.split() for line in result.stdout.splitlines()]
    publish = ["session_id", "participant_id", "user_id", "publishes", "publish"]
    assert any(h[:5] == publish for h in headers)
    assert any(h[:3] == ["day", "stage_id", "stage_name"] for h in headers)
    assert "publish_ms" not in result.stdout  # shown as a duration, under its name without unit
    rows = [h for h in headers if h and h[0].startswith("st-")]
    assert rows and all(re.fullmatch(r"\d+h|\d+m|[\d.]+s|\d+ms", r[4]) for r in rows)
    assert "…" not in result.stdout  # nothing shortened, nothing wrapped
    assert max(map(len, result.stdout.splitlines())) > 100


@pytest.mark.parametrize(
    ("seconds", "text"),
    [
        (0, "0s"),
        (0.25, "250ms"),
        (10.5, "10.5s"),
        (59.99, "59.9s"),
        (61, "1m 1s"),
        (13_930, "3h 52m"),
        (183_600, "2d 3h"),
        (-5, "-5s"),
    ],
)
def test_durations_read_as_durations(seconds, text):
    assert duration(seconds) == text


@pytest.mark.parametrize(
    ("text", "width", "short"),
    [
        ("st-Ufj9bKCOLKD6j", 16, "st-Ufj9bKCOLKD6j"),
        ("st-Ufj9bKCOLKD6j", 10, "st-Uf…KD6j"),
        ("st-Ufj9bKCOLKD6j", 11, "st-Uf…LKD6j"),
        ("INTERNAL_SERVER_EXCEPTION", 13, "INTERN…EPTION"),
        ("会議室ステージ", 9, "会議…ージ"),  # wide characters: two cells each
    ],
)
def test_a_value_is_shortened_in_the_middle(text, width, short):
    assert shortened(text, width) == short
    assert cell_len(short) <= width


def test_counts_read_in_the_singular_for_one():
    assert [counted(n, "stage") for n in (0, 1, 2, 1000)] == [
        "0 stages", "1 stage", "2 stages", "1,000 stages",
    ]  # fmt: skip


def test_cells():
    assert cell(13_930_000, "publish_ms") == "3h 52m"
    assert cell(65, "elapsed_s") == "1m 5s"
    assert cell(datetime(2026, 1, 2, 3, 4, 5, 678_000)) == "2026-01-02 03:04:05"
    assert cell(1234567) == "1,234,567"
    assert cell(None, "publish_ms") == "null"
    assert cell(True) == "true"
