"""A simulated year of archived sessions, written as the archiver writes them.

Each day's sessions are cast by the scenario generator's parts (`local.generator`: hosts,
publishers, viewers, subscriptions, errors drawn from the botocore model's codes), on a fixed
set of stages whose activity differs (a few busy stages, many quiet ones), one session at a time
per stage. User ids are drawn from one user base for the whole year by a Zipf-like law (a few
regulars often, most users now and then), as an account's audience returns. Each session's rows
are made with the archiver's own row builders (`archiver.rows`) and written with its writer as
landing objects under the contract's keys; `commit_groups` cuts the year into the archive
worker's commits.
"""

from __future__ import annotations

import random
from bisect import bisect
from collections.abc import Iterable, Iterator
from dataclasses import dataclass
from datetime import UTC, date, datetime, timedelta
from functools import cache
from itertools import accumulate
from pathlib import Path
from typing import Any

from archiver.commit import LandedSession
from archiver.landing import FolderLanding
from archiver.settings import Settings
from local.generator.cast import Ctx, StagePlan, host, regular_cast
from local.generator.session import session_record
from local.generator.timeline import HOUR, MINUTE, Ids, SessionPlan, plan_stages, to_ms
from local.generator.vocab import ErrorCodes
from local.landed import land_session

CHUNK_SIZE = Settings.model_fields["chunk_size"].default  # the archiver's default
# From a session's end to ARCHIVED: discovery runs every 10 minutes, then the archive itself.
ARCHIVE_LAG = (2 * MINUTE, 15 * MINUTE)


@dataclass(frozen=True)
class YearShape:
    """How big the simulated year is."""

    days: int = 365
    stages: int = 20
    sessions_per_day: int = 50  # over all stages
    participants: int = 8  # mean per session
    batch: int = 10  # sessions per commit: the archive worker's batch (MAX_BATCH)
    seed: int = 7
    first_day: date = date(2025, 1, 1)

    @property
    def last_day(self) -> date:
        return self.first_day + timedelta(days=self.days - 1)

    @property
    def users(self) -> int:
        """The account's user base: about 20 sessions' worth of people a day."""
        return max(50, 20 * self.sessions_per_day * self.participants)

    @property
    def encoders(self) -> int:
        """The account's WHIP encoders (OBS and the like), a few per stage."""
        return 3 * self.stages


@dataclass(frozen=True)
class Landed:
    """A session whose landing objects are written, and when the worker archived it (ms)."""

    session: LandedSession
    archived_ms: int
    rows: dict[str, int]  # per table


def stage_plans(shape: YearShape) -> list[StagePlan]:
    """The account's stages (the same every day), with their names, ingest and recording."""
    rng = random.Random(f"stages-{shape.seed}")
    plans, _ = plan_stages(rng, Ids(rng), shape.stages, 1, _day_ms(shape.first_day))
    for plan in plans:
        plan.sessions.clear()
    return plans


def _day_ms(day: date) -> int:
    return to_ms(datetime(day.year, day.month, day.day, tzinfo=UTC))


def _stage_weights(stages: int) -> list[float]:
    """Some stages are much busier than others (Zipf-like, exponent 0.8)."""
    return [1 / (index + 1) ** 0.8 for index in range(stages)]


def land_day(shape: YearShape, index: int, root: Path) -> list[Landed]:
    """Writes the landing objects of every session that started on day `index` (0-based) under
    `root`; the sessions, in the order the worker archived them."""
    day = shape.first_day + timedelta(days=index)
    rng = random.Random(f"day-{shape.seed}-{index}")
    ctx = Ctx(rng, Ids(rng), ErrorCodes.from_model())
    users = random.Random(f"users-{shape.seed}-{index}")
    stages = stage_plans(shape)
    counts = [0] * len(stages)
    for chosen in rng.choices(
        range(len(stages)), _stage_weights(len(stages)), k=shape.sessions_per_day
    ):
        counts[chosen] += 1
    landing = FolderLanding(root)
    landed = []
    start_of_day = _day_ms(day)
    for stage, count in zip(stages, counts, strict=True):
        for slot, (start, end) in enumerate(_session_times(rng, start_of_day, count)):
            plan = SessionPlan(stage.index, slot, ctx.ids.session(), start, end, end)
            size = max(1, round(shape.participants * rng.lognormvariate(0, 0.5)))
            actors = regular_cast(ctx, stage, plan, size, [host(ctx, plan)], 0)
            record = _returning_users(session_record(ctx, stage, plan, actors), users, shape)
            archived = end + rng.randint(*ARCHIVE_LAG)
            landed.append(_write_session(landing, stage, record, archived))
    landed.sort(key=lambda item: (item.archived_ms, item.session.id))
    return landed


def _session_times(rng: random.Random, day_start: int, count: int) -> Iterator[tuple[int, int]]:
    """`count` sessions of one stage in one day, one after another (a stage holds one session
    at a time), each starting in its share of the day and lasting 20 minutes to 4 hours."""
    if count == 0:
        return
    share = 24 * HOUR // count
    for slot in range(count):
        start = day_start + slot * share + rng.randint(0, share // 10)
        shortest = min(20 * MINUTE, share // 2)
        longest = max(shortest, min(share * 85 // 100, 4 * HOUR))
        yield start, start + rng.randint(shortest, longest)


@cache
def _popularity(size: int) -> list[float]:
    """Cumulative weights of a Zipf-like law (exponent 0.7): rank 0 is the most frequent."""
    return list(accumulate(1 / (rank + 1) ** 0.7 for rank in range(size)))


def _draw(rng: random.Random, size: int) -> int:
    weights = _popularity(size)
    return min(size - 1, bisect(weights, rng.random() * weights[-1]))


def _returning_users(
    record: dict[str, Any], rng: random.Random, shape: YearShape
) -> dict[str, Any]:
    """The generator's user ids (fresh random ones) replaced by the account's: users and WHIP
    encoders drawn from the account's by a Zipf-like law (a few regulars often, most now and
    then); stage ingest encoders keep their ids. A generated id maps to the same user in the
    participant and in its exchanged tokens."""
    chosen: dict[str, str] = {}

    def user(generated: str) -> str:
        if generated not in chosen:
            if generated.startswith("user-"):
                chosen[generated] = f"user-{_draw(rng, shape.users):07d}"
            elif generated[len("encoder-") :].isdigit():  # a WHIP encoder's token
                chosen[generated] = f"encoder-{_draw(rng, shape.encoders):04d}"
            else:
                chosen[generated] = generated
        return chosen[generated]

    for participant in record["participants"]:
        participant["userId"] = user(participant["userId"])
        for event in participant["events"]:
            for token in ("previousToken", "newToken"):
                if token in event:
                    event[token]["userId"] = user(event[token]["userId"])
    return record


def _write_session(
    landing: FolderLanding, stage: StagePlan, record: dict[str, Any], archived_ms: int
) -> Landed:
    """The session's objects as the worker writes them: chunks of participants sorted by id,
    each chunk's participants and events, then the session row."""
    archived_at = datetime.fromtimestamp(archived_ms / 1000, UTC)
    landed, counts = land_session(
        landing, stage.arn, stage.name, record, archived_at=archived_at, chunk_size=CHUNK_SIZE
    )
    return Landed(landed, archived_ms, counts)


def commit_groups(days: Iterable[list[Landed]], batch: int) -> Iterator[list[Landed]]:
    """The archive worker's commits: sessions in the order they were archived, `batch` at a
    time. Days arrive in order; a session archived after midnight joins the next day's first
    commits, so a commit near midnight writes to two partitions, as the worker's would."""
    pending: list[Landed] = []
    for landed in days:
        pending = sorted(pending + landed, key=lambda item: (item.archived_ms, item.session.id))
        if not landed:
            continue
        # Every later day's sessions end, so are archived, after the next midnight: the
        # sessions archived until then are all known.
        day = landed[0].session.keys.start_time.astimezone(UTC).date()
        horizon = _day_ms(day + timedelta(days=1))
        ready = [item for item in pending if item.archived_ms <= horizon]
        full = len(ready) - len(ready) % batch
        for start in range(0, full, batch):
            yield ready[start : start + batch]
        pending = pending[full:]
    for start in range(0, len(pending), batch):
        yield pending[start : start + batch]
