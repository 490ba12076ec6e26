"""`python -m bench fleet` (`make bench-fleet`): a busy day of an account through the whole
pipeline, at a scaled quota.

The day (bench/fleet_scenario.py: 100 stages, most sessions of 2 to 12 people, some of
hundreds, one of thousands) runs against the IVS simulator and moto in this process, with the
stack's default settings scaled by k = tps / 5: the quota and the budget k times the real 5 and
4 calls a second per operation, the Lambda timeout (and every interval) k times shorter. The
schedule fires discovery every (simulated) minute, as the stack's does, and two archive
workers (archiveConcurrency 2, each with half the budget), each a process of its own like a
Lambda container, take the queue as the SQS event source would.

- backlog: every session has ended when the run starts; elapsed against the ideal, the busiest
  operation's minimum calls at the budget.
- live: the day is replayed as it happens (the simulator's live mode, speed k), IVS Stage Update
  events delivered late or never; lag from each session's end to ARCHIVED, in simulated seconds.
  `--outage START+DURATION` takes IVS down for a while (every call a 5xx; simulated minutes from
  the replay's start, a minute before the day), `--neighbour-tps N` has the customer's own
  application spend N of each operation's 5 calls a (simulated) second.

Prints a table and writes JSON (default bench/results/fleet-<mode>.json): sessions, archived,
dead_lettered, elapsed_s, ideal_s, ratio, calls and minimum_calls per operation,
discovery_calls, lag_s and commit_latency_s (p50, p95, max), with an outage drain_s and
drain_ideal_s, worker_seconds (real-equivalent seconds the archive workers ran, what Lambda
bills), and what the day costs in Lambda.
"""

from __future__ import annotations

import argparse
import json
import math
from dataclasses import replace
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

from archiver.settings import DEFAULT_SCHEDULE_INTERVAL, chunk_limit
from archiver.settings import IVS_TPS_QUOTA as IVS_QUOTA
from bench.fleet_places import run_places, warm
from bench.fleet_scenario import LARGE, fleet_scenario
from local.commands import outage, regions
from local.pipeline import EmbeddedPipeline, Options, lags, marked_archived
from local.replay import Replay, session_keys
from shared.arguments import non_negative
from shared.percentiles import percentiles
from shared.render import counted

ROOT = Path(__file__).resolve().parent.parent
DAY = datetime(2026, 11, 20, tzinfo=UTC)
# The real thing, which the benchmark scales (with Options.as_deployed): the stack's
# apiTpsBudget and chunkSize.
BUDGET = 4.0
CHUNK = 500
SCHEDULE = DEFAULT_SCHEDULE_INTERVAL  # the stack's schedule: discovery every minute
LAG_SLACK_S = 60.0
# Lambda on arm64 (us-east-1 list prices), the archive function's 1,024 MB.
GB_SECOND_USD = 0.0000133334
REQUEST_USD = 0.20 / 1_000_000
MEMORY_GB = 1.0
ARCHIVE_OPERATIONS = (
    "ListParticipantEvents",
    "GetParticipant",
    "ListParticipants",
    "GetStageSession",
)
DISCOVERY_OPERATIONS = ("ListStages", "ListStageSessions")


def parser() -> argparse.ArgumentParser:
    p = argparse.ArgumentParser(
        prog="python -m bench fleet",
        description=__doc__,
        formatter_class=argparse.RawDescriptionHelpFormatter,
    )
    p.add_argument(
        "--mode",
        choices=("backlog", "live"),
        default="backlog",
        help="backlog: every session ended before the start; live: the day as it happens",
    )
    p.add_argument("--stages", type=int, default=100, help="stages of the account (default 100)")
    p.add_argument(
        "--sessions",
        type=int,
        default=1000,
        help="sessions in the day, over all stages (default 1000)",
    )
    p.add_argument("--hours", type=float, default=24.0, help="length of the day (default 24)")
    p.add_argument(
        "--large",
        type=int,
        default=LARGE,
        help=f"participants of the day's one large session (default {LARGE})",
    )
    p.add_argument("--seed", type=int, default=1, help="seed of the scenario (default 1)")
    p.add_argument(
        "--tps",
        type=float,
        default=None,
        help="simulated quota per operation, calls a wall second: k = tps / 5 scales "
        "everything (default 50 backlog, 300 live)",
    )
    p.add_argument("--latency-ms", type=float, default=20.0, help="mean IVS latency (default 20)")
    p.add_argument(
        "--event-loss",
        type=float,
        default=0.1,
        help="live: share of IVS Stage Update events lost (default 0.1)",
    )
    p.add_argument(
        "--event-delay-s",
        type=float,
        default=120.0,
        help="live: most simulated seconds an event arrives late (default 120)",
    )
    p.add_argument(
        "--outage",
        type=outage,
        default=None,
        metavar="START+DURATION",
        help="live: IVS down (every call a 500 or 503) from START for DURATION, simulated "
        "minutes from the replay's start, a minute before the day (e.g. 60+120); reports "
        "drain_s and drain_ideal_s",
    )
    p.add_argument(
        "--neighbour-tps",
        type=non_negative,
        default=0.0,
        metavar="N",
        help=f"live: the customer's own application's calls a simulated second on each "
        f"operation's quota of {IVS_QUOTA:g}, less than it (default 0)",
    )
    p.add_argument(
        "--regions",
        type=regions,
        default=None,
        help="backlog: spread the day's stages over these IVS Real-Time regions, a collector "
        "each at its own quota (default: one place)",
    )
    p.add_argument(
        "--accounts",
        type=int,
        default=1,
        help="with --regions: and over this many accounts, each with every region (default 1)",
    )
    p.add_argument(
        "--out",
        type=Path,
        default=None,
        help="JSON results (default bench/results/fleet-<mode>.json)",
    )
    return p


def minimum_calls(scenario: dict[str, Any], chunk: int) -> tuple[dict[str, int], dict[str, int]]:
    """The fewest archive calls for the day's ended sessions, per operation, and the busiest
    operation's minimum per session (its own quota-bound time, times the budget)."""
    total = dict.fromkeys(ARCHIVE_OPERATIONS, 0)
    own: dict[str, int] = {}
    for stage in scenario["stages"]:
        for session in stage["sessions"]:
            if not session.get("endTime"):
                continue
            people = session["participants"]
            events = sum(max(1, math.ceil(len(p["events"]) / 100)) for p in people)
            total["ListParticipantEvents"] += events
            total["GetParticipant"] += len(people)
            total["ListParticipants"] += max(1, math.ceil(len(people) / 100))
            total["GetStageSession"] += max(1, math.ceil(len(people) / chunk))
            own[session["sessionId"]] = max(events, len(people))
    return total, own


def run(args: argparse.Namespace) -> dict[str, Any]:
    tps = args.tps or (300.0 if args.mode == "live" else 50.0)
    k = tps / IVS_QUOTA
    live = args.mode == "live"
    scenario = fleet_scenario(
        stages=args.stages,
        sessions=args.sessions,
        seed=args.seed,
        day=DAY,
        hours=args.hours,
        large=args.large,
    )
    options = replace(
        Options(
            tps=tps,
            latency_ms=args.latency_ms,
            live=live,
            speed=k,
            start=DAY - timedelta(minutes=1) if live else None,
            event_loss=args.event_loss if live else 0.0,
            event_delay_s=args.event_delay_s if live else 0.0,
            neighbour_tps=args.neighbour_tps * k,
            outages=(args.outage,) if args.outage else (),
        ).as_deployed(k),
        rate_share_ms=1000,  # renewals cost moto round trips; 1 s wall is plenty here
    )
    workers_at_once = options.archive_concurrency
    worker_tps = options.archiver_budget / workers_at_once
    chunk = min(
        CHUNK,
        chunk_limit(
            worker_tps,
            invocation_ms=options.invocation_ms,
            min_remaining_ms=options.min_remaining_ms,
        ),
    )
    if args.regions:
        return _over_places(args, scenario, options, chunk)
    minimum, own = minimum_calls(scenario, chunk)
    with EmbeddedPipeline(scenario, options) as pipeline:
        warm(pipeline.simulator.store, scenario)
        replay = Replay(
            pipeline, scenario, schedule=SCHEDULE, discover_invocation_ms=options.invocation_ms
        )
        with pipeline.worker_processes(workers_at_once, simulated_time=live) as workers:
            started = datetime.now(UTC)
            finished = replay.run(deadline_s=4 * 3600)
            ended_at = datetime.now(UTC)
        sessions = pipeline.account.ledger_sessions()
        simulated = pipeline.simulator.stats()
        events_delivered = replay.events_delivered
        dead = session_keys(pipeline.account.dead_letters())
        archived = [s for s in sessions if s["status"] == "ARCHIVED"]
        commit_latencies = pipeline.commit_latencies(archived)
        replay_start = pipeline.simulator.clock.start
    ended = sum(1 for st in scenario["stages"] for s in st["sessions"] if s.get("endTime"))
    calls = {op: n for op, n in simulated["api_calls"].items() if n}
    if live:  # the day sets the pace: the time is the replay's, in wall seconds
        elapsed = (ended_at - started).total_seconds()
    else:  # from the first discovery to the last session ARCHIVED (the ledger's clock)
        last = max((datetime.fromisoformat(s["archivedAt"]) for s in archived), default=started)
        elapsed = (last - started).total_seconds()
    budget = options.archiver_budget
    ideal = max(n / budget for n in minimum.values())
    discovery = sum(calls.get(op, 0) for op in DISCOVERY_OPERATIONS)
    invocations = workers.invocations
    worker_seconds = workers.busy_s * k  # real-equivalent: the quota and timeouts scale by k
    result: dict[str, Any] = {
        "mode": args.mode,
        "finished": finished,
        "stages": args.stages,
        "sessions": ended,
        "archived": len(archived),
        # Sessions whose message reached the dead-letter queue (queued again later or not).
        "dead_lettered": len(dead),
        "participants": sum(int(s.get("participantCount", 0)) for s in archived),
        "events": sum(int(s.get("eventCount", 0)) for s in archived),
        "scale": {"k": k, "tps": tps, "budget": budget, "workers": workers_at_once, "chunk": chunk},
        "elapsed_s": round(elapsed, 1),
        "ideal_s": round(ideal, 1),
        # Live, the day sets the pace and the lag is the figure: no ratio.
        "ratio": round(elapsed / ideal, 3) if ideal and not live else None,
        "calls": calls,
        "minimum_calls": minimum,
        "throttled": simulated["throttled"],
        "discovery_calls": discovery,
        "discovery_share": round(discovery / sum(calls.values()), 4) if calls else 0.0,
        "invocations": invocations,
        "worker_seconds": round(worker_seconds, 1),
        "lambda_usd": round(
            worker_seconds * MEMORY_GB * GB_SECOND_USD + invocations * REQUEST_USD, 4
        ),
    }
    if live:
        result["lag_s"] = percentiles(lags(archived))
        excess = [
            (
                datetime.fromisoformat(s["archivedAt"]) - datetime.fromisoformat(s["endTime"])
            ).total_seconds()
            - own.get(s["sk"].removeprefix("SESSION#"), 0) / BUDGET
            for s in archived
        ]
        result["lag_over_own_s"] = percentiles(excess)
        result["lag_goal_s"] = SCHEDULE.total_seconds() + LAG_SLACK_S
        result["commit_latency_s"] = percentiles(commit_latencies)
        result["stage_events_delivered"] = events_delivered
        result["neighbour_tps"] = args.neighbour_tps
        if args.outage:
            # The archiver's calls a simulated second: its budget, or what the neighbour leaves.
            rate = min(budget / k, IVS_QUOTA - args.neighbour_tps)
            result["outage"] = str(args.outage)
            result |= drain(scenario, archived, args.outage.window(replay_start), rate, chunk)
    return result


def drain(
    scenario: dict[str, Any],
    archived: list[dict[str, Any]],
    window: tuple[datetime, datetime],
    rate: float,
    chunk: int,
) -> dict[str, float | int | None]:
    """How the backlog an outage (`window`, simulated) leaves drains after it. The backlog: the
    sessions that ended before the outage's end and were not ARCHIVED (the ledger's mark,
    `archived` items) before it began. `drain_s`: simulated seconds from the outage's end until
    the last of them is ARCHIVED (0 if they all were by then; None if one never was);
    `drain_ideal_s`: their fewest calls at `rate` calls a simulated second per operation, the
    busiest operation's (as `ideal_s`)."""
    begins, ends = window
    marked = {
        (s["pk"].removeprefix("STAGE#"), s["sk"].removeprefix("SESSION#")): marked_archived(s)
        for s in archived
    }
    backlog: dict[str, list[dict[str, Any]]] = {}
    for stage in scenario["stages"]:
        for session in stage["sessions"]:
            end = session.get("endTime")
            done = marked.get((stage["arn"], session["sessionId"]))
            if end and _when(end) < ends and (done is None or done > begins):
                backlog.setdefault(stage["arn"], []).append(session)
    keys = [(arn, s["sessionId"]) for arn, sessions in backlog.items() for s in sessions]
    drained: float | None = 0.0
    if any(key not in marked for key in keys):
        drained = None
    elif keys:
        drained = max(0.0, (max(marked[key] for key in keys) - ends).total_seconds())
    least, _ = minimum_calls({"stages": [{"sessions": s} for s in backlog.values()]}, chunk)
    return {
        "backlog_sessions": len(keys),
        "drain_s": None if drained is None else round(drained, 1),
        "drain_ideal_s": round(max(n / rate for n in least.values()), 1),
    }


def _when(value: str) -> datetime:
    return datetime.fromisoformat(value.replace("Z", "+00:00"))


def _over_places(
    args: argparse.Namespace, scenario: dict[str, Any], options: Options, chunk: int
) -> dict[str, Any]:
    """The backlog spread over places (bench/fleet_places.py), reported as a backlog is."""
    got = run_places(
        scenario,
        options,
        regions=args.regions,
        accounts=args.accounts,
        minimum=lambda part: minimum_calls(part, chunk)[0],
    )
    k = options.tps / IVS_QUOTA
    calls = got["calls"]
    discovery = sum(calls.get(op, 0) for op in DISCOVERY_OPERATIONS)
    worker_seconds = got["busy_s"] * k
    workers = options.archive_concurrency
    return {
        "mode": args.mode,
        "finished": got["finished"],
        "stages": args.stages,
        "sessions": sum(1 for st in scenario["stages"] for s in st["sessions"] if s["endTime"]),
        "scale": {
            "k": k,
            "tps": options.tps,
            "budget": options.archiver_budget,
            "workers": workers,
            "chunk": chunk,
        },
        "discovery_calls": discovery,
        "discovery_share": round(discovery / sum(calls.values()), 4) if calls else 0.0,
        "worker_seconds": round(worker_seconds, 1),
        "lambda_usd": round(
            worker_seconds * MEMORY_GB * GB_SECOND_USD + got["invocations"] * REQUEST_USD, 4
        ),
        **{key: value for key, value in got.items() if key not in ("busy_s", "finished")},
    }


def _elapsed(result: dict[str, Any]) -> tuple[str, str]:
    """The elapsed time against the ideal: their ratio for a backlog; live, the day sets the
    pace (the replay takes the day's length whatever the archiver does), so there is no ratio
    and the lag is the figure."""
    elapsed, ideal = f"{result['elapsed_s']} s", f"{result['ideal_s']} s"
    if result["ratio"] is None:
        return (
            "elapsed",
            f"{elapsed}, the day's replay: the day sets its pace, so no ratio to the ideal "
            f"({ideal}); the lag below is the measure",
        )
    return ("elapsed / ideal", f"{elapsed} / {ideal} = {result['ratio']}")


def show(result: dict[str, Any]) -> None:
    from rich.console import Console
    from rich.table import Table

    table = Table(title=f"fleet benchmark, {result['mode']}", show_header=False)
    scale, minimum = result["scale"], result["minimum_calls"]
    archived = f"{result['archived']:,} of {result['sessions']:,}"
    volume = (
        f"{counted(result['participants'], 'participant')}, {counted(result['events'], 'event')}"
    )
    calls = [f"{op} {n:,} ({minimum.get(op, '-')})" for op, n in sorted(result["calls"].items())]
    rows = [
        ("sessions archived", f"{archived} ({volume})"),
        (
            "scale",
            f"k = {scale['k']:g}: quota {scale['tps']:g}/s, budget {scale['budget']:g}/s, "
            f"{counted(scale['workers'], 'worker')}, chunks of {scale['chunk']}",
        ),
        _elapsed(result),
        ("calls (minimum)", ", ".join(calls)),
        ("discovery calls", f"{result['discovery_calls']:,} ({result['discovery_share']:.1%})"),
        ("throttled", str(result["throttled"])),
        (
            "worker seconds",
            f"{result['worker_seconds']:,.0f} s real-equivalent in "
            f"{counted(result['invocations'], 'invocation')}: ${result['lambda_usd']} of Lambda",
        ),
    ]
    if "lag_s" in result:
        lag, over = result["lag_s"], result["lag_over_own_s"]
        rows.append(("lag (simulated s)", f"p50 {lag['p50']}, p95 {lag['p95']}, max {lag['max']}"))
        rows.append(
            ("lag - own archive time", f"p95 {over['p95']} (goal {result['lag_goal_s']:.0f})")
        )
        commit = result["commit_latency_s"]
        rows.append(
            (
                "commit latency (simulated s)",
                f"p50 {commit['p50']}, p95 {commit['p95']}, max {commit['max']}",
            )
        )
    if "dead_lettered" in result:
        rows.append(("dead-lettered sessions", f"{result['dead_lettered']:,}"))
    if "drain_s" in result:
        drained = result["drain_s"]
        took = "never (a session of it was not archived)" if drained is None else f"{drained} s"
        rows.append(
            (
                f"drain after the outage {result['outage']}",
                f"{took} / ideal {result['drain_ideal_s']} s "
                f"({counted(result['backlog_sessions'], 'session')} in the backlog)",
            )
        )
    if "places" in result:
        rows.append(("commits redone (conflicts)", f"{result['commit_conflicts']:,}"))
        for name, place in result["places"].items():
            rows.append(
                (
                    f"  {name}",
                    f"{place['sessions_archived']:,} sessions, {place['elapsed_s']} s / "
                    f"{place['ideal_s']} s = {place['ratio']}, "
                    f"{place['commit_conflicts']:,} commits redone",
                )
            )
    for name, value in rows:
        table.add_row(name, value)
    Console().print(table)


def main(argv: list[str]) -> int:
    commands = parser()
    args = commands.parse_args(argv)
    if args.regions and args.mode == "live":
        commands.error("argument --regions: spreads a backlog only (--mode backlog)")
    if args.accounts != 1 and not args.regions:
        commands.error("argument --accounts: only with --regions")
    for flag, given in (("--outage", args.outage), ("--neighbour-tps", args.neighbour_tps)):
        if given and args.mode != "live":
            commands.error(f"argument {flag}: only with --mode live")
    if args.neighbour_tps >= IVS_QUOTA:
        commands.error(
            f"argument --neighbour-tps: must be less than {IVS_QUOTA:g}, IVS's quota "
            f"(got {args.neighbour_tps:g})"
        )
    result = run(args)
    show(result)
    out = args.out or ROOT / "bench" / "results" / f"fleet-{args.mode}.json"
    out.parent.mkdir(parents=True, exist_ok=True)
    out.write_text(json.dumps(result, indent=2) + "\n", encoding="utf-8")
    print(f"wrote {out}")
    return 0 if result["finished"] and result["archived"] == result["sessions"] else 1
