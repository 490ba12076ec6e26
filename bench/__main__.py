"""`python -m bench` (`make bench`): quota-bound throughput of the archiver on the simulator.

For sessions of each size, with participant details on and off: the archiver (the real archive
Lambda handler in a worker process) and the baseline (`bench.baseline`, the sequential loop a
user would write first), each against a fresh simulator that enforces the quota and adds latency.
Prints a table and writes JSON (default bench/results/latest.json).
"""

from __future__ import annotations

import argparse
import json
import os
import platform
import sys
import time
from pathlib import Path
from typing import Any

from bench.runner import ROOT, Setup, measure
from bench.scenario import bench_scenario

COLUMNS = (
    ("participants", ">12"),
    ("events", ">9"),
    ("details", "^7"),
    ("calls=min", "^9"),
    ("elapsed s", ">9"),
    ("ideal s", ">8"),
    ("ratio", ">6"),
    ("floor", ">6"),
    ("throttled", ">9"),
    ("peak MB", ">8"),
    ("baseline s", ">10"),
    ("speedup", ">7"),
    ("base MB", ">7"),
)


def _sizes(text: str) -> list[int]:
    return [int(part.replace("_", "")) for part in text.split(",") if part]


def _parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(prog="python -m bench", description=__doc__)
    parser.add_argument("--sizes", type=_sizes, default=[100, 1000, 10000])
    parser.add_argument("--details", choices=("on", "off", "both"), default="both")
    parser.add_argument("--tps", type=float, default=100.0, help="simulated quota per operation")
    parser.add_argument("--budget", type=float, default=80.0, help="the archiver's budget")
    parser.add_argument("--latency-ms", type=float, default=40.0)
    parser.add_argument("--events", type=int, default=26, help="events per participant")
    parser.add_argument(
        "--participant-order",
        choices=("participantId", "firstJoinTime"),
        default="participantId",
        help="the order the simulator lists participants in (IVS documents none)",
    )
    parser.add_argument(
        "--baseline-max", type=int, default=10_000, help="no baseline above this many participants"
    )
    parser.add_argument("--out", type=Path, default=ROOT / "bench" / "results" / "latest.json")
    return parser


def _row(archived: dict[str, Any], baseline: dict[str, Any] | None) -> list[str]:
    throttled = f"{archived['throttled']}"
    if archived["throttled"]:
        throttled += f" ({archived['throttled_after_1s']} >1s)"
    cells = [
        f"{archived['participants']:,}",
        f"{archived['events']:,}",
        "on" if archived["details"] else "off",
        "yes" if archived["calls_at_minimum"] else "NO",
        f"{archived['elapsed_s']:.1f}",
        f"{archived['ideal_s']:.1f}",
        f"{archived['elapsed_over_ideal']:.3f}",
        f"{archived['floor_over_ideal']:.3f}",
        throttled,
        f"{archived['peak_rss_mb']:.0f}",
    ]
    if baseline is None:
        return [*cells, "-", "-", "-"]
    speedup = baseline["elapsed_s"] / archived["elapsed_s"]
    return [
        *cells,
        f"{baseline['elapsed_s']:.1f}",
        f"{speedup:.1f}x",
        f"{baseline['peak_rss_mb']:.0f}",
    ]


def _print_row(cells: list[str]) -> None:
    print("  ".join(f"{cell:{spec}}" for cell, (_, spec) in zip(cells, COLUMNS, strict=True)))


def main(argv: list[str] | None = None) -> int:
    argv = sys.argv[1:] if argv is None else argv
    if argv[:1] == ["coldstart"]:
        from bench import coldstart

        return coldstart.main(argv[1:])
    if argv[:1] == ["fleet"]:
        from bench import fleet

        return fleet.main(argv[1:])
    if argv[:1] == ["year"]:
        from bench import year

        return year.main(argv[1:])
    if argv[:1] == ["commits"]:
        from bench import commits

        return commits.main(argv[1:])
    if argv[:1] == ["storage"]:
        from bench import storage

        return storage.main(argv[1:])
    args = _parser().parse_args(argv)
    setup = Setup(
        tps=args.tps,
        budget=args.budget,
        latency_ms=args.latency_ms,
        participant_order=args.participant_order,
    )
    details = {"on": [True], "off": [False], "both": [True, False]}[args.details]
    print(
        f"quota {setup.tps:g} TPS per operation, budget {setup.budget:g}, latency "
        f"{setup.latency_ms:g} ms (uniform 50-150%), chunks of {setup.chunk_size}, "
        f"participants listed by {setup.participant_order}, "
        f"{os.cpu_count()} CPUs, Python {platform.python_version()}",
        flush=True,
    )
    _print_row([name for name, _ in COLUMNS])
    cases: list[dict[str, Any]] = []
    started = time.monotonic()
    for size in args.sizes:
        scenario = bench_scenario(size, events=args.events)
        for with_details in details:
            archived = measure(scenario, "archiver", with_details, setup)
            cases.append(archived)
            baseline = None
            if size <= args.baseline_max:
                baseline = measure(scenario, "baseline", with_details, setup)
                cases.append(baseline)
            _print_row(_row(archived, baseline))
            sys.stdout.flush()
    report = {
        "setup": vars(setup) | {"events_per_participant": args.events},
        "machine": {"cpus": os.cpu_count(), "python": platform.python_version()},
        "total_s": round(time.monotonic() - started, 1),
        "cases": cases,
    }
    incomplete = [c for c in cases if not c["rows_complete"]]
    for case in incomplete:
        print(
            f"ERROR: {case['mode']} archived {case['rows']} of {case['participants']} "
            f"participants and {case['events']} events",
            file=sys.stderr,
        )
    args.out.parent.mkdir(parents=True, exist_ok=True)
    args.out.write_text(json.dumps(report, indent=2) + "\n")
    print(f"wrote {args.out} ({report['total_s']:.0f} s)")
    return 1 if incomplete else 0


if __name__ == "__main__":
    sys.exit(main())
