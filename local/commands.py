"""The laptop's commands, `generate`, `simulate`, `run` and `query`: one definition of their
flags, behind two front doors that take the same flags and give the same exit codes:
`ivs-archive local <command>` (console/cli.py) and `python -m local <command>` (for scripts).

An IVS Real-Time simulator, a moto server and DuckDB stand in for AWS. Typical use:
`generate` a scenario, `run` the archiver over it, `query` the archive it wrote. The commands
and their output are a contract: docs/design.md, "Local, embedded mode".
"""

from __future__ import annotations

import argparse
from pathlib import Path
from typing import Any

from local.generator import LIMITS
from local.generator.places import MOST_ACCOUNTS
from local.simulator.outages import Outage
from shared.arguments import (
    fail,
    fraction,
    integer,
    non_negative,
    output_file,
    output_folder,
    positive,
)


def regions(text: str) -> list[str]:
    """IVS Real-Time regions, comma-separated."""
    from local.generator.places import places

    listed = [region.strip() for region in text.split(",") if region.strip()]
    try:
        places(listed, 1)
    except ValueError as error:
        raise argparse.ArgumentTypeError(str(error)) from None
    return listed


def outage(text: str) -> Outage:
    """An IVS outage, START+DURATION in simulated minutes from the replay's start."""
    try:
        return Outage.parse(text)
    except ValueError as error:
        raise argparse.ArgumentTypeError(str(error)) from None


DESCRIPTION = """\
The archiver on a laptop, with no AWS account: an IVS Real-Time simulator, a moto server and
DuckDB stand in for AWS. Typical use: `generate` a scenario, `run` the archiver over it, `query`
the archive it wrote. Bad input is one line on standard error and exit status 2. The
commands and their output are a contract: docs/design.md, "Local, embedded mode".
"""
# Each command: (name, one line of help).
COMMANDS = (
    ("generate", "write a realistic scenario file"),
    ("simulate", "serve IVS Real-Time from a scenario on 127.0.0.1"),
    ("run", "run the whole archiver on embedded stand-ins"),
    ("query", "run the named queries on DuckDB over an archive"),
)


def add_commands(commands: argparse._SubParsersAction[Any]) -> None:
    """Adds the local commands to `commands` (a parser's subparsers, `dest="command"`); each
    parser remembers its own name (`args.prog`), which its errors start with."""
    help_of = dict(COMMANDS)

    def command(name: str, *, description: str) -> argparse.ArgumentParser:
        parser = commands.add_parser(name, help=help_of[name], description=description)
        parser.set_defaults(prog=parser.prog)
        return parser

    sim = command(
        "simulate",
        description="Serve the IVS Real-Time API from a scenario on 127.0.0.1 until Ctrl-C. "
        "Point boto3 at the URL it prints (endpoint_url or AWS_ENDPOINT_URL_IVS_REALTIME).",
    )
    sim.add_argument(
        "--scenario",
        metavar="FILE",
        type=Path,
        required=True,
        help="scenario file (JSON, as `generate` writes)",
    )
    sim.add_argument(
        "--port",
        metavar="N",
        type=integer(0, 65535),
        default=0,
        help="port to listen on; 0 picks a free one",
    )
    sim.add_argument(
        "--tps",
        metavar="N",
        type=positive,
        default=5.0,
        help="quota per operation, calls per second, answered with 429 past it (default 5)",
    )
    sim.add_argument(
        "--latency-ms",
        metavar="MS",
        type=non_negative,
        default=0.0,
        help="mean added latency per call in ms, uniform from 0.5x to 1.5x (default 0)",
    )
    sim.add_argument(
        "--fault-rate",
        metavar="F",
        type=fraction,
        default=0.0,
        help="share of calls answered with a 500 or 503 instead, from 0 to 1 (default 0)",
    )
    sim.add_argument(
        "--seed",
        metavar="N",
        type=int,
        default=0,
        help="seed of the injected faults and latency (default 0)",
    )
    sim.add_argument(
        "--live", action="store_true", help="replay the scenario's timeline in simulated time"
    )
    sim.add_argument(
        "--speed",
        metavar="X",
        type=positive,
        help="with --live: simulated seconds per wall second (default 1)",
    )
    sim.add_argument(
        "--event-loss",
        metavar="F",
        type=fraction,
        help="with --live: share of IVS Stage Update events lost, from 0 to 1 (default 0)",
    )
    sim.add_argument(
        "--event-delay-s",
        metavar="S",
        type=non_negative,
        help="with --live: Stage Update events arrive up to this many simulated seconds late "
        "(default 0)",
    )

    gen = command(
        "generate",
        description="Write a seeded, realistic scenario: every event name and error code of "
        "the IVS model occurs. Odd-numbered stages also get a session still active.",
    )
    gen.add_argument(
        "--stages",
        metavar="N",
        type=integer(*LIMITS["stages"]),
        default=3,
        help="stages (default 3)",
    )
    gen.add_argument(
        "--sessions",
        metavar="N",
        type=integer(*LIMITS["sessions"]),
        default=3,
        help="ended sessions per stage (default 3)",
    )
    gen.add_argument(
        "--participants",
        metavar="N",
        type=integer(*LIMITS["participants"]),
        default=40,
        help="about this many participants per session (default 40)",
    )
    gen.add_argument(
        "--seed", metavar="N", type=int, default=0, help="one seed, one identical file (default 0)"
    )
    gen.add_argument(
        "--out",
        metavar="FILE",
        type=output_file,
        default=None,
        help="file to write (default: standard output)",
    )
    gen.add_argument(
        "--regions",
        metavar="R,...",
        type=regions,
        default=None,
        help="spread the stages over these IVS Real-Time regions (default: us-east-1 only)",
    )
    gen.add_argument(
        "--accounts",
        metavar="N",
        type=integer(1, MOST_ACCOUNTS),
        default=1,
        help="and over this many accounts, each with every region (default 1)",
    )

    run = command(
        "run",
        description="Archive every ended session of a scenario through the two Lambda "
        "handlers, on the IVS simulator and a moto server, then copy the bucket into --out. "
        "Exit status: 0 when every ended session was archived, 1 when any was not (the rest "
        "is still written), 2 for bad input.",
    )
    run.add_argument(
        "--scenario",
        metavar="FILE",
        type=Path,
        default=None,
        help="scenario file (default: one generated with --seed)",
    )
    run.add_argument(
        "--out",
        metavar="DIR",
        type=output_folder,
        default="out",
        help="folder to copy the archive into, same keys as the bucket (default out)",
    )
    run.add_argument(
        "--force",
        action="store_true",
        help="replace the archive --out holds already (without it, such a folder is refused)",
    )
    run.add_argument(
        "--tps",
        metavar="N",
        type=positive,
        default=5.0,
        help="the simulated IVS quota per operation, calls per second (default 5, as IVS)",
    )
    run.add_argument(
        "--budget",
        metavar="N",
        type=positive,
        default=None,
        help="the archiver's budget per operation, calls per second (default 80%% of --tps)",
    )
    run.add_argument(
        "--latency-ms",
        metavar="MS",
        type=non_negative,
        default=0.0,
        help="mean simulated latency per IVS call in ms (default 0)",
    )
    run.add_argument(
        "--fault-rate",
        metavar="F",
        type=fraction,
        default=0.0,
        help="share of IVS calls that fail with a 500 or 503, from 0 to 1 (default 0)",
    )
    run.add_argument(
        "--participant-details",
        choices=("on", "off"),
        default="on",
        help="call GetParticipant for each participant's client details (default on)",
    )
    run.add_argument(
        "--stats",
        metavar="FILE",
        type=output_file,
        default=None,
        help="also write the run's numbers as JSON",
    )
    run.add_argument(
        "--seed",
        metavar="N",
        type=int,
        default=0,
        help="seed of the generated scenario and of the faults (default 0)",
    )
    run.add_argument(
        "--lambda-logs",
        metavar="FILE",
        type=output_file,
        default=None,
        help="write what the Lambda functions print (JSON logs at INFO and up, CloudWatch EMF "
        "metrics) to this file; by default none of it is shown",
    )
    run.add_argument(
        "--live",
        action="store_true",
        help="replay the scenario as it happens: sessions end while the archiver runs, "
        "discovery every 10 simulated minutes, IVS Stage Update events as they arrive; "
        "--tps and --budget are then per simulated second",
    )
    run.add_argument(
        "--speed",
        metavar="X",
        type=positive,
        default=None,
        help="with --live: simulated seconds per wall second (default 60)",
    )
    run.add_argument(
        "--event-loss",
        metavar="F",
        type=fraction,
        default=None,
        help="with --live: share of IVS Stage Update events lost, from 0 to 1 (default 0.1)",
    )
    run.add_argument(
        "--event-delay-s",
        metavar="S",
        type=non_negative,
        default=None,
        help="with --live: Stage Update events arrive up to this many simulated seconds late "
        "(default 120)",
    )
    run.add_argument(
        "--outage",
        metavar="START+DURATION",
        type=outage,
        action="append",
        default=None,
        help="with --live: IVS is down (every call a 500 or 503) from START for DURATION, "
        "simulated minutes from the replay's start, e.g. 60+120; may be given again; the "
        "replay lasts at least until the last outage has ended",
    )
    run.add_argument(
        "--neighbour-tps",
        metavar="N",
        type=non_negative,
        default=0.0,
        help="the customer's own application's calls a second on each operation's quota, "
        "less than --tps: the archiver's calls past the rest are throttled (429); with --live, "
        "per simulated second (default 0)",
    )

    query = command(
        "query",
        description="Run the named Athena queries of queries/ (transpiled with sqlglot) on "
        "DuckDB over a local copy of the archive, and print each result as a table.",
    )
    query.add_argument(
        "--dir",
        metavar="DIR",
        type=Path,
        required=True,
        help="the archive: the folder `run --out` wrote, or a copy of the bucket",
    )
    query.add_argument(
        "--limit",
        metavar="N",
        type=integer(0, 10**9),
        default=40,
        help="rows to print per query, 0 for all (default 40)",
    )
    query.add_argument(
        "names",
        nargs="*",
        metavar="NAME",
        help="query names (default: all of queries/), and NAME=VALUE parameters of a query's "
        "params CTE (session_timeline session_id=st-...)",
    )


def run(args: argparse.Namespace) -> int:
    """Runs the local command `args` holds (as `add_commands`' parsers parsed it): its exit
    status."""
    if args.local_command == "simulate":
        from local.simulator import serve_forever

        try:
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
        except OSError as error:  # the port is taken or not ours to use
            return fail(args.prog, f"argument --port: {error}")
    if args.local_command == "generate":
        from local.generator import main as generate

        return generate(
            stages=args.stages,
            sessions=args.sessions,
            participants=args.participants,
            seed=args.seed,
            out=args.out,
            regions=args.regions,
            accounts=args.accounts,
        )
    if args.local_command == "run":
        from local.run import main as run_archive

        return run_archive(args)
    from local.query import main as query

    return query(args.dir, args.names, limit=args.limit, prog=args.prog)
