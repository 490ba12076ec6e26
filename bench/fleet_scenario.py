"""A busy day of an account: many stages, sessions ending all day long, most of them calls and
meetings of 2 to 12 people, some of hundreds, one of thousands.

Built with the scenario generator's own parts (local/generator), so the participants and events
are as realistic as `python -m local generate`'s; only the plan differs: `sessions` sessions
spread over `stages` stages and over one day (a stage's sessions follow one another).
"""

from __future__ import annotations

import random
from datetime import datetime
from typing import Any

from local.generator.cast import Ctx, regular_cast
from local.generator.cast import host as new_host
from local.generator.session import session_record
from local.generator.timeline import HOUR, MINUTE, Ids, SessionPlan, _stage, to_ms
from local.generator.vocab import ErrorCodes

SMALL = (2, 12)  # most sessions: calls and meetings
MEDIUM = (100, 500)  # some: town halls, classes
LARGE = 2000  # one: an all-hands
MEDIUM_SHARE = 0.02


def session_sizes(rng: random.Random, sessions: int, large: int = LARGE) -> list[int]:
    """One session of `large` (thousands; 0: none), MEDIUM_SHARE of hundreds, the rest of 2 to
    12, shuffled."""
    sizes = [large] if sessions and large else []
    medium = round((sessions - len(sizes)) * MEDIUM_SHARE)
    sizes += [rng.randint(*MEDIUM) for _ in range(medium)]
    sizes += [rng.randint(*SMALL) for _ in range(sessions - len(sizes))]
    rng.shuffle(sizes)
    return sizes


def fleet_scenario(
    *,
    stages: int,
    sessions: int,
    seed: int,
    day: datetime,
    hours: float = 24.0,
    large: int = LARGE,
) -> dict[str, Any]:
    """`sessions` ended sessions over `stages` stages, within `hours` from `day`."""
    rng = random.Random(seed)
    ids = Ids(rng)
    ctx = Ctx(rng, ids, ErrorCodes.from_model())
    plans = [_stage(rng, ids, index) for index in range(stages)]
    sizes = session_sizes(rng, sessions, large)
    per_stage = [sizes[index::stages] for index in range(stages)]
    begin, length = to_ms(day), int(hours * HOUR)
    out = []
    for plan, stage_sizes in zip(plans, per_stage, strict=True):
        records = []
        slot = length // max(1, len(stage_sizes))
        for index, size in enumerate(stage_sizes):
            start = begin + index * slot + rng.randint(0, slot // 5)
            longest = max(3 * MINUTE, min(slot * 3 // 4, 2 * HOUR))
            end = start + rng.randint(min(2 * MINUTE, longest), longest)
            session = SessionPlan(plan.index, index, ids.session(), start, end, end)
            plan.sessions.append(session)
            actors = regular_cast(ctx, plan, session, size, [new_host(ctx, session)], 0)
            records.append(session_record(ctx, plan, session, actors))
        out.append({"arn": plan.arn, "name": plan.name, "tags": plan.tags, "sessions": records})
    return {"stages": out}
