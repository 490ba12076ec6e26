"""The picture of one session as data: one lane per participant, made of spans and marks.

Renderers (PNG, HTML) draw a `Timeline` and know nothing of rows or where they came from;
`build.build_timeline` makes one from the three tables' rows.
"""

from __future__ import annotations

from collections import Counter
from dataclasses import dataclass
from datetime import datetime
from functools import cached_property
from typing import Literal

SpanKind = Literal["connected", "publishing", "subscribed", "replicating"]
Role = Literal["publisher", "replica", "subscriber"]
ERRORS = ("JOIN_ERROR", "PUBLISH_ERROR", "SUBSCRIBE_ERROR")
SESSION_END = "session end"  # what ended a span that no event closed


@dataclass(frozen=True)
class Span:
    """Something that lasted: connected (JOINED..LEFT), publishing, subscribed to `remote`
    (a publisher's participant id), replicating to `remote` (`stage_id/session_id`)."""

    kind: SpanKind
    start: datetime
    end: datetime
    ended_by: str  # the event that closed it (PUBLISH_STOPPED, LEFT, ...) or SESSION_END
    remote: str | None = None

    @property
    def closed(self) -> bool:
        """Whether an event of its own ended it (not a LEFT, not the session's end)."""
        return self.ended_by.endswith("_STOPPED") or (
            self.kind == "connected" and self.ended_by == "LEFT"
        )


@dataclass(frozen=True)
class Mark:
    """A moment: an error (`kind` is the event name, with its code), a token exchange, or an
    event this picture has no span for. `participant_id` says whose (for folded marks)."""

    kind: str
    time: datetime
    participant_id: str
    error_code: str | None = None
    remote: str | None = None
    detail: str = ""

    @property
    def is_error(self) -> bool:
        return self.kind in ERRORS or self.error_code is not None


@dataclass(frozen=True)
class Lane:
    participant_id: str
    user_id: str
    role: Role
    first_join: datetime | None
    spans: tuple[Span, ...]
    marks: tuple[Mark, ...]
    event_count: int
    note: str = ""  # e.g. "replica of town-hall/st-..." or "replicated to ..."
    info: tuple[tuple[str, str], ...] = ()  # client and token attributes, for hover details

    @property
    def short_id(self) -> str:
        return self.participant_id[:6]

    @property
    def label(self) -> str:
        return f"{self.user_id} · {self.short_id}"

    def spans_of(self, kind: SpanKind) -> list[Span]:
        return [span for span in self.spans if span.kind == kind]

    @property
    def errors(self) -> list[Mark]:
        return [mark for mark in self.marks if mark.is_error]


@dataclass(frozen=True)
class Fold:
    """Participants folded into summary lanes (`lanes`): past the lane limit, the subscribers
    who never published and, if the publishers alone pass it, the least active publishers.
    Counts are step functions on the common grid `times`: value i holds from times[i] until
    times[i + 1]."""

    lanes: tuple[Lane, ...]
    times: tuple[datetime, ...]
    connected: tuple[int, ...]
    publishing: tuple[int, ...]  # folded publishers publishing
    watching: dict[str, tuple[int, ...]]  # publisher participant id -> folded ones watching it
    marks: tuple[Mark, ...]  # their errors and token exchanges, in time order

    @property
    def participants(self) -> int:
        return len(self.lanes)

    @property
    def publishers(self) -> int:
        """How many of them published (publishers and replicas)."""
        return sum(1 for lane in self.lanes if lane.role != "subscriber")

    @property
    def subscribers(self) -> int:
        return self.participants - self.publishers

    @property
    def peak_connected(self) -> int:
        return max(self.connected, default=0)

    @property
    def peak_publishing(self) -> int:
        return max(self.publishing, default=0)

    @property
    def errors(self) -> list[Mark]:
        return [mark for mark in self.marks if mark.is_error]

    def error_counts(self) -> Counter[tuple[str, str]]:
        """(event name, error code) -> how many, over every folded participant."""
        return Counter((mark.kind, mark.error_code or "no code") for mark in self.errors)


@dataclass(frozen=True)
class Timeline:
    stage_name: str
    stage_arn: str
    session_id: str
    start: datetime  # the session's start and end (end: the last event if it has none)
    end: datetime
    participant_count: int
    event_count: int
    lanes: tuple[Lane, ...]
    publishers: tuple[str, ...]  # participant ids that published, in lane order (colour order)
    user_ids: dict[str, str]  # every participant id of the session -> its user id
    fold: Fold | None = None
    fold_limit: int = 40
    participant: str | None = None  # the participant asked for (`--participant`): its lane is kept

    @cached_property
    def publisher_index(self) -> dict[str, int]:
        """Participant id -> position among the publishers (their colour)."""
        return {pid: index for index, pid in enumerate(self.publishers)}

    @cached_property
    def subscribes_elsewhere(self) -> bool:
        """Whether a lane subscribes to a remote that is not one of the publishers."""
        return any(
            s.kind == "subscribed" and s.remote not in self.publisher_index
            for lane in self.lanes
            for s in lane.spans
        )

    @cached_property
    def first(self) -> datetime:
        """The earliest moment drawn: the start, or an event before it."""
        moments = [self.start] + [s.start for lane in self.lanes for s in lane.spans]
        moments += [m.time for lane in self.lanes for m in lane.marks]
        if self.fold is not None:
            moments += [m.time for m in self.fold.marks] + list(self.fold.times[:1])
        return min(moments)

    @cached_property
    def last(self) -> datetime:
        moments = [self.end] + [s.end for lane in self.lanes for s in lane.spans]
        moments += [m.time for lane in self.lanes for m in lane.marks]
        if self.fold is not None:
            moments += [m.time for m in self.fold.marks]
        return max(moments)

    @property
    def folded(self) -> int:
        return 0 if self.fold is None else self.fold.participants

    @property
    def published(self) -> int:
        """How many participants published, with a lane or folded."""
        return len(self.publishers) + (0 if self.fold is None else self.fold.publishers)

    def describe(self, participant_id: str | None) -> str:
        """`user-1 (AbCdEf123456)` for a participant id of the session (the whole id: this is
        what hover details say), the id itself otherwise."""
        if participant_id is None:
            return "?"
        user = self.user_ids.get(participant_id)
        return participant_id if user is None else f"{user} ({participant_id})"
