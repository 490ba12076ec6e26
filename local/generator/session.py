"""A session's participants as the API shows them: each actor's events, ordered in time,
including its subscriptions to the session's publishers, and its `Participant` members."""

from __future__ import annotations

from typing import Any

from local.generator.cast import Actor, Ctx, Ev, Span, ev
from local.generator.timeline import SessionPlan, StagePlan, iso
from local.generator.vocab import RECORDING_BUCKET

# A subscription starts 300-1500 ms after the publisher (or the subscriber) shows up and
# stops at most 250 ms after the publisher stops, so a subscription always ends before the
# next one to the same publisher starts, and retried SUBSCRIBE_ERRORs (50-250 ms) come first.
_START_DELAY = (300, 1500)
_STOP_DELAY = (0, 250)
_RETRY_DELAY = (50, 250)
_ERROR_RATE = 0.01


def session_record(
    ctx: Ctx, stage: StagePlan, plan: SessionPlan, actors: list[Actor]
) -> dict[str, Any]:
    """The session in the scenario format, participants in order of first join."""
    publishers = [actor for actor in actors if actor.publishes]
    replicas = {actor.pid for actor in actors if actor.kind == "replica"}
    participants = []
    for actor in sorted(actors, key=lambda actor: (actor.segments[0][0], actor.pid)):
        timeline = own_events(actor)
        if actor.subscribes:
            targets = [
                pub
                for pub in publishers
                if pub is not actor and (pub.featured or actor.watches_all)
            ]
            timeline += subscriptions(ctx, actor, targets, plan.last)
        timeline.sort(key=lambda item: (item[0], item[1]))
        events = [_event(actor, item, replicas) for item in timeline]
        participants.append(_participant(stage, plan, actor, events))
    return {
        "sessionId": plan.session_id,
        "startTime": iso(plan.start),
        "endTime": None if plan.end is None else iso(plan.end),
        "participants": participants,
    }


def own_events(actor: Actor) -> list[Ev]:
    timeline = []
    for join, leave in actor.segments:
        timeline.append(ev(join, "JOINED"))
        if leave is not None:
            timeline.append(ev(leave, "LEFT"))
    for begin, end in actor.publishes:
        timeline.append(ev(begin, "PUBLISH_STARTED"))
        if end is not None:
            timeline.append(ev(end, "PUBLISH_STOPPED"))
    return timeline + actor.extra


def subscriptions(ctx: Ctx, actor: Actor, targets: list[Actor], last: int) -> list[Ev]:
    """SUBSCRIBE_STARTED/STOPPED for every overlap of the actor's connected spans with the
    targets' publish spans, and now and then a SUBSCRIBE_ERROR."""
    randint = ctx.rng.randint
    timeline: list[Ev] = []
    for join, leave in actor.segments:
        for pub in targets:
            spans = pub.publishes
            for index, (begin, end) in enumerate(spans):
                if leave is not None and begin >= leave:
                    break
                if end is not None and end <= join:
                    continue
                low = max(join, begin)
                start = low + randint(*_START_DELAY)
                if end is not None and start > end:
                    continue  # the publisher stopped before the subscription could start
                stop = None if end is None else end + randint(*_STOP_DELAY)
                if leave is not None:
                    stop = leave - 1 if stop is None else min(stop, leave - 1)
                if stop is not None and stop <= start:
                    continue
                remote = {"remoteParticipantId": pub.pid}
                timeline.append(ev(start, "SUBSCRIBE_STARTED", **remote))
                if stop is not None:
                    timeline.append(ev(stop, "SUBSCRIBE_STOPPED", **remote))
                timeline += _error(ctx, remote, low, spans, index, leave, last)
    return timeline


def _error(
    ctx: Ctx,
    remote: dict[str, str],
    low: int,
    spans: list[Span],
    index: int,
    leave: int | None,
    last: int,
) -> list[Ev]:
    """Now and then a SUBSCRIBE_ERROR around the subscription to `spans[index]`: a retried
    one just before it starts, or PUBLISHER_NOT_FOUND just after the publisher stopped."""
    rng, codes = ctx.rng, ctx.codes
    roll = rng.random()
    if roll < _ERROR_RATE and codes.subscribe_retry:
        code = rng.choice(codes.subscribe_retry)
        return [ev(low + rng.randint(*_RETRY_DELAY), "SUBSCRIBE_ERROR", **remote, errorCode=code)]
    end = spans[index][1]
    if roll >= 2 * _ERROR_RATE or end is None or not codes.publisher_not_found:
        return []
    when = end + rng.randint(300, 2000)
    again = spans[index + 1][0] if index + 1 < len(spans) else None
    if (again is not None and when >= again) or (leave is not None and when >= leave):
        return []
    if when > last:
        return []
    code = codes.publisher_not_found[0]
    return [ev(when, "SUBSCRIBE_ERROR", **remote, errorCode=code)]


def _event(actor: Actor, item: Ev, replicas: set[str]) -> dict[str, Any]:
    time, _, name, members = item
    event: dict[str, Any] = {"name": name, "participantId": actor.pid, "eventTime": iso(time)}
    event.update(members)
    # on a subscribe event `replica` is about the remote participant (the API reference)
    remote = members.get("remoteParticipantId")
    event["replica"] = (
        remote in replicas if name.startswith("SUBSCRIBE") else actor.kind == "replica"
    )
    return event


def _participant(
    stage: StagePlan, plan: SessionPlan, actor: Actor, events: list[dict[str, Any]]
) -> dict[str, Any]:
    record: dict[str, Any] = {
        "participantId": actor.pid,
        "userId": actor.user_id,
        "state": "CONNECTED" if actor.segments[-1][1] is None else "DISCONNECTED",
        "firstJoinTime": iso(actor.segments[0][0]),
        "attributes": actor.attributes,
        "published": bool(actor.publishes),
    }
    record |= actor.client
    record |= _recording(stage, plan, actor)
    record["protocol"] = actor.protocol
    record |= actor.replication or {"replicationType": "NONE"}
    record["redundantIngest"] = actor.ingest is not None and actor.ingest.redundant
    if actor.ingest is not None:
        record["ingestConfigurationArn"] = actor.ingest.arn
    record["events"] = events
    return record


def _recording(stage: StagePlan, plan: SessionPlan, actor: Actor) -> dict[str, str]:
    """Publishers of a stage with auto recording are recorded (replicas are not)."""
    if stage.recording is None or not actor.publishes or actor.kind == "replica":
        return {"recordingS3BucketName": "", "recordingS3Prefix": "", "recordingState": "DISABLED"}
    if actor.recording_failed:
        state = "FAILED"
    else:
        state = "ACTIVE" if actor.publishes[-1][1] is None else "STOPPED"
    return {
        "recordingS3BucketName": RECORDING_BUCKET,
        "recordingS3Prefix": f"{stage.stage_id}-{plan.session_id}-{actor.pid}",
        "recordingState": state,
    }
