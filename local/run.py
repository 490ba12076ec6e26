"""`python -m local run`: archive every ended session of a scenario on embedded stand-ins.

Everything given is checked before any work (the flags by shared/arguments.py, the scenario
here): bad input is one line on standard error and exit status 2. Then, as in AWS: discovery
runs once, as on its schedule (a failed run is retried twice, as Lambda retries an asynchronous
invocation); ended sessions older than the archiver's longest look-back, which the schedule
cannot see, are queued by hand, as an operator would with the manual event; archive workers run
until the queue is empty, a failed message coming back until the queue dead-letters it; the
bucket is copied into --out. Meanwhile local/progress.py shows how far it got; at the end the
account (local/report.py) says where every session went.
Exit status 0 when every ended session was archived, 1 otherwise.
"""

from __future__ import annotations

import argparse
import contextlib
import json
import logging
import os
import sys
from collections.abc import Iterator
from dataclasses import replace
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

from archiver.schema import TABLES
from archiver.settings import IVS_TPS_QUOTA as IVS_QUOTA
from archiver.settings import SettingsError
from local import report
from local.pipeline import EmbeddedPipeline, Options
from local.progress import Progress
from local.replay import Replay
from local.simulator.scenario import ScenarioError, load
from shared.arguments import fail

# --live defaults: the example speed; IVS events now and then missing, often late.
LIVE_SPEED = 60.0
LIVE_EVENT_LOSS = 0.1
LIVE_EVENT_DELAY_S = 120.0
DISCOVERY_ATTEMPTS = 3  # Lambda tries an asynchronous (scheduled) invocation up to 3 times


def main(args: argparse.Namespace) -> int:
    try:
        scenario = _scenario(args.scenario, args.seed)
    except ScenarioError as error:
        return fail(args.prog, f"argument --scenario: {error}")
    live_only = [
        flag for flag in ("speed", "event_loss", "event_delay_s") if getattr(args, flag) is not None
    ]
    if live_only and not args.live:
        names = ", ".join("--" + flag.replace("_", "-") for flag in live_only)
        return fail(args.prog, f"argument {names}: only with --live")
    options = Options(
        tps=args.tps,
        budget=args.budget,
        latency_ms=args.latency_ms,
        fault_rate=args.fault_rate,
        seed=args.seed,
        participant_details=args.participant_details,
        quiet=args.lambda_logs is None,
        worker_log=args.lambda_logs,
        tables_dir=args.out,
    )
    # As the stack deploys it (two workers sharing the budget), with every time the archiver
    # keeps scaled like the quota: --tps 50 is IVS ten times faster.
    if args.live:
        options = live_options(options, args)
    else:
        options = options.as_deployed(args.tps / IVS_QUOTA)
    if options.tps and options.archiver_budget > options.tps:
        return fail(
            args.prog,
            f"argument --budget: must be at most --tps, the simulated quota "
            f"(got {args.budget:g} > {args.tps:g})",
        )
    try:
        options.settings()
    except SettingsError as error:
        return fail(args.prog, f"argument --budget: {error}")
    try:
        with (
            EmbeddedPipeline(scenario, options) as pipeline,
            _lambda_output(args.lambda_logs),
        ):
            with Progress(pipeline, scenario):
                if args.live:
                    not_queued = _replay(pipeline, scenario, options)
                else:
                    not_queued = pipeline.alongside_discovery(
                        lambda: _discover(pipeline, scenario), workers=options.archive_concurrency
                    )
            pipeline.mirror(args.out)
            for table in TABLES:  # an archive with no session yet is still an archive
                (args.out / table).mkdir(parents=True, exist_ok=True)
            stats = pipeline.stats()
            fates = report.fates(
                scenario,
                pipeline.account.ledger_sessions(),
                pipeline.account.dead_letters(),
                pipeline.last_error,
                not_queued,
            )
            objects = len(pipeline.account.object_keys())
    except KeyboardInterrupt:
        print(f"{args.prog}: interrupted; {args.out} may hold part of the archive", file=sys.stderr)
        return 130
    report.summary(fates, stats, args.out, objects)
    if args.stats is not None:
        args.stats.parent.mkdir(parents=True, exist_ok=True)
        args.stats.write_text(json.dumps(stats, indent=2) + "\n", encoding="utf-8")
    return 0 if all(f.kind in (report.ARCHIVED, report.ACTIVE) for f in fates) else 1


def live_options(options: Options, args: argparse.Namespace) -> Options:
    """A live replay at `--speed`: the quota and the budget are per simulated second, so they
    scale with the speed in wall terms, and so does every time the archiver keeps."""
    speed = args.speed or LIVE_SPEED
    return replace(
        options.as_deployed(speed),
        live=True,
        speed=speed,
        tps=args.tps * speed,
        budget=(args.budget or 0.8 * args.tps) * speed,
        event_loss=LIVE_EVENT_LOSS if args.event_loss is None else args.event_loss,
        event_delay_s=LIVE_EVENT_DELAY_S if args.event_delay_s is None else args.event_delay_s,
    )


def _replay(pipeline: EmbeddedPipeline, scenario: dict[str, Any], options: Options) -> str:
    """The scenario as it happens, an archive worker beside discovery, until every session
    has ended and been archived."""
    with pipeline.worker_processes(options.archive_concurrency, simulated_time=True):
        Replay(pipeline, scenario, discover_invocation_ms=options.invocation_ms).run()
    return ""


def _scenario(path: Path | None, seed: int) -> dict[str, Any]:
    if path is not None:
        return load(path)
    from local.generator import generate_scenario

    return generate_scenario(seed=seed)


@contextlib.contextmanager
def _lambda_output(path: Path | None) -> Iterator[None]:
    """The functions' logs go to `path`, or nowhere (the account names every failure); with
    `path`, so does what they print, the EMF metrics (metrics are off without it)."""
    from archiver.observability import logger

    handler = logger.registered_handler
    if path is not None:
        path.write_bytes(b"")  # anew; then appended to, here and by the worker processes
    with contextlib.ExitStack() as stack:
        sink = stack.enter_context(open(path or os.devnull, "a", encoding="utf-8"))
        if path is not None:
            stack.enter_context(contextlib.redirect_stdout(sink))
        if isinstance(handler, logging.StreamHandler):
            previous = handler.setStream(sink)
            stack.callback(handler.setStream, previous or sys.__stdout__)
        yield


def _discover(pipeline: EmbeddedPipeline, scenario: dict[str, Any]) -> str:
    """Discovery as scheduled, then the manual event for each ended session older than the
    look-back. Why sessions may have been left unqueued ('' when nothing failed)."""
    problem = _invoke(pipeline, None)
    cutoff = datetime.now(UTC) - timedelta(days=pipeline.lookback_days - 1)
    for stage, session in report.ended_sessions(scenario):
        if datetime.fromisoformat(session["endTime"].replace("Z", "+00:00")) < cutoff:
            event = {"stageArn": stage["arn"], "sessionId": session["sessionId"]}
            problem = _invoke(pipeline, event) or problem
    return problem


def _invoke(pipeline: EmbeddedPipeline, event: dict[str, Any] | None) -> str:
    """One discover invocation, tried again on failure; why it failed in the end, or ''."""
    reason = ""
    for _ in range(DISCOVERY_ATTEMPTS):
        try:
            result = pipeline.discover(event)
        except Exception as error:
            reason = f"discovery failed {DISCOVERY_ATTEMPTS} times: {type(error).__name__}: "
            reason += str(error).splitlines()[0] if str(error) else ""
            continue
        return f"discovery rejected it: {result['rejected']}" if "rejected" in result else ""
    return reason
