"""The coverage cast of the designated session (the first ended session of the first stage).

Whatever the seed and sizes, these six participants carry every event name and error code of
the installed model, one has exactly 100 events (the archiver's page size) and one more than
100:
- the host, who publishes throughout and is replicated to another stage;
- a backstage WHIP feed that nobody but the producer watches and that drops 49 times:
  JOINED, 49 x PUBLISH_STARTED/PUBLISH_STOPPED, LEFT = exactly 100 events;
- a viewer promoted to guest: PUBLISH_ERROR (INSUFFICIENT_CAPABILITIES), TOKEN_EXCHANGED to a
  publish token, then publish spans ended by each stream-limit error;
- the stage's RTMP(S) encoder, rejected once for each ingest error before it streams;
- a producer who watches every publisher (over 100 events) and gets SUBSCRIBE_ERRORs;
- an unlucky mobile viewer whose rejoins fail with each JOIN_ERROR code.
"""

from __future__ import annotations

from local.generator import vocab
from local.generator.cast import (
    EXACT_EVENTS,
    RANK,
    SECOND,
    Actor,
    Ctx,
    ev,
    host,
    new_actor,
    rtmp_encoder,
    split,
    token,
    token_expiry,
    whip_encoder,
)
from local.generator.timeline import SessionPlan, StagePlan


def coverage_cast(ctx: Ctx, stage: StagePlan, plan: SessionPlan) -> list[Actor]:
    """The six participants above, inside an ended session of at least ~30 minutes."""
    assert plan.end is not None
    length = plan.end - plan.start

    def at(fraction: float) -> int:
        return plan.start + int(length * fraction) + ctx.rng.randint(0, 999)

    backstage = _backstage(ctx, at(0.05), at(0.9))
    encoder = _encoder(ctx, stage, at(0.35), at(0.8))
    return [
        host(ctx, plan),
        backstage,
        _guest(ctx, at(0.12), at(0.3), at(0.93)),
        encoder,
        _producer(ctx, at(0.01), at(0.97), backstage, encoder),
        _unlucky(ctx, at(0.2), at(0.4), at(0.95)),
    ]


def _backstage(ctx: Ctx, join: int, leave: int) -> Actor:
    actor = whip_encoder(ctx, [(join, leave)])
    actor.featured = False
    actor.attributes = {"source": "whip-encoder", "feed": "backstage"}
    pairs = (EXACT_EVENTS - 2) // 2
    low, high = join + SECOND, leave - SECOND
    step = (high - low) // pairs
    uniform = ctx.rng.uniform
    actor.publishes = [
        (
            low + i * step + int(step * uniform(0.05, 0.25)),
            low + i * step + int(step * uniform(0.6, 0.9)),
        )
        for i in range(pairs)
    ]
    return actor


def _guest(ctx: Ctx, join: int, promoted: int, leave: int) -> Actor:
    rng, codes = ctx.rng, ctx.codes
    actor = new_actor(ctx, "web", "viewer", [(join, leave)])
    expires = token_expiry(ctx, actor)
    before, after = actor.attributes, actor.attributes | {"role": "guest"}
    previous = token(["SUBSCRIBE"], before, actor.user_id, expires)
    new = token(["PUBLISH", "SUBSCRIBE"], after, actor.user_id, expires)
    actor.extra.append(ev(promoted, "TOKEN_EXCHANGED", previousToken=previous, newToken=new))
    actor.attributes = after
    for code in codes.capabilities:
        failed = promoted - rng.randint(2 * SECOND, 20 * SECOND)
        actor.extra.append(ev(failed, "PUBLISH_ERROR", errorCode=code))
    spans = split(rng, promoted + 2 * SECOND, leave - 2 * SECOND, len(codes.stream_end) + 1)
    actor.publishes = list(spans)
    for (_, end), code in zip(spans, codes.stream_end, strict=False):
        actor.extra.append(ev(end - rng.randint(1, 50), "PUBLISH_ERROR", errorCode=code))
    return actor


def _encoder(ctx: Ctx, stage: StagePlan, join: int, leave: int) -> Actor:
    actor = rtmp_encoder(ctx, stage.ingest, [(join, leave)])
    rejected = ctx.codes.ingest_publish
    for index, code in enumerate(rejected):
        actor.extra.append(ev(join + (index + 1) * SECOND, "PUBLISH_ERROR", errorCode=code))
    begin = join + (len(rejected) + 1) * SECOND
    actor.publishes = [(begin, leave - ctx.rng.randint(SECOND, 3 * SECOND))]
    return actor


def _producer(ctx: Ctx, join: int, leave: int, backstage: Actor, encoder: Actor) -> Actor:
    actor = new_actor(ctx, "web", "producer", [(join, leave)])
    actor.watches_all = True
    # between two backstage spans (the producer's subscriptions stop <= 250 ms after a span
    # and start >= 300 ms into the next): the feed is gone
    (_, gone), (back, _) = backstage.publishes[10], backstage.publishes[11]
    assert gone is not None
    for code in ctx.codes.publisher_not_found:
        actor.extra.append(
            ev(
                (gone + back) // 2,
                "SUBSCRIBE_ERROR",
                remoteParticipantId=backstage.pid,
                errorCode=code,
            )
        )
    # retried: before the subscription to the encoder starts (>= 300 ms after it publishes)
    begin = encoder.publishes[0][0]
    for index, code in enumerate(ctx.codes.subscribe_retry[:2]):
        when = begin + 100 * (index + 1)
        actor.extra.append(
            ev(when, "SUBSCRIBE_ERROR", remoteParticipantId=encoder.pid, errorCode=code)
        )
    # event names this generator does not know yet (a newer botocore): plain events
    for name in vocab.event_names():
        if name not in RANK:
            actor.extra.append(ev(join + (leave - join) // 2, name))
    return actor


def _unlucky(ctx: Ctx, join: int, drop: int, leave: int) -> Actor:
    codes = ctx.codes.join
    back = drop + (len(codes) + 1) * 5 * SECOND
    actor = new_actor(ctx, "mobile", "viewer", [(join, drop), (back, leave)])
    for index, code in enumerate(codes):
        actor.extra.append(ev(drop + (index + 1) * 5 * SECOND, "JOIN_ERROR", errorCode=code))
    return actor
