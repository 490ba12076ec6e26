"""`python -m local` tried as a new user would: every bad input is one line on standard error
naming the flag or the JSON path, exit status 2, before any work; every option says what it is;
the project describes itself in docs/design.md."""

from __future__ import annotations

import argparse
import json
import re
import subprocess
import sys
from collections.abc import Callable
from pathlib import Path
from typing import Any

import pytest

from local.__main__ import parser
from local.generator import dumps, generate_scenario
from tests.helpers.cli import ROOT, local
from tests.helpers.scenario import build_scenario


def _files(folder: Path) -> set[Path]:
    return set(folder.rglob("*"))


def _one_line_error(result: subprocess.CompletedProcess[str], *named: str) -> str:
    assert result.returncode == 2, result.stderr
    assert result.stdout == ""
    assert "Traceback" not in result.stderr
    [line] = result.stderr.splitlines()
    for name in named:
        assert name in line, line
    return line


Setup = Callable[[Path], list[str]]


def _scenario_file(content: bytes) -> Setup:
    def setup(tmp: Path) -> list[str]:
        (tmp / "s.json").write_bytes(content)
        return ["--scenario", str(tmp / "s.json")]

    return setup


def _bad_path(flag: str, make: Callable[[Path], Path]) -> Setup:
    return lambda tmp: [flag, str(make(tmp))]


def _file(tmp: Path) -> Path:
    (tmp / "a-file").write_text("keep me")
    return tmp / "a-file"


def _folder(tmp: Path) -> Path:
    (tmp / "a-folder").mkdir(exist_ok=True)
    return tmp / "a-folder"


def _archive_in(*names: str) -> Setup:
    """An --out that holds part of an archive already: `names`, files (a folder's end with /
    hold one file)."""

    def setup(tmp: Path) -> list[str]:
        out = tmp / "old-archive"
        for name in names:
            path = out / name / "notes.txt" if name.endswith("/") else out / name
            path.parent.mkdir(parents=True, exist_ok=True)
            path.write_text("keep me")
        return ["--out", str(out)]

    return setup


_INVALID = build_scenario()
_INVALID["stages"][0]["sessions"][0]["participants"][1]["events"][0]["name"] = "JOIN"

RUN_CASES: dict[str, tuple[Setup, tuple[str, ...]]] = {
    "missing scenario": (lambda tmp: ["--scenario", str(tmp / "nope.json")], ("--scenario",)),
    "malformed scenario": (_scenario_file(b'{"stages": ['), ("--scenario", "not valid JSON")),
    "non-UTF-8 scenario": (_scenario_file(b'{"stages": []}\xff'), ("--scenario", "UTF-8")),
    "invalid scenario": (
        _scenario_file(json.dumps(_INVALID).encode()),
        ("--scenario", "stages[0].sessions[0].participants[1].events[0].name", "'JOIN'"),
    ),
    "scenario is a folder": (_bad_path("--scenario", _folder), ("--scenario",)),
    "tps 0": (lambda tmp: ["--tps", "0"], ("--tps",)),
    "tps -1": (lambda tmp: ["--tps", "-1"], ("--tps",)),
    "tps nan": (lambda tmp: ["--tps", "nan"], ("--tps",)),
    "budget 0": (lambda tmp: ["--budget", "0"], ("--budget",)),
    "fault rate 1.5": (lambda tmp: ["--fault-rate", "1.5"], ("--fault-rate",)),
    "latency -5": (lambda tmp: ["--latency-ms", "-5"], ("--latency-ms",)),
    "out is a file": (_bad_path("--out", _file), ("--out", "a-file")),
    "out under a file": (_bad_path("--out", lambda tmp: _file(tmp) / "sub"), ("--out",)),
    "out cannot be made": (lambda tmp: ["--out", "/proc/ivs-archive/out"], ("--out", "/proc")),
    "out holds an archive": (_archive_in("catalog.db"), ("--out", "catalog.db", "--force")),
    "out holds files in a table's folder": (
        _archive_in("participants/"),
        ("--out", "participants/", "--force"),
    ),
    "stats cannot be made": (lambda tmp: ["--stats", "/proc/ivs-archive/s.json"], ("--stats",)),
    "stats is a folder": (_bad_path("--stats", _folder), ("--stats", "a-folder")),
    "lambda logs is a folder": (_bad_path("--lambda-logs", _folder), ("--lambda-logs",)),
    "details maybe": (lambda tmp: ["--participant-details", "maybe"], ("--participant-details",)),
    "outage without live": (lambda tmp: ["--outage", "60+120"], ("--outage: only with --live",)),
    "outage not start+duration": (
        lambda tmp: ["--live", "--outage", "60"],
        ("argument --outage: must be START+DURATION", "'60'"),
    ),
    "outage of no length": (
        lambda tmp: ["--live", "--outage", "0+60", "--outage", "60+0"],
        ("argument --outage: DURATION must be more than 0",),
    ),
    "neighbour takes the whole quota": (
        lambda tmp: ["--tps", "5", "--neighbour-tps", "5"],
        ("argument --neighbour-tps: must be less than --tps", "5 >= 5"),
    ),
    "neighbour -1": (lambda tmp: ["--neighbour-tps", "-1"], ("--neighbour-tps",)),
}


@pytest.mark.parametrize("case", sorted(RUN_CASES))
def test_bad_input_to_run_is_one_line_and_exit_2_before_any_work(case: str, tmp_path: Path) -> None:
    setup, named = RUN_CASES[case]
    args = setup(tmp_path)
    before = _files(tmp_path)
    out = ["--out", str(tmp_path / "out")] if "--out" not in args else []
    result = local("run", *out, *args, timeout=60)
    _one_line_error(result, *named)
    assert _files(tmp_path) == before  # nothing written: no out/, no stats, no logs
    assert "archiving" not in result.stderr  # no work started


@pytest.mark.parametrize(
    ("args", "named"),
    [
        (["--tps", "-5"], "--tps"),
        (["--tps", "0"], "--tps"),
        (["--latency-ms", "-1"], "--latency-ms"),
        (["--fault-rate", "2"], "--fault-rate"),
        (["--port", "70000"], "--port"),
        (["--seed", "x"], "--seed"),
    ],
)
def test_bad_input_to_simulate_is_refused(args: list[str], named: str, tmp_path: Path) -> None:
    path = tmp_path / "s.json"
    path.write_text(json.dumps(build_scenario()))
    # Accepted, the command would serve until interrupted: the timeout would fail the test.
    _one_line_error(local("simulate", "--scenario", path, *args, timeout=30), named)


def test_simulate_refuses_a_scenario_that_is_not_utf8(tmp_path: Path) -> None:
    path = tmp_path / "s.json"
    path.write_bytes(b"\xfe\xff{}")
    _one_line_error(local("simulate", "--scenario", path, timeout=30), "s.json", "UTF-8")


@pytest.mark.parametrize(
    ("args", "named"),
    [
        (["--stages", "0"], "--stages"),
        (["--sessions", "151"], "--sessions"),
        (["--participants", "-3"], "--participants"),
        (["--participants", "many"], "--participants"),
    ],
)
def test_bad_input_to_generate_is_refused(args: list[str], named: str) -> None:
    _one_line_error(local("generate", *args, timeout=30), named)


def test_generate_refuses_a_folder_as_out(tmp_path: Path) -> None:
    before = _files(tmp_path)
    _one_line_error(local("generate", "--out", tmp_path, timeout=30), "--out")
    assert _files(tmp_path) == before


# --- the project describes itself ---------------------------------------------------------------
def _options(parser: argparse.ArgumentParser) -> dict[str, list[argparse.Action]]:
    """Command -> its options (and positionals), --help left out."""
    [commands] = [a for a in parser._actions if isinstance(a, argparse._SubParsersAction)]
    return {
        name: [a for a in sub._actions if not isinstance(a, argparse._HelpAction)]
        for name, sub in commands.choices.items()
    }


def test_every_option_of_every_command_has_a_help_text() -> None:
    options = _options(parser())
    assert set(options) == {"simulate", "generate", "run", "query"}
    for command, actions in options.items():
        for action in actions:
            assert action.help and len(action.help) > 10, (command, action.dest)


def test_help_points_to_the_design_in_the_repository() -> None:
    result = local("--help", timeout=30)
    assert result.returncode == 0
    assert "docs/design.md" in result.stdout
    for command in ("simulate", "generate", "run", "query"):
        assert command in result.stdout
    assert (ROOT / "docs" / "design.md").is_file()


def test_no_reference_to_a_design_file_that_is_not_there() -> None:
    tracked = subprocess.run(
        ["git", "ls-files"], cwd=ROOT, capture_output=True, text=True, check=True
    ).stdout.split()
    for name in tracked:
        path = ROOT / name
        if path.suffix in (".py", ".md", ".toml", ".txt", ".sql") and path.is_file():
            text = path.read_text(encoding="utf-8")
            assert "DESIGN" + ".md" not in text, name  # (spelt apart, not to match itself)
            for mentioned in re.findall(r"\bdocs/[\w./-]+\.md\b", text):
                assert (ROOT / mentioned).is_file(), (name, mentioned)


def _contract_flags(design: str, command: str) -> set[str]:
    """The flags docs/design.md's local-mode contract gives `command`."""
    section = design.split("## Local, embedded mode", 1)[1].split("\n## ", 1)[0]
    [entry] = re.findall(rf"^- `{command} (.*?)(?=^- `|\Z)", section, re.M | re.S)
    return set(re.findall(r"--[a-z-]+", entry))


def test_the_contract_names_only_flags_the_commands_have() -> None:
    design = (ROOT / "docs" / "design.md").read_text(encoding="utf-8")
    options: dict[str, Any] = _options(parser())
    for command, actions in options.items():
        flags = {s for a in actions for s in a.option_strings}
        documented = _contract_flags(design, command)
        assert documented, command
        assert documented <= flags, (command, documented - flags)


# --- two front doors, one set of commands -------------------------------------------------------
def _front_doors() -> dict[str, dict[str, list[argparse.Action]]]:
    from console.parser import parser as console_parser

    [commands] = [a for a in console_parser()._actions if isinstance(a, argparse._SubParsersAction)]
    return {
        "python -m local": _options(parser()),
        "ivs-archive local": _options(commands.choices["local"]),
    }


def test_ivs_archive_local_takes_the_same_flags_as_python_m_local() -> None:
    doors = _front_doors()
    flags = {
        door: {
            name: sorted(s for a in actions for s in a.option_strings)
            for name, actions in options.items()
        }
        for door, options in doors.items()
    }
    assert flags["ivs-archive local"] == flags["python -m local"]
    assert set(flags["python -m local"]) == {"simulate", "generate", "run", "query"}


SCRIPT = Path(sys.executable).parent / "ivs-archive"


@pytest.mark.parametrize(
    ("args", "status", "says"),
    [
        (("run", "--tps", "0"), 2, "run: error: argument --tps: must be a number greater than 0"),
        (("run", "--scenaro", "x.json"), 2, "run: error: unrecognized arguments: --scenaro x.json"),
        (("run", "--speed", "60"), 2, "run: error: argument --speed: only with --live"),
        (("query", "--dir", "nowhere"), 2, "query: error: argument --dir: nowhere is not a folder"),
        (
            ("generate", "--stages", "0"),
            2,
            "generate: error: argument --stages: must be a whole number",
        ),
    ],
)
def test_both_front_doors_give_the_same_exit_status_and_error(
    tmp_path: Path, args: tuple[str, ...], status: int, says: str
) -> None:
    """From a folder outside the checkout: the installed command needs nothing of it."""
    by_module = subprocess.run(
        [sys.executable, "-m", "local", *args], cwd=tmp_path, capture_output=True, text=True
    )
    by_script = subprocess.run(
        [SCRIPT, "local", *args], cwd=tmp_path, capture_output=True, text=True
    )
    for done, prog in ((by_module, "python -m local"), (by_script, "ivs-archive local")):
        assert done.returncode == status, done.stderr
        assert done.stdout == ""
        [line] = done.stderr.splitlines()
        assert line.startswith(f"{prog} {says}"), line


# --- generate -----------------------------------------------------------------------------------
def test_same_seed_same_bytes_through_the_cli(tmp_path: Path) -> None:
    def generate(seed: int, name: str) -> bytes:
        out = tmp_path / name
        args = ["--stages", "2", "--sessions", "2", "--participants", "15", "--seed", str(seed)]
        subprocess.run(
            [sys.executable, "-m", "local", "generate", *args, "--out", str(out)],
            cwd=ROOT,
            check=True,
            capture_output=True,
        )
        return out.read_bytes()

    first, again, other = generate(7, "a.json"), generate(7, "b.json"), generate(8, "c.json")
    assert first == again
    assert first != other
    scenario = generate_scenario(stages=2, sessions=2, participants=15, seed=7)
    assert dumps(scenario).encode() == first
    assert json.loads(first) == scenario
    assert re.search(
        rb'\n +\{"name": "JOINED", "participantId": "\w+", "eventTime": "[^"]+", ', first
    )
