"""`python -m local run`: archive every ended session of a scenario on embedded stand-ins.

Everything given is checked before any work (the flags by shared/arguments.py, the scenario
and --out here): bad input is one line on standard error and exit status 2. --out is made if
need be and held for the run (`OutFolder`): a second run into it at once is refused, and so is
a folder that holds an archive already, unless --force. Then, as in AWS: discovery runs once, as
on its schedule (a failed run is retried twice, as Lambda retries an asynchronous invocation);
ended sessions older than the archiver's longest look-back, which the schedule cannot see, are
queued by hand, as an operator would with the manual event; archive workers run until the queue
is empty, a failed message coming back until the queue dead-letters it; the bucket is copied into
--out. Meanwhile local/progress.py shows how far it got; at the end the account
(local/report.py) says where every session went.

Exit status 0 when every ended session was archived, 1 otherwise; 130 on Ctrl-C (SIGINT) and
143 on SIGTERM, which end the run within a second or two, workers included, with one line on
standard error and no archive left half-written in --out (a rerun into it starts afresh). A live
replay (--live) interrupted while it replays still ends with its account: its workers ended, it
copies the bucket into --out as it is, prints the account (sessions not ended by then are still
active), and then the one line, with the same exit status.
"""

from __future__ import annotations

import argparse
import contextlib
import errno
import fcntl
import json
import logging
import os
import shutil
import signal
import sys
import time
from collections.abc import Iterator
from dataclasses import replace
from pathlib import Path
from typing import Any, TypeAlias

from archiver.schema import TABLES
from archiver.settings import IVS_TPS_QUOTA as IVS_QUOTA
from archiver.settings import SettingsError
from local import report
from local.lambda_emulation import discover_scenario
from local.pipeline import EmbeddedPipeline, Options
from local.places import PlacesRun, places_of
from local.progress import Progress
from local.replay import Replay
from local.simulator.scenario import ScenarioError, load
from local.tables import CATALOG_FILE
from shared.arguments import fail

# --live defaults: the example speed; IVS events now and then missing, often late.
LIVE_SPEED = 60.0
LIVE_EVENT_LOSS = 0.1
LIVE_EVENT_DELAY_S = 120.0
# In --out while a run holds it: the holder's pid, under an advisory lock (flock) that the
# system lets go of when the holder ends, however it ends: a dead run's lock holds nobody up.
LOCK_FILE = ".ivs-archive-run.lock"
# What an archive in --out is made of (the Iceberg tables, then the bucket's landing objects).
ARCHIVE_PARTS = (CATALOG_FILE, CATALOG_FILE + "-journal", "iceberg", *TABLES)
WRITING = "writing"  # in the lock file once the run writes into --out
SIGNALS: dict[int, str] = {signal.SIGINT: "Ctrl-C", signal.SIGTERM: "SIGTERM"}


def main(args: argparse.Namespace) -> int:
    """The run, its account on standard output, its exit status; an interrupt (SIGINT, SIGTERM)
    at any point ends it with one line on standard error and 128 + the signal's number."""
    started = time.monotonic()
    with _interrupts():
        try:
            return _main(args, started)
        except Interrupted as stop:
            name = SIGNALS.get(stop.signum, f"signal {stop.signum}")
            print(f"{args.prog}: interrupted ({name}); {stop.left}", file=sys.stderr, flush=True)
            return 128 + stop.signum


def _main(args: argparse.Namespace, started: float) -> int:
    try:
        scenario = _scenario(args.scenario, args.seed)
    except ScenarioError as error:
        return fail(args.prog, f"argument --scenario: {error}")
    live_only = [
        flag
        for flag in ("speed", "event_loss", "event_delay_s", "outage")
        if getattr(args, flag) is not None
    ]
    if live_only and not args.live:
        names = ", ".join("--" + flag.replace("_", "-") for flag in live_only)
        return fail(args.prog, f"argument {names}: only with --live")
    if args.live and len(places := places_of(scenario)) > 1:
        return fail(
            args.prog,
            f"argument --live: replays one place; the scenario spans {len(places)} "
            f"({', '.join(place.name for place in places)})",
        )
    if args.neighbour_tps >= args.tps:
        return fail(
            args.prog,
            f"argument --neighbour-tps: must be less than --tps, the simulated quota "
            f"(got {args.neighbour_tps:g} >= {args.tps:g})",
        )
    options = Options(
        tps=args.tps,
        budget=args.budget,
        latency_ms=args.latency_ms,
        fault_rate=args.fault_rate,
        neighbour_tps=args.neighbour_tps,
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
    out = OutFolder(args.out, force=args.force)
    try:
        out.claim()
    except OutError as error:
        return fail(args.prog, f"argument --out: {error}")
    complete = False  # the archive in --out: whole once the bucket is copied
    try:
        fates, stats, objects, stopped = _archive(args, scenario, options, out)
        complete = True
        report.summary(
            fates,
            stats,
            args.out,
            objects,
            whole_s=time.monotonic() - started,
            interrupted=stopped is not None,
        )
        if args.stats is not None:
            args.stats.parent.mkdir(parents=True, exist_ok=True)
            args.stats.write_text(json.dumps(stats, indent=2) + "\n", encoding="utf-8")
    except Interrupted as stop:
        stop.left = out.release(complete=complete)
        raise
    finally:
        out.release(complete=complete)
    if stopped is not None:  # a live replay cut short: its account is above
        stopped.left = f"{args.out} holds what was archived by then (the account above)"
        raise stopped
    return 0 if all(f.kind in (report.ARCHIVED, report.ACTIVE) for f in fates) else 1


def _archive(
    args: argparse.Namespace, scenario: dict[str, Any], options: Options, out: OutFolder
) -> Archived:
    """The pipeline run, the bucket copied into --out: the account's makings, and the interrupt
    that cut a live replay short (None: it ran to its end). A scenario over several places runs
    a collector per place into one home (local/places.py)."""
    if len(places_of(scenario)) > 1:
        return _archive_places(args, scenario, options, out)
    stopped: Interrupted | None = None
    with (
        EmbeddedPipeline(scenario, options) as pipeline,
        _lambda_output(args.lambda_logs),
    ):
        with Progress(pipeline, scenario):
            if args.live:
                try:
                    not_queued = _replay(pipeline, scenario, options)
                except Interrupted as stop:  # the workers are ended: account for what was done
                    stopped, not_queued = stop, "the run was interrupted first"
            else:
                not_queued = pipeline.alongside_discovery(
                    lambda: _discover(pipeline, scenario), workers=options.archive_concurrency
                )
        pipeline.mirror(out.path)
        for table in TABLES:  # an archive with no session yet is still an archive
            (out.path / table).mkdir(parents=True, exist_ok=True)
        stats = pipeline.stats()
        fates = report.fates(
            scenario,
            pipeline.account.ledger_sessions(),
            pipeline.account.dead_letters(),
            pipeline.last_error,
            not_queued,
            now=pipeline.simulator.now() if stopped is not None else None,
        )
        return fates, stats, len(pipeline.account.object_keys()), stopped


def _archive_places(
    args: argparse.Namespace, scenario: dict[str, Any], options: Options, out: OutFolder
) -> Archived:
    with PlacesRun(scenario, options) as run, _lambda_output(args.lambda_logs):
        with Progress(run, scenario):
            run.run()
        run.mirror(out.path)
        for table in TABLES:
            (out.path / table).mkdir(parents=True, exist_ok=True)
        stats = run.stats()
        fates = report.fates(
            scenario, run.ledger_sessions(), run.dead_letters(), run.last_error, run.not_queued
        )
        return fates, stats, len(run.account.object_keys()), None


class Interrupted(BaseException):
    """A signal that ends the run (SIGINT, SIGTERM), raised in the main thread; `left` says
    what it left in --out."""

    def __init__(self, signum: int) -> None:
        super().__init__(signum)
        self.signum = signum
        self.left = "nothing was written"


# What a run gives its account: the sessions' fates, the stats, the objects in --out, and the
# interrupt that cut a live replay short (None: it ran to its end).
Archived: TypeAlias = tuple[list[report.Fate], dict[str, Any], int, Interrupted | None]


@contextlib.contextmanager
def _interrupts() -> Iterator[None]:
    """SIGINT and SIGTERM raise Interrupted in the main thread, once: after the first, while
    the run ends (a second or two), more of them are let go, so that the end is not cut short
    and says one line. The handlers before are restored at the end. (Off the main thread, where
    Python cannot take signals, nothing is changed.)"""
    import threading

    ended = threading.Event()

    def handler(signum: int, _frame: object) -> None:
        if ended.is_set():
            return
        ended.set()
        raise Interrupted(signum)

    try:
        previous = {signum: signal.signal(signum, handler) for signum in SIGNALS}
    except ValueError:  # not the main thread
        yield
        return
    try:
        yield
    finally:
        for signum, before in previous.items():
            signal.signal(signum, before)


class OutError(Exception):
    """Why --out cannot be used (one line, after `argument --out: `)."""


class OutFolder:
    """--out for one run: made if need be, held against another run at once (LOCK_FILE), and
    checked for an archive already there, which only --force replaces.

    `release()` lets it go. A run that did not complete removes what it wrote (the tables
    begun, the copy begun) and the folders it made, so that --out never holds half an archive
    and a rerun into it needs no --force. A run killed outright (SIGKILL) cannot: it leaves its
    lock file saying it was writing, and the next run replaces what it left without --force."""

    def __init__(self, path: Path, *, force: bool) -> None:
        self.path = path
        self.force = force
        self._made: Path | None = None  # the outermost folder this run made
        self._lock: int | None = None
        self._dead_run_left = False  # a run died writing into the folder

    def claim(self) -> None:
        missing = [p for p in [self.path, *self.path.absolute().parents] if not p.exists()]
        try:
            self.path.mkdir(parents=True, exist_ok=True)
        except OSError as error:
            raise OutError(f"{self.path} cannot be made: {_why(error)}") from None
        self._made = missing[-1] if missing else None
        try:
            self._hold()
            found = self.archive_parts()
            if found and not self.force and not self._dead_run_left:
                raise OutError(
                    f"{self.path} holds an archive already ({', '.join(found)}); give --force "
                    "to replace it, or name another folder"
                )
            self._remove_archive()  # with --force, the old archive goes now, not half of it
            self._say(WRITING)
        except BaseException:
            self._let_go()
            raise

    def archive_parts(self) -> list[str]:
        """What of an archive --out holds (an empty folder of a table's name is not one)."""
        found = []
        for name in ARCHIVE_PARTS:
            part = self.path / name
            if part.is_file() or (part.is_dir() and any(part.iterdir())):
                found.append(name + ("/" if part.is_dir() else ""))
        return found

    def release(self, *, complete: bool) -> str:
        """Let --out go (again: nothing more); what it holds now, in words. Not `complete`, what
        this run wrote in it goes first (the workers and the stand-ins have ended by then)."""
        if complete:
            self._let_go()
            return f"the archive in {self.path} is complete"
        if self._lock is not None:
            self._remove_archive()
            self._let_go()
        return f"{self.path} holds no archive: run again to make it"

    def _hold(self) -> None:
        lock = self.path / LOCK_FILE
        while True:
            try:
                fd = os.open(lock, os.O_RDWR | os.O_CREAT, 0o644)
            except OSError as error:
                raise OutError(f"{self.path} cannot be written: {_why(error)}") from None
            try:
                fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
            except OSError as error:
                holder = (_said(fd) or ["?"])[0]
                os.close(fd)
                if error.errno not in (errno.EWOULDBLOCK, errno.EAGAIN, errno.EACCES):
                    raise OutError(f"{self.path} cannot be locked: {_why(error)}") from None
                raise OutError(
                    f"{self.path} is in use by another run (pid {holder}); wait for it to end, "
                    "or name another folder"
                ) from None
            # The file may have been removed by its last holder between our open and our lock:
            # then the lock is on a file nobody else sees, and we try again.
            try:
                same = os.path.samestat(os.fstat(fd), os.stat(lock))
            except FileNotFoundError:
                same = False
            if same:
                break
            os.close(fd)
        self._dead_run_left = WRITING in _said(fd)  # held by nobody, yet said so: it died
        self._lock = fd
        self._say()

    def _say(self, *state: str) -> None:
        """The lock file's words: this process's pid, then what it does (WRITING)."""
        assert self._lock is not None
        os.ftruncate(self._lock, 0)
        os.pwrite(self._lock, " ".join([str(os.getpid()), *state]).encode() + b"\n", 0)

    def _remove_archive(self) -> None:
        for name in ARCHIVE_PARTS:
            part = self.path / name
            if part.is_dir() and not part.is_symlink():
                shutil.rmtree(part, ignore_errors=True)
            else:
                part.unlink(missing_ok=True)

    def _let_go(self) -> None:
        if self._lock is not None:
            (self.path / LOCK_FILE).unlink(missing_ok=True)  # while held: nobody has it open
            os.close(self._lock)
            self._lock = None
        if self._made is not None:  # the folders this run made, if it left them empty
            for folder in [self.path.absolute(), *self.path.absolute().parents]:
                with contextlib.suppress(OSError):
                    folder.rmdir()
                if folder == self._made.absolute():
                    break
            self._made = None


def _said(fd: int) -> list[str]:
    """The words of a lock file (a pid, then its state)."""
    return os.pread(fd, 64, 0).decode("ascii", "replace").split()


def _why(error: OSError) -> str:
    return error.strerror or str(error)


def live_options(options: Options, args: argparse.Namespace) -> Options:
    """A live replay at `--speed`: the quota, the budget and the neighbour's calls are per
    simulated second, so they scale with the speed in wall terms, and so does every time the
    archiver keeps; outages are in simulated time already."""
    speed = args.speed or LIVE_SPEED
    return replace(
        options.as_deployed(speed),
        live=True,
        speed=speed,
        tps=args.tps * speed,
        budget=(args.budget or 0.8 * args.tps) * speed,
        event_loss=LIVE_EVENT_LOSS if args.event_loss is None else args.event_loss,
        event_delay_s=LIVE_EVENT_DELAY_S if args.event_delay_s is None else args.event_delay_s,
        neighbour_tps=args.neighbour_tps * speed,
        outages=tuple(args.outage or ()),
    )


def _replay(pipeline: EmbeddedPipeline, scenario: dict[str, Any], options: Options) -> str:
    """The scenario as it happens, archive workers beside discovery, until every session has
    ended and been archived, expired or dead-lettered, and every outage is over."""
    replay = Replay(pipeline, scenario, discover_invocation_ms=options.invocation_ms)
    with pipeline.worker_processes(options.archive_concurrency, simulated_time=True):
        replay.run()
    if replay.stalled:
        minutes = replay.stall.total_seconds() / 60
        return f"the replay ended after {minutes:g} simulated minutes in which nothing moved"
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
    look-back (lambda_emulation.discover_scenario)."""
    return discover_scenario(pipeline.discover, report.ended_of(scenario), pipeline.lookback_days)
