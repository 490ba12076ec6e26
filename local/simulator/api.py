"""The seven read operations of IVS Real-Time, validated and shaped by the botocore model,
over a `Reader`: the whole scenario (`store.Store`) or what has happened by now (`live`).

Decisions where the model leaves room:
- Unknown stage/session/participant: GetStage, GetStageSession and GetParticipant answer
  404 ResourceNotFoundException (their model declares it). ListStageSessions, ListParticipants
  and ListParticipantEvents declare no 404, so they answer an empty list.
- Order: ListStages by arn; ListStageSessions newest startTime first (ties by sessionId);
  ListParticipants by participantId (or, `participant_order="firstJoinTime"`, by first join:
  the API documents no order, and the archiver must not depend on one); ListParticipantEvents
  in the scenario's event order.
- Validation messages name the member: `1 validation error detected: stageArn: ...`.
  Unknown members and malformed JSON are ValidationException too.
"""

from __future__ import annotations

import json
from collections.abc import Callable

from local.simulator.model import check, parse_time, service_model, shaped
from local.simulator.pagination import InvalidToken, Key, Tokens, page
from local.simulator.store import Reader, Record

DEFAULT_PAGE = 50
FILTERS = ("filterByUserId", "filterByPublished", "filterByState", "filterByRecordingState")
_FILTER_FIELDS = {
    "filterByUserId": "userId",
    "filterByPublished": "published",
    "filterByState": "state",
    "filterByRecordingState": "recordingState",
}


class ApiError(Exception):
    """An error answer: HTTP status, error code (x-amzn-ErrorType) and message."""

    def __init__(self, status: int, code: str, message: str) -> None:
        super().__init__(message)
        self.status, self.code, self.message = status, code, message


def validation_error(message: str) -> ApiError:
    return ApiError(400, "ValidationException", message)


def not_found(message: str) -> ApiError:
    return ApiError(404, "ResourceNotFoundException", message)


class Api:
    """Turns an operation name and a JSON body into a response dict or an ApiError."""

    def __init__(
        self, store: Reader, tokens: Tokens | None = None, participant_order: str = "participantId"
    ) -> None:
        if participant_order not in PARTICIPANT_ORDERS:
            raise ValueError(f"participant_order must be one of {', '.join(PARTICIPANT_ORDERS)}")
        self.store = store
        self.tokens = tokens or Tokens()
        self._participant_key = PARTICIPANT_ORDERS[participant_order]
        self._handlers: dict[str, Callable[[Record], Record]] = {
            "ListStages": self._list_stages,
            "GetStage": self._get_stage,
            "ListStageSessions": self._list_stage_sessions,
            "GetStageSession": self._get_stage_session,
            "ListParticipants": self._list_participants,
            "GetParticipant": self._get_participant,
            "ListParticipantEvents": self._list_participant_events,
        }

    @property
    def operations(self) -> tuple[str, ...]:
        return tuple(self._handlers)

    def handle(self, operation: str, body: bytes) -> Record:
        """The response of `operation` (which must be one of `operations`)."""
        model = service_model().operation_model(operation)
        request = _parse(body)
        problems = [str(v) for v in check(request, model.input_shape, "")]
        if problems:
            count = f"{len(problems)} validation error{'s' if len(problems) > 1 else ''}"
            raise validation_error(f"{count} detected: " + "; ".join(problems))
        return shaped(self._handlers[operation](request), model.output_shape)

    # --- paging ------------------------------------------------------------------------
    def _page(
        self,
        operation: str,
        request: Record,
        items: list[Record],
        key: Callable[[Record], Key] | None,
    ) -> tuple[list[Record], str | None]:
        after = None
        if request.get("nextToken"):
            try:
                after = self.tokens.resolve(operation, request, request["nextToken"])
            except InvalidToken as error:
                raise validation_error(f"nextToken: {error}") from error
        chunk, last = page(items, after, request.get("maxResults", DEFAULT_PAGE), key)
        token = None if last is None else self.tokens.issue(operation, request, last)
        return chunk, token

    # --- operations ----------------------------------------------------------------------
    def _list_stages(self, request: Record) -> Record:
        stages, token = self._page("ListStages", request, self.store.stages(), _by_arn)
        return {"stages": stages, "nextToken": token}

    def _get_stage(self, request: Record) -> Record:
        stage = self.store.stage(request["arn"])
        if stage is None:
            raise not_found(f"Stage not found: {request['arn']}")
        return {"stage": stage}

    def _list_stage_sessions(self, request: Record) -> Record:
        sessions = self.store.sessions(request["stageArn"])
        sessions_page, token = self._page("ListStageSessions", request, sessions, _by_newest)
        return {"stageSessions": sessions_page, "nextToken": token}

    def _get_stage_session(self, request: Record) -> Record:
        session = self.store.session(request["stageArn"], request["sessionId"])
        if session is None:
            raise not_found(f"Stage session not found: {request['sessionId']}")
        return {"stageSession": session}

    def _list_participants(self, request: Record) -> Record:
        given = [name for name in FILTERS if request.get(name) is not None]
        if len(given) > 1:
            raise validation_error(
                f"{', '.join(given)}: only one of {', '.join(FILTERS)} can be provided"
            )
        people = self.store.participants(
            request["stageArn"], request["sessionId"], self._participant_key
        )
        if given:
            field, wanted = _FILTER_FIELDS[given[0]], request[given[0]]
            people = [p for p in people if p.get(field) == wanted]
        chunk, token = self._page("ListParticipants", request, people, self._participant_key)
        return {"participants": chunk, "nextToken": token}

    def _get_participant(self, request: Record) -> Record:
        found = self.store.participant(
            request["stageArn"], request["sessionId"], request["participantId"]
        )
        if found is None:
            raise not_found(f"Participant not found: {request['participantId']}")
        return {"participant": found}

    def _list_participant_events(self, request: Record) -> Record:
        events = self.store.events(
            request["stageArn"], request["sessionId"], request["participantId"]
        )
        chunk, token = self._page("ListParticipantEvents", request, events, None)
        return {"events": chunk, "nextToken": token}


def _by_arn(stage: Record) -> Key:
    return stage["arn"]


def _by_newest(session: Record) -> Key:
    return (-round(parse_time(session["startTime"]).timestamp() * 1000), session["sessionId"])


def _by_participant(participant: Record) -> Key:
    return participant["participantId"]


def _by_first_join(participant: Record) -> Key:
    joined = participant.get("firstJoinTime")
    ms = round(parse_time(joined).timestamp() * 1000) if joined else 2**63
    return (ms, participant["participantId"])


PARTICIPANT_ORDERS: dict[str, Callable[[Record], Key]] = {
    "participantId": _by_participant,
    "firstJoinTime": _by_first_join,
}


def _parse(body: bytes) -> Record:
    if not body.strip():
        return {}
    try:
        request = json.loads(body)
    except (ValueError, UnicodeDecodeError) as error:
        raise validation_error(f"Malformed JSON request body: {error}") from error
    if not isinstance(request, dict):
        raise validation_error("Malformed JSON request body: expected an object")
    return request
