"""When a session failed for a reason that may pass (IVS answering 5xx or throttling through an
outage, a call timing out, no share of the budget, the ledger or S3 unreachable), it is tried
again later, with growing delays, instead of failing its SQS message: SQS's own redelivery would
come after the visibility timeout, count towards the dead-letter queue's 5 receives, and age the
message towards its 14-day retention. The worker sends a fresh copy, delayed, and deletes the
one it received, so an outage of any length costs no dead letter.

The delay doubles from 30 s up to 15 minutes (SQS's longest delay; RETRY_DELAY_MAX_MS, shorter
in a local run): after IVS recovers, every session waiting is back within 15 minutes. Only after
MAX_RETRIES in a row (about 14 days at the longest delay, past what the message itself could
wait) is the session dead-lettered, with its last error, for a person to look at. What can
never succeed (a malformed message) is dead-lettered at once; a session IVS no longer knows is
marked EXPIRED, not retried.
"""

from __future__ import annotations

import math
import random

from archiver.messages import SessionMessage

# Receives of one message before SQS moves it to the dead-letter queue (the work queue's redrive
# policy): only a worker that crashed or timed out on it each time, as a failure sends a copy.
MAX_RECEIVES = 5
# About 14 days of retries at the longest delay (15 minutes).
MAX_RETRIES = 14 * 24 * 4
# SQS's longest message delay.
MAX_DELAY_S = 900
# The first delay is this fraction of an invocation's length.
FIRST_DELAY_FRACTION = 1 / 30


def delay_s(retry: int, longest_ms: int, *, jitter: float | None = None) -> int:
    """Seconds before the `retry`-th try (1 for the first), whole, at least 1: doubling from a
    thirtieth of `longest_ms` (retryDelayMaxMs: 15 minutes) up to it, give or take 20% so that
    sessions failed together do not come back together."""
    longest = min(MAX_DELAY_S, longest_ms / 1000)
    base = longest * FIRST_DELAY_FRACTION * 2 ** min(retry - 1, 30)
    spread = random.uniform(0.8, 1.2) if jitter is None else jitter
    return max(1, min(MAX_DELAY_S, math.ceil(min(base, longest) * spread)))


def next_try(message: SessionMessage) -> SessionMessage | None:
    """The copy to send for its next try, or None when it has been retried long enough."""
    if message.retry >= MAX_RETRIES:
        return None
    return message.model_copy(update={"retry": message.retry + 1})
