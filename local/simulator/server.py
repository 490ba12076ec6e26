"""The HTTP side: rest-json on 127.0.0.1, the per-operation quota, faults, latency, counters.

Each request: latency (seeded jitter) -> outage (500 / 503 to every call while an outage
window holds the simulated now) -> quota (429 ThrottlingException when the operation's token
bucket is empty; the customer's own application takes `neighbour_tps` of it) -> injected fault
(500 InternalServerException / 503) -> the operation (200, or 400/404 from validation and
lookups). Counters per operation: `served` (2xx only), `client_errors` (4xx answers other than
429), `throttled`, `faults_injected` (the outages' failures included; `stats()` also counts them
apart, as `outage_failures`, when there are outages).
"""

from __future__ import annotations

import contextlib
import json
import sys
import threading
import time
import uuid
from collections.abc import Sequence
from datetime import datetime, timedelta
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from types import TracebackType
from typing import Any

from local.simulator import scenario as scenario_module
from local.simulator.api import Api, ApiError
from local.simulator.clock import WallClock, check_speed
from local.simulator.faults import Faults
from local.simulator.live import LiveView, replay_clock
from local.simulator.model import format_time
from local.simulator.outages import Outage, Outages
from local.simulator.quota import TokenBucket
from local.simulator.stage_events import StageEventFeed, check_delivery
from local.simulator.store import Record, Store

COUNTERS = ("served", "client_errors", "throttled", "faults_injected")
_UNKNOWN = ApiError(404, "UnknownOperationException", "Unknown operation")


class Simulator:
    """IVS Real-Time served from a scenario; a context manager that runs the server.

    >>> with Simulator(data, tps=5) as sim:
    ...     boto3.client("ivs-realtime", endpoint_url=sim.endpoint_url).list_stages()

    `live=True` replays the scenario's timeline in simulated time (`live` module): now =
    `start` (default: a minute before the first session) + `speed` x wall seconds since
    `start()`, on `wall_clock` (injectable, for tests). Its IVS Stage Update events go
    missing at the rate `event_loss` and arrive up to `event_delay_s` simulated seconds late
    (`stage_events` module); `stage_events_due()` hands over those that have arrived.
    `neighbour_tps` of each operation's quota is the customer's own application's (calls a
    wall second, like `tps`: scale both by the speed of a live replay). During each of
    `outages` (local/simulator/outages.py: simulated minutes from the clock's start) every call
    fails with a 5xx. Each operation's quota holds `burst_s` (wall) seconds of it, at least one
    call: a live replay at speed k has it hold one simulated second's worth with `1 / k`.
    """

    def __init__(
        self,
        scenario: Record,
        *,
        tps: float = 5.0,
        latency_ms: float = 0.0,
        fault_rate: float = 0.0,
        seed: int = 0,
        port: int = 0,
        host: str = "127.0.0.1",
        validate: bool = True,
        participant_order: str = "participantId",
        live: bool = False,
        speed: float = 1.0,
        start: datetime | None = None,
        event_loss: float = 0.0,
        event_delay_s: float = 0.0,
        neighbour_tps: float = 0.0,
        outages: Sequence[Outage] = (),
        burst_s: float = 1.0,
        wall_clock: WallClock = time.monotonic,
    ) -> None:
        check_speed(speed)
        check_delivery(event_loss, event_delay_s)
        if validate:
            scenario_module.validate(scenario)
        self.store = Store(scenario)
        self.live = live
        self.clock = replay_clock(self.store, live, speed, start, wall_clock)
        self.stage_events = StageEventFeed(event_loss, event_delay_s, seed)
        if live:
            for stage in scenario["stages"]:
                for session in stage.get("sessions", []):
                    self.stage_events.schedule_session(stage["arn"], session)
        reader = LiveView(self.store, self.clock) if live else self.store
        self.api = Api(reader, participant_order=participant_order)
        self.tps = tps
        self.faults = Faults(fault_rate, latency_ms, seed)
        self.outages = Outages(outages, self.clock.start)
        self._outage_failures = 0
        # The customer's own application takes `neighbour_tps` of each operation's quota; what
        # is left may be spent `burst_s` ahead (a token bucket of that many seconds' worth).
        burst = max(1.0, (tps - neighbour_tps) * burst_s)
        self._buckets = {
            op: TokenBucket(tps, burst, taken=neighbour_tps) for op in self.api.operations
        }
        self._counts = {op: dict.fromkeys(COUNTERS, 0) for op in self.api.operations}
        self._lock = threading.Lock()
        self._address = (host, port)
        self._server: ThreadingHTTPServer | None = None
        self._thread: threading.Thread | None = None

    # --- lifecycle ---------------------------------------------------------------------
    def start(self, *, begin_clock: bool = True) -> Simulator:
        """Serve; and, unless told not to, begin the clock (`clock.begin()` later, then: until
        it begins, simulated time stands at its start)."""
        server = _Server(self._address, _Handler)
        server.simulator = self
        self._server = server
        if begin_clock:
            self.clock.begin()
        self._thread = threading.Thread(
            target=server.serve_forever, kwargs={"poll_interval": 0.1}, daemon=True
        )
        self._thread.start()
        return self

    def stop(self) -> None:
        if self._server is not None:
            self._server.shutdown()
            self._server.server_close()
            self._server = None
        if self._thread is not None:
            self._thread.join()
            self._thread = None

    def __enter__(self) -> Simulator:
        return self.start()

    def __exit__(
        self,
        kind: type[BaseException] | None,
        error: BaseException | None,
        trace: TracebackType | None,
    ) -> None:
        self.stop()

    @property
    def endpoint_url(self) -> str:
        if self._server is None:
            raise RuntimeError("the simulator is not running")
        host, port = self._server.server_address[:2]
        return f"http://{host!s}:{port}"

    # --- counters ----------------------------------------------------------------------
    def stats(self) -> dict[str, Any]:
        """`{"api_calls": {op: 2xx answers}, "throttled": n, "faults_injected": n}`, and with
        outages `"outage_failures": n` (calls failed by an outage, of `faults_injected`)."""
        with self._lock:
            counts = {op: dict(c) for op, c in self._counts.items()}
            outage_failures = self._outage_failures
        stats: dict[str, Any] = {
            "api_calls": {op: c["served"] for op, c in counts.items()},
            "throttled": sum(c["throttled"] for c in counts.values()),
            "faults_injected": sum(c["faults_injected"] for c in counts.values()),
        }
        if self.outages:
            stats["outage_failures"] = outage_failures
        return stats

    def operation_stats(self) -> dict[str, dict[str, int]]:
        """Per operation: served, client_errors, throttled, faults_injected."""
        with self._lock:
            return {op: dict(c) for op, c in self._counts.items()}

    def _count(self, operation: str, counter: str) -> None:
        with self._lock:
            self._counts[operation][counter] += 1

    # --- live replay -------------------------------------------------------------------
    def now(self) -> datetime:
        """The simulated time: start + speed x wall seconds since `start()`. Not live, the
        start defaults to the wall clock's UTC time and the API ignores the clock."""
        return self.clock.now()

    def wall_seconds(self, simulated: float | timedelta) -> float:
        """Wall seconds that `simulated` seconds (or a timedelta) of simulated time last."""
        return self.clock.wall_seconds(simulated)

    def stage_events_due(self) -> list[dict[str, Any]]:
        """The `aws.ivs` "IVS Stage Update" events that have arrived by now, each once, as
        EventBridge hands them to a Lambda function (always [] unless live)."""
        return self.stage_events.due(self.clock.now_ms())

    # --- mutation hooks (thread-safe) --------------------------------------------------
    def expire_session(self, stage_arn: str, session_id: str) -> None:
        """IVS forgets a session: 404 from GetStageSession, gone from every listing."""
        self.store.expire_session(stage_arn, session_id)

    def end_active_session(self, stage_arn: str, end_time: str | datetime) -> str:
        """End the stage's active session; returns its sessionId."""
        return self.store.end_active_session(stage_arn, end_time)

    def start_session(self, stage_arn: str, session: Record) -> None:
        """Add a session in scenario format (validated; endTime null makes it active)."""
        scenario_module.validate_session(session)
        self.store.start_session(stage_arn, session)
        if self.live:
            self.stage_events.schedule_session(stage_arn, session)

    # --- one request -------------------------------------------------------------------
    def respond(self, operation: str, body: bytes) -> tuple[int, dict[str, str], bytes]:
        """(status, headers, body) for one POST /<operation>."""
        if operation not in self._buckets:
            return _error(_UNKNOWN)
        delay = self.faults.delay_s(operation, body)
        if delay:
            time.sleep(delay)
        if self.outages and self.outages.during(self.clock.now_ms()):
            with self._lock:
                self._counts[operation]["faults_injected"] += 1
                self._outage_failures += 1
            return _error(ApiError(*self.faults.outage(operation, body), "Service unavailable"))
        if not self._buckets[operation].try_acquire():
            self._count(operation, "throttled")
            return _error(ApiError(429, "ThrottlingException", "Rate exceeded"))
        fault = self.faults.fault(operation, body)
        if fault is not None:
            self._count(operation, "faults_injected")
            return _error(ApiError(*fault, "Injected fault"))
        try:
            result = self.api.handle(operation, body)
        except ApiError as error:
            self._count(operation, "client_errors")
            return _error(error)
        self._count(operation, "served")
        return 200, _headers(), json.dumps(result, separators=(",", ":")).encode()


def _headers(**extra: str) -> dict[str, str]:
    return {"Content-Type": "application/json", "x-amzn-RequestId": str(uuid.uuid4()), **extra}


def _error(error: ApiError) -> tuple[int, dict[str, str], bytes]:
    body = {"exceptionMessage": error.message, "message": error.message}
    return error.status, _headers(**{"x-amzn-ErrorType": error.code}), json.dumps(body).encode()


class _Server(ThreadingHTTPServer):
    daemon_threads = True
    request_queue_size = 256
    simulator: Simulator

    def handle_error(self, request: Any, client_address: Any) -> None:
        """A client gone mid-request (a worker process ended, as an interrupted run ends its
        workers) is no error of the server's: nothing to print."""
        if isinstance(sys.exc_info()[1], ConnectionError):
            return
        super().handle_error(request, client_address)


class _Handler(BaseHTTPRequestHandler):
    protocol_version = "HTTP/1.1"  # keep-alive, as botocore's connection pool expects
    # Headers and body are two writes: without TCP_NODELAY, Nagle holds the body back until
    # the client's delayed ACK (~40 ms), which would add 40 ms to every call.
    disable_nagle_algorithm = True
    timeout = 60
    server: _Server

    def do_POST(self) -> None:
        length = int(self.headers.get("Content-Length") or 0)
        body = self.rfile.read(length) if length else b""
        operation = self.path.split("?", 1)[0].strip("/")
        self._send(*self.server.simulator.respond(operation, body))

    def do_GET(self) -> None:
        self._send(*_error(_UNKNOWN))

    def _send(self, status: int, headers: dict[str, str], body: bytes) -> None:
        self.send_response(status)
        for name, value in headers.items():
            self.send_header(name, value)
        self.send_header("Content-Length", str(len(body)))
        self.end_headers()
        self.wfile.write(body)

    def log_message(self, format: str, *args: Any) -> None:
        pass


def _live_options_problem(
    live: bool, speed: float | None, event_loss: float | None, event_delay_s: float | None
) -> str | None:
    """The one-line error for the `simulate` command's live flags, or None."""
    given = {"--speed": speed, "--event-loss": event_loss, "--event-delay-s": event_delay_s}
    named = [flag for flag, value in given.items() if value is not None]
    if not live:
        return f"{', '.join(named)}: only with --live" if named else None
    try:
        if speed is not None:
            check_speed(speed)
    except ValueError as error:
        return f"--speed: {error}"
    try:
        check_delivery(event_loss or 0.0, 0.0)
    except ValueError as error:
        return f"--event-loss: {error}"
    try:
        check_delivery(0.0, event_delay_s or 0.0)
    except ValueError as error:
        return f"--event-delay-s: {error}"
    return None


def serve_forever(
    scenario_path: Path,
    *,
    port: int = 0,
    tps: float = 5.0,
    latency_ms: float = 0.0,
    fault_rate: float = 0.0,
    seed: int = 0,
    live: bool = False,
    speed: float | None = None,
    event_loss: float | None = None,
    event_delay_s: float | None = None,
) -> int:
    """The `simulate` command: print the endpoint URL, serve until Ctrl-C, return 0.

    Live, it then prints each IVS Stage Update event as one JSON line when it arrives."""
    problem = _live_options_problem(live, speed, event_loss, event_delay_s)
    if problem:
        print(f"error: {problem}", file=sys.stderr)
        return 2
    try:
        data = scenario_module.load(scenario_path)
    except (OSError, scenario_module.ScenarioError) as error:
        print(f"error: {error}", file=sys.stderr)
        return 2
    simulator = Simulator(
        data,
        tps=tps,
        latency_ms=latency_ms,
        fault_rate=fault_rate,
        seed=seed,
        port=port,
        validate=False,
        live=live,
        speed=1.0 if speed is None else speed,
        event_loss=event_loss or 0.0,
        event_delay_s=event_delay_s or 0.0,
    )
    replay = ""
    if live:
        replay = (
            f"; live replay from {format_time(simulator.clock.start)} at {simulator.clock.speed}x"
            ", IVS Stage Update events on stdout as JSON lines"
        )
    with simulator:
        print(simulator.endpoint_url, flush=True)
        print(
            f"serving IVS Real-Time from {scenario_path} (tps={tps}, latency_ms={latency_ms}, "
            f"fault_rate={fault_rate}, seed={seed}){replay}; Ctrl-C stops",
            file=sys.stderr,
            flush=True,
        )
        with contextlib.suppress(KeyboardInterrupt):
            stop = threading.Event()
            while not stop.wait(0.1 if live else None):
                for event in simulator.stage_events_due():
                    print(json.dumps(event), flush=True)
    print(json.dumps(simulator.stats()), file=sys.stderr)
    return 0
