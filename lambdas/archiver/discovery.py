"""Find ended stage sessions and hand each unarchived one to the archive workers.

IVS has no "session ended" event, so discovery asks the API (docs/design.md, data flow 1): a stage
whose activeSessionId changed since the last look may have ended a session; a periodic full
reconcile lists the sessions of every stage within the look-back window, which also catches
sessions that started and ended between two looks.
"""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass, field
from datetime import datetime, timedelta
from typing import Any

from archiver.ivs import IvsClient, SessionNotFound, is_ended
from archiver.ledger import Ledger
from archiver.messages import (
    DiscoverRequest,
    InvalidInput,
    ScheduledEvent,
    SessionMessage,
    StageUpdateEvent,
)
from archiver.settings import Settings

SQS_BATCH = 10


@dataclass
class DiscoveryResult:
    stages_listed: int = 0
    stages_checked: int = 0
    reconciled: bool = False
    enqueued: list[SessionMessage] = field(default_factory=list)


class Discovery:
    def __init__(
        self, settings: Settings, ivs: IvsClient, ledger: Ledger, sqs: Any, now: datetime
    ) -> None:
        self.settings = settings
        self.ivs = ivs
        self.ledger = ledger
        self.sqs = sqs
        self.now = now
        self.cutoff = now - timedelta(days=settings.lookback_days)

    def run(self, request: DiscoverRequest) -> DiscoveryResult:
        result = DiscoveryResult()
        if isinstance(request, SessionMessage):
            self._one_session(request, result)
        elif isinstance(request, StageUpdateEvent):
            if self.settings.allows(request.stage_arn):
                self._check_stages([request.stage_arn], result)
        elif isinstance(request, ScheduledEvent):
            self._scheduled(result)
        self._enqueue(result.enqueued)
        return result

    def _scheduled(self, result: DiscoveryResult) -> None:
        last = self.ledger.last_reconcile()
        interval = timedelta(minutes=self.settings.reconcile_interval_minutes)
        result.reconciled = last is None or self.now - last >= interval
        known = self.ledger.last_active_sessions()
        changed: dict[str, str | None] = {}
        for stage in self.ivs.list_stages():
            arn = stage["arn"]
            if not self.settings.allows(arn):
                continue
            result.stages_listed += 1
            active = stage.get("activeSessionId")
            if result.reconciled or arn not in known or known[arn] != active:
                changed[arn] = active
        self._check_stages(list(changed), result)
        # Recorded only after the stage's ended sessions are claimed: a crash rechecks them.
        for arn, active in changed.items():
            if arn not in known or known[arn] != active:
                self.ledger.record_stage(arn, active)
        if result.reconciled:
            self.ledger.record_reconcile(self.now)

    def _check_stages(self, stage_arns: Iterable[str], result: DiscoveryResult) -> None:
        for arn in stage_arns:
            result.stages_checked += 1
            for session in self.ivs.list_stage_sessions(arn):
                if is_ended(session) and session["endTime"] >= self.cutoff:
                    self._claim(arn, session, result)

    def _one_session(self, request: SessionMessage, result: DiscoveryResult) -> None:
        if not self.settings.allows(request.stageArn):
            raise InvalidInput(f"stageArn: {request.stageArn} is not in the stage allow-list")
        try:
            session = self.ivs.get_stage_session(request.stageArn, request.sessionId)
        except SessionNotFound:
            raise InvalidInput(
                f"IVS does not know session {request.sessionId} of {request.stageArn}"
            ) from None
        if not is_ended(session):
            raise InvalidInput(f"session {request.sessionId} has not ended yet")
        self._claim(request.stageArn, session, result)

    def _claim(self, stage_arn: str, session: dict[str, Any], result: DiscoveryResult) -> None:
        if self.ledger.claim(stage_arn, session):
            result.enqueued.append(
                SessionMessage(stageArn=stage_arn, sessionId=session["sessionId"])
            )

    def _enqueue(self, messages: list[SessionMessage]) -> None:
        for start in range(0, len(messages), SQS_BATCH):
            batch = messages[start : start + SQS_BATCH]
            response = self.sqs.send_message_batch(
                QueueUrl=self.settings.queue_url,
                Entries=[{"Id": str(i), "MessageBody": m.body()} for i, m in enumerate(batch)],
            )
            if response.get("Failed"):
                failed = [batch[int(f["Id"])].sessionId for f in response["Failed"]]
                raise RuntimeError(f"could not enqueue sessions {failed}: {response['Failed']}")
