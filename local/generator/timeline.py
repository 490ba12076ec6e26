"""Time and identity for a scenario: the anchor, stage/session plans and replication links.

Times are integer milliseconds since the epoch until they are written out (ISO-8601, UTC,
millisecond precision). Every stage gets `sessions` ended sessions, one per slot of the
look-back window (the 7 days before the anchor, minus the last 3 hours); slot `j` of every
stage starts at nearly the same time, so sessions of one slot overlap across stages and a
participant can be replicated between them. Odd-numbered stages also have an active session
that started within the 3 hours before the anchor and whose events all lie before it.
"""

from __future__ import annotations

import random
import string
import time
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta

from local.generator.vocab import ARN_PREFIX, STAGE_NAMES, TEAMS

SECOND = 1000
MINUTE = 60 * SECOND
HOUR = 60 * MINUTE
DAY = 24 * HOUR
LOOK_BACK = 7 * DAY
RECENT = 3 * HOUR  # ended sessions end before anchor - RECENT; active ones start after it
ACTIVE_MARGIN = 10 * SECOND  # an active session's timeline stops this long before the anchor
BASE_DATE = datetime(2026, 1, 1, tzinfo=UTC)
_EPOCH = datetime(1970, 1, 1, tzinfo=UTC)
_ALNUM = string.ascii_letters + string.digits


def to_ms(moment: datetime) -> int:
    """Milliseconds since the epoch (floor) of an aware datetime."""
    if moment.tzinfo is None:
        raise ValueError(f"{moment!r} has no time zone")
    return (moment - _EPOCH) // timedelta(milliseconds=1)


def from_ms(ms: int) -> datetime:
    return _EPOCH + timedelta(milliseconds=ms)


def iso(ms: int) -> str:
    """'2026-11-01T10:00:00.123Z'."""
    seconds, millis = divmod(ms, 1000)
    return time.strftime("%Y-%m-%dT%H:%M:%S", time.gmtime(seconds)) + f".{millis:03d}Z"


def anchor_ms(seed: int, now: datetime | None) -> int:
    """`now`, or BASE_DATE plus (seed mod 365) days: never the wall clock."""
    if now is not None:
        return to_ms(now)
    return to_ms(BASE_DATE + timedelta(days=seed % 365))


class Ids:
    """Random alphanumeric identifiers, unique within one scenario."""

    def __init__(self, rng: random.Random) -> None:
        self._rng = rng
        self._seen: set[str] = set()

    def token(self, length: int) -> str:
        while True:
            value = "".join(self._rng.choices(_ALNUM, k=length))
            if value not in self._seen:
                self._seen.add(value)
                return value

    def participant(self) -> str:
        return self.token(12)

    def session(self) -> str:
        return "st-" + self.token(13)

    def stage_arn(self) -> str:
        return f"{ARN_PREFIX}:stage/{self.token(12)}"


@dataclass(frozen=True)
class SessionPlan:
    stage: int
    slot: int  # index among the stage's ended sessions; -1 for the active one
    session_id: str
    start: int
    end: int | None
    last: int  # the latest time any event may have

    @property
    def key(self) -> tuple[int, int]:
        return (self.stage, self.slot)


@dataclass(frozen=True)
class IngestConfig:
    """The stage's RTMP(S) IngestConfiguration: its participant id is the same every session."""

    arn: str
    participant_id: str
    user_id: str
    protocol: str
    redundant: bool


@dataclass
class StagePlan:
    index: int
    arn: str
    name: str
    tags: dict[str, str]
    recording: dict[str, object] | None  # autoParticipantRecordingConfiguration
    ingest: IngestConfig
    sessions: list[SessionPlan] = field(default_factory=list)

    @property
    def stage_id(self) -> str:
        return self.arn.rsplit("/", 1)[1]


@dataclass(frozen=True)
class Link:
    """Replicate the host of a source session to `dest` during (part of) `window`."""

    dest_arn: str
    dest_session_id: str
    dest: tuple[int, int] | None  # (stage, slot) in this scenario; None: a stage not in it
    window: tuple[int, int]


def plan_stages(
    rng: random.Random, ids: Ids, stages: int, sessions: int, anchor: int
) -> tuple[list[StagePlan], dict[tuple[int, int], Link]]:
    """Stage plans with their sessions' times, and the replication links by source session."""
    plans = [_stage(rng, ids, index) for index in range(stages)]
    first, last = anchor - LOOK_BACK, anchor - RECENT
    slot = (last - first) // sessions
    offset = min(slot // 10, 30 * MINUTE)
    shortest, longest = min(slot * 55 // 100, 40 * MINUTE), min(slot * 85 // 100, 4 * HOUR)
    for plan in plans:
        for index in range(sessions):
            start = first + index * slot + rng.randint(0, offset)
            end = start + rng.randint(shortest, longest)
            plan.sessions.append(SessionPlan(plan.index, index, ids.session(), start, end, end))
        if plan.index % 2 == 1:
            start = anchor - rng.randint(20 * MINUTE, RECENT - 30 * MINUTE)
            active = SessionPlan(plan.index, -1, ids.session(), start, None, anchor - ACTIVE_MARGIN)
            plan.sessions.append(active)
    return plans, _links(rng, ids, plans, sessions)


def _stage(rng: random.Random, ids: Ids, index: int) -> StagePlan:
    arn = ids.stage_arn()
    base = STAGE_NAMES[index % len(STAGE_NAMES)]
    name = base if index < len(STAGE_NAMES) else f"{base}-{index // len(STAGE_NAMES) + 1}"
    recording: dict[str, object] | None = None
    if index == 0 or rng.random() < 0.5:
        recording = {
            "storageConfigurationArn": f"{ARN_PREFIX}:storage-configuration/{ids.token(12)}",
            "mediaTypes": ["AUDIO_VIDEO"],
            "recordingReconnectWindowSeconds": rng.choice((0, 30, 60)),
            "recordParticipantReplicas": False,
        }
    ingest = IngestConfig(
        arn=f"{ARN_PREFIX}:ingest-configuration/{ids.token(12)}",
        participant_id=ids.participant(),
        user_id=f"encoder-{name}",
        protocol="RTMPS" if index == 0 or rng.random() < 0.7 else "RTMP",
        redundant=index == 0 or rng.random() < 0.3,
    )
    tags = {"team": rng.choice(TEAMS), "environment": "production"}
    return StagePlan(index, arn, name, tags, recording, ingest)


def _links(
    rng: random.Random, ids: Ids, plans: list[StagePlan], sessions: int
) -> dict[tuple[int, int], Link]:
    """Session (0, 0) always replicates its host (coverage); others now and then.

    Links go from slot j of stage k to slot j of stage k + 1, whose session overlaps in time;
    with a single stage the destination is a stage outside the scenario.
    """
    links: dict[tuple[int, int], Link] = {}
    for plan in plans:
        for index in range(sessions):
            source = plan.sessions[index]
            has_next = plan.index + 1 < len(plans)
            if source.key != (0, 0) and not (has_next and rng.random() < 0.2):
                continue
            if has_next:
                dest = plans[plan.index + 1].sessions[index]
                assert dest.end is not None and source.end is not None
                window = (max(source.start, dest.start), min(source.end, dest.end))
                link = Link(plans[dest.stage].arn, dest.session_id, dest.key, window)
            else:
                assert source.end is not None
                link = Link(ids.stage_arn(), ids.session(), None, (source.start, source.end))
            links[source.key] = link
    return links
