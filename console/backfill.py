"""`ivs-archive backfill`: claim and queue every ended session IVS still has (ended since
`--since`, on every stage the deployment archives or on the `--stage`s given), the way discovery
does it (archiver.discovery): the archiver's IVS client at a modest rate of its own, the
ledger's conditional claim, the work queue. Then follow them until they are archived
(console.follow)."""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import datetime
from typing import Any

from botocore.config import Config

from archiver import clock
from archiver.discovery_state import DiscoveryState
from archiver.ivs import ApiRecord, IvsClient, is_ended
from archiver.ledger import FINAL, MAX_ATTEMPTS, Ledger, Status
from archiver.queueing import claim_and_queue
from archiver.settings import Settings, SettingsError
from console.deployment import DISCOVER_FUNCTION, LEDGER, WORK_QUEUE, Deployment
from console.errors import ConsoleError, UsageError
from console.output import Output, counted, when
from shared.progress import Progress

# botocore's adaptive mode backs off on 429s from a quota shared with discovery and the
# customer's own application.
IVS_RETRIES = Config(retries={"mode": "adaptive", "total_max_attempts": 10}, read_timeout=30)

Key = tuple[str, str]  # (stage ARN, session id)


@dataclass
class Found:
    """What the listing found, and what became of each ended session."""

    stages: int = 0
    ended: int = 0
    queued: list[Key] = field(default_factory=list)
    in_hand: list[Key] = field(default_factory=list)  # already claimed, being archived
    done: int = 0  # already archived or expired
    given_up: list[Key] = field(default_factory=list)  # failed MAX_ATTEMPTS times
    not_queued: int = 0  # claimed, but SQS refused the message: discovery queues it later
    calls: dict[str, int] = field(default_factory=dict)

    @property
    def followed(self) -> list[Key]:
        return self.queued + self.in_hand


def archiver_settings(deployment: Deployment) -> Settings:
    """The archiver's own settings (stage allow-list, look-back, budget), as its discover
    function runs with them."""
    function = deployment[DISCOVER_FUNCTION]
    configuration = deployment.client("lambda").get_function_configuration(FunctionName=function)
    variables = configuration.get("Environment", {}).get("Variables", {})
    try:
        return Settings.from_env(variables)
    except SettingsError as error:
        raise ConsoleError(f"the function {function}: {error}") from None


class Backfill:
    def __init__(
        self, deployment: Deployment, settings: Settings, *, tps: float, out: Output
    ) -> None:
        deployment.require(LEDGER, WORK_QUEUE, DISCOVER_FUNCTION)
        resource = deployment.aws.resource("dynamodb")
        self.settings = settings
        self.ivs = IvsClient(tps, client=deployment.aws.client("ivs-realtime", IVS_RETRIES))
        self.ledger = Ledger(deployment[LEDGER], resource=resource)
        self.state = DiscoveryState(deployment[LEDGER], resource=resource)
        self.sqs = deployment.client("sqs")
        self.queue_url = deployment[WORK_QUEUE]
        self.out = out
        self.now = clock.now()

    def stages(self, given: list[str]) -> list[tuple[str, str | None]]:
        """(ARN, name) of the stages to list: those given, or every stage IVS lists that the
        deployment archives."""
        if given:
            refused = [arn for arn in given if not self.settings.allows(arn)]
            if refused:
                raise UsageError(
                    f"--stage {refused[0]}: not in the deployment's stage allow-list "
                    "(stageAllowList): its archive would be refused"
                )
            names = self.state.stages()
            return [
                (arn, names[arn].name if arn in names else None) for arn in dict.fromkeys(given)
            ]
        return [
            (stage["arn"], stage.get("name"))
            for stage in self.ivs.list_stages()
            if self.settings.allows(stage["arn"])
        ]

    def run(self, given: list[str], since: datetime | None) -> Found:
        found = Found()
        stages = self.stages(given)
        found.stages = len(stages)
        with Progress("listing stages", len(stages), self.out.stderr) as progress:
            for number, (arn, name) in enumerate(stages):
                progress.update(number, f"· {counted(len(found.queued), 'session')} queued")
                self._stage(arn, name, since, found)
            progress.finish(len(stages), f"· {counted(len(found.queued), 'session')} queued")
        found.calls = dict(sorted(self.ivs.calls.items()))
        return found

    def _stage(self, arn: str, name: str | None, since: datetime | None, found: Found) -> None:
        """The stage's ended sessions (newest first, as IVS lists them, down to `since`)."""
        ended: list[ApiRecord] = []
        for session in self.ivs.list_stage_sessions(arn):
            if not is_ended(session):
                continue
            if since is not None and session["endTime"] < since:
                break
            ended.append(session)
        found.ended += len(ended)
        if not ended:
            return
        known = self.ledger.known_sessions(arn)
        claimable = []
        for session in ended:
            key = (arn, session["sessionId"])
            seen = known.get(session["sessionId"])
            if seen is None or seen.claimable(now=self.now, run_started=self.now):
                claimable.append(session)
            elif seen.status in FINAL:
                found.done += 1
            elif seen.status is Status.FAILED and seen.attempts >= MAX_ATTEMPTS:
                found.given_up.append(key)
            else:
                found.in_hand.append(key)
        result = claim_and_queue(
            self.ledger,
            self.sqs,
            self.queue_url,
            arn,
            claimable,
            stage_name=name,
            run_started=self.now,
        )
        queued, refused = result.sent, result.refused
        lost = [(arn, session_id) for session_id in result.taken]
        found.queued += [(m.stageArn, m.sessionId) for m in queued]
        found.in_hand += lost  # another claim (a discovery run) got there first
        found.not_queued += refused


def run(
    deployment: Deployment,
    out: Output,
    *,
    stages: list[str],
    since: datetime | None,
    tps: float,
    follow_up: bool,
    interval: float,
) -> int:
    from console.follow import follow

    backfill = Backfill(deployment, archiver_settings(deployment), tps=tps, out=out)
    found = backfill.run(stages, since)
    window = f" ended since {when(since)}" if since else " ended"
    out.line(
        f"{counted(found.stages, 'stage')} listed: "
        f"{counted(found.ended, 'session')}{window} that IVS still has"
    )
    out.line(
        f"  {len(found.queued):,} queued now · {found.done:,} already archived · "
        f"{len(found.in_hand):,} already being archived"
    )
    if found.given_up:
        out.line(
            f"  {len(found.given_up):,} failed {MAX_ATTEMPTS} times and are left to you "
            "(`ivs-archive sessions --status FAILED`; `ivs-archive archive` forces one)"
        )
    if found.not_queued:
        out.line(f"  {found.not_queued:,} claimed but refused by SQS: discovery queues them later")
    calls = ", ".join(f"{op} {n:,}" for op, n in found.calls.items())
    out.line(f"IVS calls: {calls or 'none'} (at most {tps:g} a second each)")
    document: dict[str, Any] = {
        "stages": found.stages,
        "ended": found.ended,
        "queued": [list(k) for k in found.queued],
        "already_archived": found.done,
        "already_in_progress": [list(k) for k in found.in_hand],
        "failed_too_often": [list(k) for k in found.given_up],
        "not_queued": found.not_queued,
        "ivs_calls": found.calls,
    }
    status = 1 if found.not_queued else 0
    if follow_up and found.followed:
        out.note(
            f"following {len(found.followed):,} sessions until archived "
            "(Ctrl-C detaches; the archive goes on in AWS)"
        )
        followed = follow(
            backfill.ledger,
            backfill.sqs,
            backfill.queue_url,
            found.followed,
            interval=interval,
            out=out,
        )
        document["followed"] = {
            "sessions": followed.total,
            "statuses": followed.counts,
            "failed": [
                {"stage_arn": k[0], "session_id": k[1], "last_error": e} for k, e in followed.failed
            ],
            "detached": followed.detached,
        }
        if followed.detached:
            out.line(
                f"detached: {followed.done:,} of {followed.total:,} archived so far; "
                "the rest goes on in AWS (`ivs-archive status`)"
            )
        else:
            out.line(f"{followed.done:,} of {followed.total:,} archived")
        for (stage, session), error in followed.failed:
            out.line(f"  failed: {session} of {stage}: {error or 'no error recorded'}")
        if followed.failed and not followed.detached:
            out.line("  their messages are dead-lettered: `ivs-archive redrive` retries them")
            status = 1
    out.data(document)
    return status
