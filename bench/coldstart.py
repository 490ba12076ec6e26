"""`python -m bench coldstart`: what importing each Lambda handler costs a cold container.

Each case imports one thing in a fresh Python process (the venv's, with the Lambda package on
sys.path, as Lambda imports the handler module before the first invocation) and times only the
import. The baseline is what any archiver in Python pays, `import boto3, pyarrow.parquet`; the
ratio of each handler's median to the baseline's is the figure the README quotes (goal: at most
1.5). The cases take turns, so a busy machine slows them alike. One untimed round first writes
the byte code caches, so every timed run reads them, as the runtime's own modules are read.
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
# What the functions' environment holds at import time (infra/archiver.py sets the same).
LAMBDA_ENVIRONMENT = {
    "POWERTOOLS_SERVICE_NAME": "ivs-stage-archive",
    "POWERTOOLS_METRICS_NAMESPACE": "IVSStageArchive",
    "POWERTOOLS_LOG_LEVEL": "INFO",
    "PYDANTIC_DISABLE_PLUGINS": "__all__",
    "AWS_DEFAULT_REGION": "us-east-1",
    "AWS_REGION": "us-east-1",
    "ARCHIVE_BUCKET": "bench-archive",
    "LEDGER_TABLE": "bench-ledger",
    "WORK_QUEUE_URL": "https://sqs.us-east-1.amazonaws.com/123456789012/bench-work",
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


def import_seconds(statement: str, site: Path) -> tuple[float, float]:
    """Wall and CPU seconds one fresh process spends on `statement` (start-up excluded)."""
    env = {
        k: v
        for k, v in os.environ.items()
        if not k.startswith(("PYTHON", "POWERTOOLS_", "PYDANTIC_"))
    }
    env |= LAMBDA_ENVIRONMENT | {"PYTHONPATH": os.pathsep.join([str(LAMBDAS), str(site)])}
    result = subprocess.run(
        # -S: no site-packages, so that only what the asset holds can be imported, as on Lambda.
        [sys.executable, "-S", "-c", _TIMED.format(statement=statement)],
        capture_output=True,
        text=True,
        check=False,
        env=env,
        cwd=ROOT,
    )
    if result.returncode != 0:
        raise RuntimeError(f"{statement!r} failed: {result.stderr.strip().splitlines()[-1]}")
    wall, cpu = result.stdout.split()[-2:]
    return float(wall), float(cpu)


def measure(runs: int) -> dict[str, list[tuple[float, float]]]:
    times: dict[str, list[tuple[float, float]]] = {name: [] for name in CASES}
    with tempfile.TemporaryDirectory(prefix="lambda-site-") as folder:
        site = lambda_site(REQUIREMENTS, Path(folder))
        for statement in CASES.values():
            import_seconds(statement, site)  # untimed: byte code caches written
        for _ in range(runs):
            for name, statement in CASES.items():
                times[name].append(import_seconds(statement, site))
    return times


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
    return parser


def main(argv: list[str] | None = None) -> int:
    parser = _parser()
    args = parser.parse_args(argv)
    if args.runs < 1:
        parser.error("--runs must be at least 1")
    load = os.getloadavg()[0]
    print(
        f"median of {args.runs} fresh processes per case, {os.cpu_count()} CPUs, "
        f"Python {platform.python_version()}, load average {load:.2f}",
        flush=True,
    )
    for name, statement in CASES.items():
        print(f"  {name}: {statement}")
    figures = report(measure(args.runs))
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
