"""Who is in a session and when: participants (actors) with their connected spans, publish
spans and own extra events (errors, token exchanges, replication).

A session has a host who publishes for nearly all of it, up to 11 more publishers (SDK
clients, now and then a WHIP encoder or the stage's RTMP(S) ingest configuration), replicas of
publishers of other stages, and viewers who only subscribe. The designated session (the
first session of the first stage) also holds the coverage cast, which guarantees every event
name and error code, a participant with exactly 100 events and one with more than 100.
"""

from __future__ import annotations

import random
from dataclasses import dataclass, field
from typing import Any

from local.generator import vocab
from local.generator.timeline import (
    HOUR,
    MINUTE,
    SECOND,
    Ids,
    IngestConfig,
    Link,
    SessionPlan,
    StagePlan,
    iso,
)

Span = tuple[int, int | None]  # (start, stop); stop None = still going at the anchor
Ev = tuple[int, int, str, dict[str, Any]]  # (time, rank, name, members other than replica)

# Order of events at the same millisecond: opening before inner before closing events.
RANK = {
    name: rank
    for rank, name in enumerate(
        (
            "JOIN_ERROR",
            "JOINED",
            "TOKEN_EXCHANGED",
            "PUBLISH_ERROR",
            "PUBLISH_STARTED",
            "REPLICATION_STARTED",
            "SUBSCRIBE_ERROR",
            "SUBSCRIBE_STARTED",
            "SUBSCRIBE_STOPPED",
            "REPLICATION_STOPPED",
            "PUBLISH_STOPPED",
            "LEFT",
        )
    )
}
UNKNOWN_RANK = RANK["TOKEN_EXCHANGED"]
MAX_PUBLISHERS = 12
EXACT_EVENTS = 100  # the archiver's page size: one participant has exactly this many events
_PUBLISHER_WEIGHTS = (4, 6, 8, 9, 10, 10, 10, 9, 9, 8, 8, 9)  # for 1..12 publishers


def ev(time: int, name: str, **members: Any) -> Ev:
    return (time, RANK.get(name, UNKNOWN_RANK), name, members)


@dataclass
class Actor:
    """One participant of a session being generated."""

    pid: str
    user_id: str
    kind: str  # web | mobile | whip | rtmp | replica
    attributes: dict[str, str]
    client: dict[str, str]
    segments: list[Span]  # connected spans, JOINED .. LEFT
    publishes: list[Span] = field(default_factory=list)
    subscribes: bool = True  # subscribes to the featured publishers
    watches_all: bool = False  # subscribes to every publisher (a producer's monitor)
    featured: bool = True  # viewers subscribe to this publisher
    extra: list[Ev] = field(default_factory=list)
    replication: dict[str, str] = field(default_factory=dict)
    ingest: IngestConfig | None = None
    protocol: str = "UNKNOWN"
    recording_failed: bool = False


@dataclass(frozen=True)
class ReplicaSpec:
    """A host replicated into another session from `start` to `stop`."""

    source: Actor
    source_stage_name: str
    source_arn: str
    source_session_id: str
    dest: tuple[int, int]
    start: int
    stop: int


@dataclass
class Ctx:
    rng: random.Random
    ids: Ids
    codes: vocab.ErrorCodes


def between(rng: random.Random, low: int, high: int) -> int:
    return rng.randint(low, max(low, high))


def new_actor(ctx: Ctx, kind: str, role: str, segments: list[Span]) -> Actor:
    """A web or mobile SDK client with its client data and token attributes."""
    rng = ctx.rng
    name = f"{rng.choice(vocab.FIRST_NAMES)} {rng.choice('ABCDEFGHJKLMNPRSTVW')}."
    client = {"ispName": rng.choice(vocab.ISPS)}
    if kind == "web":
        os_name, os_version, browser, browser_version = rng.choice(vocab.WEB_CLIENTS)
        client |= {"osName": os_name, "osVersion": os_version, "browserName": browser}
        client |= {"browserVersion": browser_version, "sdkVersion": rng.choice(vocab.WEB_SDKS)}
    elif kind == "mobile":
        os_name, os_version = rng.choice(vocab.MOBILE_CLIENTS)
        client |= {"osName": os_name, "osVersion": os_version}
        client |= {"sdkVersion": rng.choice(vocab.MOBILE_SDKS)}
    user_id = f"user-{rng.randrange(10**7):07d}"
    attributes = {"displayName": name, "role": role}
    return Actor(ctx.ids.participant(), user_id, kind, attributes, client, segments)


def whip_encoder(ctx: Ctx, segments: list[Span]) -> Actor:
    """An encoder (OBS and the like) publishing over WHIP with a participant token."""
    client = {"ispName": ctx.rng.choice(vocab.ISPS)}
    user_id = f"encoder-{ctx.rng.randrange(10**4):04d}"
    attributes = {"source": "whip-encoder"}
    actor = Actor(ctx.ids.participant(), user_id, "whip", attributes, client, segments)
    actor.subscribes, actor.protocol = False, "WHIP"
    return actor


def rtmp_encoder(ctx: Ctx, config: IngestConfig, segments: list[Span]) -> Actor:
    """The stage's RTMP(S) ingest configuration: same participant id in every session."""
    client = {"ispName": ctx.rng.choice(vocab.ISPS)}
    attributes = {"source": "rtmp-encoder"}
    actor = Actor(config.participant_id, config.user_id, "rtmp", attributes, client, segments)
    actor.subscribes, actor.protocol, actor.ingest = False, config.protocol, config
    return actor


def presence(ctx: Ctx, plan: SessionPlan, *, publisher: bool) -> list[Span]:
    """Connected spans: publishers stay long, viewers come and go; some reconnect."""
    rng, start, last = ctx.rng, plan.start, plan.last
    length = last - start
    if publisher:
        join = start + 500 + int(length * 0.3 * rng.random())
        leave = last - 500 - int(length * 0.3 * rng.random())
        still = plan.end is None and rng.random() < 0.8
    else:
        join = start + 1000 + int((length - 2000) * 0.85 * rng.random() ** 2)
        leave = join + int((last - 500 - join) * (1 - 0.85 * rng.random() ** 2))
        still = plan.end is None and rng.random() < 0.7
    if rng.random() >= (0.1 if publisher else 0.08) or leave - join < 2 * MINUTE:
        return [(join, None if still else leave)]
    cut = join + int((leave - join) * rng.uniform(0.2, 0.8))
    back = cut + rng.randint(2 * SECOND, 30 * SECOND)
    if back >= leave - 10 * SECOND:
        return [(join, None if still else leave)]
    return [(join, cut), (back, None if still else leave)]


def publish_spans(ctx: Ctx, plan: SessionPlan, segment: Span, pieces: int) -> list[Span]:
    """`pieces` publish spans inside a connected span, with short pauses between them."""
    rng = ctx.rng
    join, leave = segment
    low = join + rng.randint(500, 5 * SECOND)
    high = (plan.last if leave is None else leave) - rng.randint(500, 3 * SECOND)
    if high - low < 20 * SECOND * pieces:
        pieces = 1
    if high - low < 2 * SECOND:
        return []
    spans: list[Span] = list(split(rng, low, high, pieces))
    if leave is None and rng.random() < 0.8:
        spans[-1] = (spans[-1][0], None)
    return spans


def split(rng: random.Random, low: int, high: int, pieces: int) -> list[tuple[int, int]]:
    """`pieces` disjoint spans in order inside (low, high), each most of its share."""
    step = (high - low) // pieces
    spans = []
    for index in range(pieces):
        begin = low + index * step + (rng.randint(0, step // 10) if index else 0)
        spans.append((begin, low + (index + 1) * step - rng.randint(1, max(1, step // 8))))
    return spans


def host(ctx: Ctx, plan: SessionPlan) -> Actor:
    """Opens the session, publishes throughout it, leaves last."""
    rng = ctx.rng
    join = plan.start + rng.randint(50, 1500)
    leave = None if plan.end is None else plan.end - rng.randint(500, 3 * SECOND)
    actor = new_actor(ctx, "web", "host", [(join, leave)])
    stop = None if leave is None else leave - rng.randint(SECOND, 3 * SECOND)
    actor.publishes = [(join + rng.randint(SECOND, 3 * SECOND), stop)]
    return actor


def replicate(
    ctx: Ctx, stage: StagePlan, plan: SessionPlan, actor: Actor, link: Link
) -> ReplicaSpec | None:
    """Give the host REPLICATION_STARTED/STOPPED to the link's destination; spec its replica."""
    begin, end = actor.publishes[0]
    low, high = max(link.window[0], begin), min(link.window[1], end or plan.last)
    if high - low < MINUTE:
        return None
    start = low + int((high - low) * ctx.rng.uniform(0.1, 0.3))
    stop = high - int((high - low) * ctx.rng.uniform(0.1, 0.3))
    where = {"destinationStageArn": link.dest_arn, "destinationSessionId": link.dest_session_id}
    actor.extra += [
        ev(start, "REPLICATION_STARTED", **where),
        ev(stop, "REPLICATION_STOPPED", **where),
    ]
    actor.replication = {"replicationType": "SOURCE", "replicationState": "STOPPED"}
    if link.dest is None:
        return None
    return ReplicaSpec(actor, stage.name, stage.arn, plan.session_id, link.dest, start, stop)


def replica(ctx: Ctx, spec: ReplicaSpec) -> Actor:
    """The replicated host as a participant of the destination session (same participant id)."""
    rng, source = ctx.rng, spec.source
    join = spec.start + rng.randint(200, 800)
    begin = join + rng.randint(100, 500)
    end = spec.stop + rng.randint(100, 500)
    leave = end + rng.randint(100, 500)
    attributes = source.attributes | {"replicatedFrom": spec.source_stage_name}
    actor = Actor(source.pid, source.user_id, "replica", attributes, dict(source.client), [])
    actor.segments, actor.publishes = [(join, leave)], [(begin, end)]
    actor.subscribes, actor.protocol = False, source.protocol
    actor.replication = {
        "replicationType": "REPLICA",
        "replicationState": "STOPPED",
        "sourceStageArn": spec.source_arn,
        "sourceSessionId": spec.source_session_id,
    }
    return actor


def token(
    caps: list[str], attributes: dict[str, str], user_id: str, expires: int
) -> dict[str, Any]:
    """An ExchangedParticipantToken."""
    return {
        "capabilities": caps,
        "attributes": attributes,
        "userId": user_id,
        "expirationTime": iso(expires),
    }


def token_expiry(ctx: Ctx, actor: Actor) -> int:
    issued = actor.segments[0][0] - ctx.rng.randint(5 * SECOND, 10 * MINUTE)
    return issued + vocab.TOKEN_HOURS * HOUR


def publisher_count(ctx: Ctx, target: int, room: int) -> int:
    wanted = ctx.rng.choices(range(1, MAX_PUBLISHERS + 1), weights=_PUBLISHER_WEIGHTS)[0]
    return max(1, min(wanted, room, target))


def add_random_errors(ctx: Ctx, actor: Actor) -> None:
    """Now and then: a failed publish attempt, a publish ended by an error, a token update,
    a failed rejoin, a failed recording."""
    rng, codes = ctx.rng, ctx.codes
    if actor.publishes and rng.random() < 0.1:
        begin = actor.publishes[0][0]
        join = max(join for join, _ in actor.segments if join < begin)
        group = codes.ingest_publish if actor.kind in ("whip", "rtmp") else codes.sdk_publish
        if begin - join >= 2 and group:
            when = begin - rng.randint(1, min(3 * SECOND, begin - join - 1))
            actor.extra.append(ev(when, "PUBLISH_ERROR", errorCode=rng.choice(group)))
    for begin, end in actor.publishes:
        if end is not None and end - begin >= 100 and codes.stream_end and rng.random() < 0.05:
            when = end - rng.randint(1, 50)
            actor.extra.append(ev(when, "PUBLISH_ERROR", errorCode=rng.choice(codes.stream_end)))
    if len(actor.segments) > 1 and codes.join and rng.random() < 0.3:
        gap_start, gap_end = actor.segments[0][1], actor.segments[1][0]
        assert gap_start is not None
        when = between(rng, gap_start + 1, gap_end - 1)
        actor.extra.append(ev(when, "JOIN_ERROR", errorCode=rng.choice(codes.join)))
    if actor.kind in ("web", "mobile") and not actor.publishes and rng.random() < 0.02:
        join, leave = actor.segments[0]
        when = join + ((leave or join + 2 * SECOND) - join) // 2
        caps = ["SUBSCRIBE"]
        before, after = actor.attributes, actor.attributes | {"handRaised": "true"}
        expires = token_expiry(ctx, actor)
        previous = token(caps, before, actor.user_id, expires)
        new = token(caps, after, actor.user_id, expires)
        actor.extra.append(ev(when, "TOKEN_EXCHANGED", previousToken=previous, newToken=new))
        actor.attributes = after
    if actor.publishes and rng.random() < 0.05:
        actor.recording_failed = True


def regular_cast(
    ctx: Ctx, stage: StagePlan, plan: SessionPlan, target: int, first: list[Actor], incoming: int
) -> list[Actor]:
    """Publishers after `first` (which starts with the host), then viewers up to `target`."""
    rng = ctx.rng
    actors = list(first)
    publishers = sum(1 for actor in first if actor.publishes)
    room = MAX_PUBLISHERS - incoming
    wanted = max(publishers, publisher_count(ctx, target - incoming, room))
    ingest_used = any(actor.kind == "rtmp" for actor in first)
    for _ in range(wanted - publishers):
        roll = rng.random()
        segments = presence(ctx, plan, publisher=True)
        if roll < 0.12:
            actor = whip_encoder(ctx, segments)
        elif roll < 0.24 and not ingest_used:
            actor, ingest_used = rtmp_encoder(ctx, stage.ingest, segments), True
        else:
            actor = new_actor(ctx, "web" if roll < 0.8 else "mobile", "speaker", segments)
        pieces = 1 if actor.kind in ("whip", "rtmp") else rng.choice((1, 1, 2, 2, 3, 3))
        for segment in segments:
            actor.publishes += publish_spans(ctx, plan, segment, pieces)
        add_random_errors(ctx, actor)
        actors.append(actor)
    for _ in range(target - incoming - len(actors)):
        segments = presence(ctx, plan, publisher=False)
        actor = new_actor(ctx, "web" if rng.random() < 0.75 else "mobile", "viewer", segments)
        add_random_errors(ctx, actor)
        actors.append(actor)
    return actors
