"""`python -m bench coldstart`: what importing each Lambda handler costs a cold container.

Each case imports one thing in a fresh Python process (the venv's, with the Lambda package on
sys.path, as Lambda imports the handler module before the first invocation) and times only the
import. The baseline is what any archiver in Python pays, `import boto3, pyarrow.parquet`; the
ratio of each handler's median to the baseline's is the figure docs/performance.md quotes
(goal: at most 1.5). The cases take turns, so a busy machine slows them alike. One untimed round
first writes the byte code caches, so every timed run reads them, as the runtime's own modules
are read; `--from-source` times imports that compile every module instead (an asset without byte
code). `--split` says where a handler's import time goes, by top-level package (`-X importtime`,
each module's own time).
"""

from __future__ import annotations

import argparse
import importlib.metadata
import json
import os
import platform
import statistics
import subprocess
import sys
import tempfile
from pathlib import Path

from packaging.requirements import Requirement
from packaging.utils import canonicalize_name

from archiver.observability import ENVIRONMENT as POWERTOOLS_ENVIRONMENT
from archiver.settings import Settings

ROOT = Path(__file__).resolve().parent.parent
LAMBDAS = ROOT / "lambdas"
REQUIREMENTS = ROOT / "requirements.txt"
GOAL = 1.5
BASELINE = "baseline"
CASES = {
    BASELINE: "import boto3, pyarrow.parquet",
    "archive handler": "import archiver.handlers.archive",
    "discover handler": "import archiver.handlers.discover",
    # The rest of a cold start before the first call: settings and the IVS model check.
    "archive + runtime()": "import archiver.handlers.archive; archiver.runtime.runtime()",
}
# What the functions' environment holds at import time, as infra/archiver.py writes it.
LAMBDA_ENVIRONMENT = {
    **Settings(
        bucket_name="bench-archive",
        ledger_table="bench-ledger",
        queue_url="https://sqs.us-east-1.amazonaws.com/123456789012/bench-work",
    ).to_env(),
    **POWERTOOLS_ENVIRONMENT,
    "PYDANTIC_DISABLE_PLUGINS": "__all__",
    "AWS_DEFAULT_REGION": "us-east-1",
    "AWS_REGION": "us-east-1",
}
HANDLERS = ("archive handler", "discover handler")
_TIMED = (
    "import time\nw, c = time.perf_counter(), time.process_time()\n{statement}\n"
    "print(time.perf_counter() - w, time.process_time() - c)\n"
)


def requirement_closure(requirements: Path) -> set[str]:
    """Every distribution requirements.txt pulls in, extras and markers applied, as installed
    in this venv (which installs requirements.txt too)."""
    pending = [
        Requirement(line.split("#")[0].strip())
        for line in requirements.read_text().splitlines()
        if line.split("#")[0].strip() and not line.startswith("-")
    ]
    seen: set[tuple[str, frozenset[str]]] = set()
    while pending:
        requirement = pending.pop()
        key = (canonicalize_name(requirement.name), frozenset(requirement.extras))
        if key in seen:
            continue
        seen.add(key)
        for text in importlib.metadata.requires(requirement.name) or []:
            dependency = Requirement(text)
            extras = {"", *requirement.extras}
            if dependency.marker is None or any(
                dependency.marker.evaluate({"extra": extra}) for extra in extras
            ):
                pending.append(dependency)
    return {name for name, _ in seen}


def lambda_site(requirements: Path, into: Path) -> Path:
    """A folder holding what the asset holds, linked from this venv (host builds, byte code
    included): the distributions `requirements` pulls in, and nothing else the venv has."""
    closure = requirement_closure(requirements)
    for dist in importlib.metadata.distributions():
        if canonicalize_name(dist.metadata["Name"]) not in closure:
            continue
        site = Path(str(dist.locate_file("")))
        for top in {f.parts[0] for f in dist.files or [] if f.parts and f.parts[0] != ".."}:
            if not (into / top).exists():
                (into / top).symlink_to(site / top)
    return into


def _run(
    statement: str, site: Path, *options: str, no_cache: Path | None = None
) -> subprocess.CompletedProcess[str]:
    """`statement` in a fresh process that sees only what the asset holds (with `no_cache`, an
    empty folder: every module compiled from source, nothing written back)."""
    env = {
        k: v
        for k, v in os.environ.items()
        if not k.startswith(("PYTHON", "POWERTOOLS_", "PYDANTIC_"))
    }
    env |= LAMBDA_ENVIRONMENT | {"PYTHONPATH": os.pathsep.join([str(LAMBDAS), str(site)])}
    if no_cache is not None:
        env |= {"PYTHONPYCACHEPREFIX": str(no_cache), "PYTHONDONTWRITEBYTECODE": "1"}
    result = subprocess.run(
        # -S: no site-packages, so that only what the asset holds can be imported, as on Lambda.
        [sys.executable, "-S", *options, "-c", statement],
        capture_output=True,
        text=True,
        check=False,
        env=env,
        cwd=ROOT,
    )
    if result.returncode != 0:
        raise RuntimeError(f"{statement!r} failed: {result.stderr.strip().splitlines()[-1]}")
    return result


def import_seconds(statement: str, site: Path, no_cache: Path | None = None) -> tuple[float, float]:
    """Wall and CPU seconds one fresh process spends on `statement` (start-up excluded)."""
    result = _run(_TIMED.format(statement=statement), site, no_cache=no_cache)
    wall, cpu = result.stdout.split()[-2:]
    return float(wall), float(cpu)


def measure(runs: int, *, from_source: bool = False) -> dict[str, list[tuple[float, float]]]:
    times: dict[str, list[tuple[float, float]]] = {name: [] for name in CASES}
    with (
        tempfile.TemporaryDirectory(prefix="lambda-site-") as folder,
        tempfile.TemporaryDirectory(prefix="no-byte-code-") as empty,
    ):
        site = lambda_site(REQUIREMENTS, Path(folder))
        no_cache = Path(empty) if from_source else None
        for statement in CASES.values():
            import_seconds(statement, site)  # untimed: byte code caches written
        for _ in range(runs):
            for name, statement in CASES.items():
                times[name].append(import_seconds(statement, site, no_cache))
    return times


def split(statement: str, runs: int) -> dict[str, float]:
    """Where `statement`'s import time goes: each top-level package's modules' own time
    (`-X importtime`'s self column), the median over `runs` fresh processes, in ms."""
    by_run: list[dict[str, float]] = []
    with tempfile.TemporaryDirectory(prefix="lambda-site-") as folder:
        site = lambda_site(REQUIREMENTS, Path(folder))
        _run(statement, site)  # untimed: byte code caches written
        for _ in range(runs):
            totals: dict[str, float] = {}
            for line in _run(statement, site, "-X", "importtime").stderr.splitlines():
                if not line.startswith("import time:") or "self [us]" in line:
                    continue
                own, _, name = (part.strip() for part in line.split(":", 1)[1].split("|"))
                top = name.split(".")[0]
                totals[top] = totals.get(top, 0.0) + int(own) / 1000
            by_run.append(totals)
    packages = {name for totals in by_run for name in totals}
    medians = {p: statistics.median(t.get(p, 0.0) for t in by_run) for p in packages}
    return dict(sorted(medians.items(), key=lambda item: -item[1]))


def report(times: dict[str, list[tuple[float, float]]]) -> dict[str, dict[str, float]]:
    """Per case: median wall and CPU seconds, and each as a ratio to the baseline's."""
    medians = {
        name: (statistics.median(w for w, _ in runs), statistics.median(c for _, c in runs))
        for name, runs in times.items()
    }
    base_wall, base_cpu = medians[BASELINE]
    return {
        name: {
            "wall_s": round(wall, 4),
            "cpu_s": round(cpu, 4),
            "wall_ratio": round(wall / base_wall, 2),
            "cpu_ratio": round(cpu / base_cpu, 2),
        }
        for name, (wall, cpu) in medians.items()
    }


def _parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(prog="python -m bench coldstart", description=__doc__)
    parser.add_argument("--runs", type=int, default=15, help="fresh processes per case")
    parser.add_argument("--out", type=Path, help="also write the figures as JSON")
    parser.add_argument(
        "--from-source",
        action="store_true",
        help="time imports that compile every module (an asset without byte code)",
    )
    parser.add_argument(
        "--split",
        choices=sorted(HANDLERS),
        help="instead: where this handler's import time goes, by top-level package",
    )
    return parser


def main(argv: list[str] | None = None) -> int:
    parser = _parser()
    args = parser.parse_args(argv)
    if args.runs < 1:
        parser.error("--runs must be at least 1")
    if args.split:
        print(f"{CASES[args.split]}: median own import time by package, {args.runs} processes")
        for package, ms in split(CASES[args.split], args.runs).items():
            if ms >= 0.5:
                print(f"  {package:<28} {ms:>6.1f} ms")
        return 0
    load = os.getloadavg()[0]
    print(
        f"median of {args.runs} fresh processes per case, {os.cpu_count()} CPUs, "
        f"Python {platform.python_version()}, load average {load:.2f}",
        flush=True,
    )
    for name, statement in CASES.items():
        print(f"  {name}: {statement}")
    if args.from_source:
        print("  every module compiled from source (no byte code)")
    figures = report(measure(args.runs, from_source=args.from_source))
    print(f"{'case':<22}  {'wall ms':>7}  {'ratio':>5}  {'CPU ms':>6}  {'ratio':>5}")
    for name, f in figures.items():
        print(
            f"{name:<22}  {f['wall_s'] * 1000:>7.0f}  {f['wall_ratio']:>5.2f}"
            f"  {f['cpu_s'] * 1000:>6.0f}  {f['cpu_ratio']:>5.2f}"
        )
    # CPU time is what a busy machine distorts least; on an idle one the two agree.
    worst = max(figures[name]["cpu_ratio"] for name in HANDLERS)
    verdict = "met" if worst <= GOAL else "NOT met"
    print(f"goal: each handler at most {GOAL}x the baseline (CPU): {verdict}")
    print(f"load average after: {os.getloadavg()[0]:.2f} (a busy machine inflates wall times)")
    if args.out:
        args.out.parent.mkdir(parents=True, exist_ok=True)
        machine = {
            "cpus": os.cpu_count(),
            "python": platform.python_version(),
            "load_average": [round(load, 2), round(os.getloadavg()[0], 2)],
        }
        document = {"runs": args.runs, "machine": machine, "cases": figures}
        args.out.write_text(json.dumps(document, indent=2) + "\n")
    return 0
