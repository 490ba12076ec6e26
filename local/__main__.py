"""`python -m local <command>`: the embedded stand-ins' command line (contract in DESIGN.md)."""

from __future__ import annotations

import argparse
import sys
from pathlib import Path


def _parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(prog="python -m local", description=__doc__)
    commands = parser.add_subparsers(dest="command", required=True)

    sim = commands.add_parser("simulate", help="serve IVS Real-Time from a scenario on 127.0.0.1")
    sim.add_argument("--scenario", type=Path, required=True)
    sim.add_argument("--port", type=int, default=0, help="0 picks a free port")
    sim.add_argument("--tps", type=float, default=5.0, help="quota per operation")
    sim.add_argument("--latency-ms", type=float, default=0.0)
    sim.add_argument("--fault-rate", type=float, default=0.0)
    sim.add_argument("--seed", type=int, default=0)
    sim.add_argument(
        "--live", action="store_true", help="replay the scenario's timeline in simulated time"
    )
    sim.add_argument("--speed", type=float, help="live: simulated seconds per wall second (1)")
    sim.add_argument(
        "--event-loss", type=float, help="live: fraction of Stage Update events lost (0)"
    )
    sim.add_argument(
        "--event-delay-s",
        type=float,
        help="live: Stage Update events arrive up to this many simulated seconds late (0)",
    )

    gen = commands.add_parser("generate", help="write a realistic scenario file")
    gen.add_argument("--stages", type=int, default=3)
    gen.add_argument("--sessions", type=int, default=3, help="ended sessions per stage")
    gen.add_argument("--participants", type=int, default=40, help="about this many per session")
    gen.add_argument("--seed", type=int, default=0)
    gen.add_argument("--out", type=Path, default=None, help="default: standard output")

    run = commands.add_parser("run", help="run the whole pipeline on embedded stand-ins")
    run.add_argument("--scenario", type=Path, default=None, help="default: a generated one")
    run.add_argument("--out", type=Path, default=Path("out"))
    run.add_argument("--tps", type=float, default=5.0, help="simulated quota per operation")
    run.add_argument("--budget", type=float, default=None, help="archiver budget (80%% of tps)")
    run.add_argument("--latency-ms", type=float, default=0.0)
    run.add_argument("--fault-rate", type=float, default=0.0)
    run.add_argument("--participant-details", choices=("on", "off"), default="on")
    run.add_argument("--stats", type=Path, default=None)
    run.add_argument("--seed", type=int, default=0)

    query = commands.add_parser("query", help="run the named queries on DuckDB over an archive")
    query.add_argument("--dir", type=Path, required=True)
    query.add_argument("names", nargs="*", help="query names (default: all)")
    return parser


def main(argv: list[str] | None = None) -> int:
    args = _parser().parse_args(argv)
    if args.command == "simulate":
        from local.simulator import serve_forever

        return serve_forever(
            args.scenario,
            port=args.port,
            tps=args.tps,
            latency_ms=args.latency_ms,
            fault_rate=args.fault_rate,
            seed=args.seed,
            live=args.live,
            speed=args.speed,
            event_loss=args.event_loss,
            event_delay_s=args.event_delay_s,
        )
    if args.command == "generate":
        from local.generator import main as generate

        return generate(
            stages=args.stages,
            sessions=args.sessions,
            participants=args.participants,
            seed=args.seed,
            out=args.out,
        )
    if args.command == "run":
        from local.pipeline import main as run

        return run(args)
    from local.query import main as query

    return query(args.dir, args.names)


if __name__ == "__main__":
    sys.exit(main())
