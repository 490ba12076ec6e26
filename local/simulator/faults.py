"""Seeded fault injection and latency.

Each decision is a hash of (seed, operation, the request, how many times this same request was
seen before), so thread interleaving does not change which requests fail: the n-th identical
request that passes the quota fails or not whatever else runs beside it, in this run and in any
other with the same seed. The request is its parameters, with a `nextToken` taken for the page
it asks for: a token is signed with the server's own secret, new at each start, and would make
every page after the first a different request in each run.
"""

from __future__ import annotations

import hashlib
import json
import threading
from collections import Counter

from local.simulator.pagination import position

# (HTTP status, error code) of an injected fault; a quarter of them are 503s.
INTERNAL = (500, "InternalServerException")
UNAVAILABLE = (503, "ServiceUnavailableException")


class Faults:
    def __init__(self, fault_rate: float = 0.0, latency_ms: float = 0.0, seed: int = 0) -> None:
        if not 0.0 <= fault_rate <= 1.0:
            raise ValueError(f"fault_rate must be within 0..1, got {fault_rate}")
        if latency_ms < 0:
            raise ValueError(f"latency_ms must be >= 0, got {latency_ms}")
        self.fault_rate, self.latency_ms, self.seed = fault_rate, latency_ms, seed
        self._seen: Counter[tuple[str, str, bytes]] = Counter()
        self._lock = threading.Lock()

    def _draws(self, purpose: str, operation: str, body: bytes) -> tuple[float, float]:
        """Two uniform numbers in [0, 1) for the next identical request."""
        digest = hashlib.sha256(_request(body)).digest()
        with self._lock:
            occurrence = self._seen[purpose, operation, digest]
            self._seen[purpose, operation, digest] += 1
        mixed = hashlib.sha256(
            f"{self.seed}|{purpose}|{operation}|{occurrence}|".encode() + digest
        ).digest()
        scale = float(1 << 64)
        return (
            int.from_bytes(mixed[:8], "big") / scale,
            int.from_bytes(mixed[8:16], "big") / scale,
        )

    def delay_s(self, operation: str, body: bytes) -> float:
        """Latency for this request: uniform in [0.5, 1.5) x latency_ms, in seconds."""
        if self.latency_ms <= 0:
            return 0.0
        jitter, _ = self._draws("latency", operation, body)
        return self.latency_ms * (0.5 + jitter) / 1000.0

    def fault(self, operation: str, body: bytes) -> tuple[int, str] | None:
        """The (status, code) to answer instead of serving, or None."""
        if self.fault_rate <= 0:
            return None
        draw, kind = self._draws("fault", operation, body)
        if draw >= self.fault_rate:
            return None
        return UNAVAILABLE if kind < 0.25 else INTERNAL

    def outage(self, operation: str, body: bytes) -> tuple[int, str]:
        """The (status, code) of a call during an outage: the same mix as the faults, drawn
        apart from them (an outage spends none of the faults' draws)."""
        _, kind = self._draws("outage", operation, body)
        return UNAVAILABLE if kind < 0.25 else INTERNAL


def _request(body: bytes) -> bytes:
    """What identifies a request: its parameters in one order, a nextToken as its page."""
    try:
        parameters = json.loads(body or b"{}")
    except ValueError:
        return body
    if not isinstance(parameters, dict):
        return body
    if isinstance(parameters.get("nextToken"), str):
        parameters["nextToken"] = position(parameters["nextToken"])
    return json.dumps(parameters, sort_keys=True, separators=(",", ":")).encode()
