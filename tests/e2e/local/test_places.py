"""`python -m local run` over several places (issue 17): a collector per (account, region), each
at its own simulator and quota, all committing into the one home catalog; every session exactly
once in the query tables, whatever place it came from; a place that fails holds up no other."""

from __future__ import annotations

import json
import threading
from datetime import datetime, timedelta
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from typing import Any

from local.pipeline import Options
from local.places import Place, PlacesRun, places_of
from tests.helpers.archive import (
    KEYS,
    expected_events,
    expected_participants,
    expected_sessions,
    keyed,
    read_query_table,
    read_table,
)
from tests.helpers.cli import local
from tests.helpers.scenario import build_scenario, iso

EU = "eu-west-1"


def _shift(value: Any, by: timedelta) -> Any:
    """`value` with every time of a session (start, end, events, joins) moved by `by`."""
    if isinstance(value, dict):
        return {
            key: (
                iso(datetime.fromisoformat(item.replace("Z", "+00:00")) + by)
                if key in ("startTime", "endTime", "eventTime", "firstJoinTime") and item
                else _shift(item, by)
            )
            for key, item in value.items()
        }
    if isinstance(value, list):
        return [_shift(item, by) for item in value]
    return value


def _same_stage_in_two_regions() -> dict[str, Any]:
    """Two stages in us-east-1, and the first again in eu-west-1 with the same stage id and the
    same session ids (stage ids are unique per region only); one session of each region runs
    over midnight, its participants leaving after it."""
    scenario = build_scenario(stages=2, sessions=3, participants=4, events=3)
    first = scenario["stages"][0]
    # 10:00 + 13 h 40 min: from 23:40 to 00:30 the next day; everyone leaves at 00:10.
    late = _shift(first["sessions"][0], timedelta(hours=13, minutes=40))
    for participant in late["participants"]:
        leaving = datetime.fromisoformat(late["endTime"].replace("Z", "+00:00"))
        participant["events"][-1]["eventTime"] = iso(leaving - timedelta(minutes=20))
    first["sessions"][0] = late
    twin = json.loads(json.dumps(first).replace(":us-east-1:", f":{EU}:"))
    scenario["stages"].append(twin)
    return scenario


def _run(tmp_path: Path, scenario: dict[str, Any], *flags: object) -> tuple[Any, dict[str, Any]]:
    path = tmp_path / "scenario.json"
    path.write_text(json.dumps(scenario), encoding="utf-8")
    stats = tmp_path / "stats.json"
    out = tmp_path / "out"
    result = local(
        "run", "--scenario", path, "--out", out, "--stats", stats, *flags, timeout=300
    )  # fmt: skip
    assert result.returncode == 0, result.stdout + result.stderr
    return out, json.loads(stats.read_text(encoding="utf-8"))


def _assert_exactly_once(out: Path, scenario: dict[str, Any]) -> None:
    """The query tables (the home catalog) and the landing objects both hold every ended
    session of every place once and whole; keys fail on a duplicate."""
    expected = {
        "participant_events": expected_events(scenario),
        "participants": expected_participants(scenario, details=True),
        "stage_sessions": expected_sessions(scenario),
    }
    for table, columns in KEYS.items():
        for rows in (read_query_table(out, table), read_table(out, table)):
            found = keyed(rows, *columns)
            if table == "stage_sessions":
                found = {
                    k: {c: v for c, v in r.items() if c != "archived_at"} for k, r in found.items()
                }
            assert found == expected[table], table


def test_two_places_with_the_same_stage_id_archive_exactly_once_into_one_catalog(
    tmp_path: Path,
) -> None:
    scenario = _same_stage_in_two_regions()
    out, stats = _run(tmp_path, scenario, "--tps", 50)
    _assert_exactly_once(out, scenario)
    east, west = "123456789012/us-east-1", f"123456789012/{EU}"
    assert set(stats["places"]) == {east, west}
    assert stats["places"][east]["sessions_archived"] == 6
    assert stats["places"][west]["sessions_archived"] == 3
    assert stats["sessions_archived"] == 9
    # Each collector asked its own region only: its own stages, its own sessions.
    for name, sessions in ((east, 6), (west, 3)):
        calls = stats["places"][name]["api_calls"]
        assert calls["ListStages"] >= 1
        assert calls["GetStageSession"] == sessions, name
    assert stats["api_calls"]["ListStages"] == sum(
        p["api_calls"]["ListStages"] for p in stats["places"].values()
    )
    assert stats["elapsed_s"] == max(p["elapsed_s"] for p in stats["places"].values())
    # The rows say where they came from: the same stage id in both regions, told apart.
    regions = {(r["stage_arn"], r["region"]) for r in read_query_table(out, "stage_sessions")}
    assert {region for _, region in regions} == {"us-east-1", EU}
    assert all(f":{region}:" in arn for arn, region in regions)


def test_four_places_of_a_generated_scenario_archive_exactly_once(tmp_path: Path) -> None:
    path = tmp_path / "scenario.json"
    generated = local(
        "generate", "--stages", 8, "--sessions", 3, "--participants", 4, "--seed", 5,
        "--regions", "us-east-1,ap-northeast-1", "--accounts", 2, "--out", path,
    )  # fmt: skip
    assert generated.returncode == 0, generated.stderr
    scenario = json.loads(path.read_text(encoding="utf-8"))
    assert len(places_of(scenario)) == 4
    out, stats = _run(tmp_path, scenario, "--tps", 500)
    _assert_exactly_once(out, scenario)
    ended = {
        place.name: sum(1 for s in part["stages"] for x in s["sessions"] if x["endTime"])
        for place, part in places_of(scenario).items()
    }
    assert {name: p["sessions_archived"] for name, p in stats["places"].items()} == ended
    assert {r["account_id"] for r in read_query_table(out, "participants")} == {
        name.split("/")[0] for name in ended
    }


def test_live_replays_one_place_and_says_so(tmp_path: Path) -> None:
    path = tmp_path / "scenario.json"
    path.write_text(json.dumps(_same_stage_in_two_regions()), encoding="utf-8")
    result = local("run", "--scenario", path, "--out", tmp_path / "out", "--live")
    assert result.returncode == 2
    [line] = result.stderr.splitlines()
    assert "--live: replays one place; the scenario spans 2 " in line
    assert not (tmp_path / "out").exists()


class Refusing(BaseHTTPRequestHandler):
    """An IVS that refuses every call, as to a role without permission there: 403, at once."""

    def do_POST(self) -> None:
        self.rfile.read(int(self.headers.get("Content-Length", 0)))
        body = json.dumps({"message": "not authorized"}).encode()
        self.send_response(403)
        self.send_header("x-amzn-ErrorType", "AccessDeniedException")
        self.send_header("Content-Type", "application/json")
        self.send_header("Content-Length", str(len(body)))
        self.end_headers()
        self.wfile.write(body)

    def log_message(self, *args: object) -> None:
        pass


def test_a_place_whose_ivs_refuses_holds_up_no_other(tmp_path: Path) -> None:
    """eu-west-1's IVS refuses every call: its discovery fails three times and says so, its
    collector ends on its own, and us-east-1 archives every session of its own, exactly once.
    (A place that keeps timing out is issue 19's outage.)"""
    scenario = _same_stage_in_two_regions()
    options = Options(tables_dir=tmp_path / "out", tps=500).as_deployed(100)
    down = Place("123456789012", EU)
    east = "123456789012/us-east-1"
    server = ThreadingHTTPServer(("127.0.0.1", 0), Refusing)
    threading.Thread(target=server.serve_forever, daemon=True).start()
    try:
        with PlacesRun(scenario, options) as run:
            run.endpoints[down] = f"http://127.0.0.1:{server.server_address[1]}"
            run.run()
            run.mirror(tmp_path / "out")
            stats = run.stats()
            assert run.reports[down]["not_queued"].startswith(
                "discovery failed 3 times: AccessDeniedException: An error occurred "
                "(AccessDeniedException) when calling the ListStages operation"
            )
            assert run.reports[Place("123456789012", "us-east-1")]["not_queued"] == ""
    finally:
        server.shutdown()
    assert stats["places"][down.name]["sessions_archived"] == 0
    assert stats["places"][east]["sessions_archived"] == 6
    healthy_part = {"stages": [s for s in scenario["stages"] if ":us-east-1:" in s["arn"]]}
    _assert_exactly_once(tmp_path / "out", healthy_part)
