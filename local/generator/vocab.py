"""What the generator says: enums read from the installed botocore model, error codes per
event, and the client data participants report."""

from __future__ import annotations

from dataclasses import dataclass
from functools import cache
from typing import Any

import botocore.session


@cache
def _event_shape() -> Any:
    model = botocore.session.get_session().get_service_model("ivs-realtime")
    return model.shape_for("Event")


def event_names() -> tuple[str, ...]:
    """Every event name of the installed model, so new names flow through."""
    return tuple(_event_shape().members["name"].enum)


def error_codes() -> tuple[str, ...]:
    """Every event error code of the installed model."""
    return tuple(_event_shape().members["errorCode"].enum)


# Which event carries which code, after the API reference's description of each code.
_JOIN = ("QUOTA_EXCEEDED", "INTERNAL_SERVER_EXCEPTION")
_SUBSCRIBE = ("PUBLISHER_NOT_FOUND", "QUOTA_EXCEEDED", "INTERNAL_SERVER_EXCEPTION")
_SDK_PUBLISH = ("QUOTA_EXCEEDED", "INVALID_AUDIO_CODEC", "INVALID_VIDEO_CODEC")
_INGEST_PUBLISH = (
    "INVALID_PROTOCOL",
    "INVALID_STREAM_KEY",
    "REUSE_OF_STREAM_KEY",
    "B_FRAME_PRESENT",
    "INVALID_INPUT",
    "INVALID_AUDIO_CODEC",
    "INVALID_VIDEO_CODEC",
)
_STREAM_END = ("BITRATE_EXCEEDED", "RESOLUTION_EXCEEDED", "STREAM_DURATION_EXCEEDED")
CAPABILITIES_CODE = "INSUFFICIENT_CAPABILITIES"  # publishing with a subscribe-only token


@dataclass(frozen=True)
class ErrorCodes:
    """The model's error codes, grouped by the event and situation that carries them.

    `join` on JOIN_ERROR, `subscribe` on SUBSCRIBE_ERROR (`subscribe_retry` are the ones a
    retry may follow), `sdk_publish` / `ingest_publish` on a failed PUBLISH attempt of an SDK
    or an ingest (RTMP(S), WHIP) client, `stream_end` on a PUBLISH_ERROR that ends a running
    publish. Codes the model adds later go to the publish groups.
    """

    join: tuple[str, ...]
    subscribe_retry: tuple[str, ...]
    sdk_publish: tuple[str, ...]
    ingest_publish: tuple[str, ...]
    stream_end: tuple[str, ...]
    capabilities: tuple[str, ...]  # () if the model drops INSUFFICIENT_CAPABILITIES
    publisher_not_found: tuple[str, ...]
    uncovered: tuple[str, ...]  # no group above: the designated ingest client shows these

    @classmethod
    def from_model(cls) -> ErrorCodes:
        codes = error_codes()

        def known(group: tuple[str, ...]) -> tuple[str, ...]:
            return tuple(code for code in group if code in codes)

        grouped = set(_JOIN + _SUBSCRIBE + _SDK_PUBLISH + _INGEST_PUBLISH + _STREAM_END)
        grouped.add(CAPABILITIES_CODE)
        new = tuple(code for code in codes if code not in grouped)
        return cls(
            join=known(_JOIN),
            subscribe_retry=known(tuple(c for c in _SUBSCRIBE if c != "PUBLISHER_NOT_FOUND")),
            sdk_publish=known(_SDK_PUBLISH) + new,
            ingest_publish=known(_INGEST_PUBLISH) + new,
            stream_end=known(_STREAM_END),
            capabilities=known((CAPABILITIES_CODE,)),
            publisher_not_found=known(("PUBLISHER_NOT_FOUND",)),
            uncovered=new,
        )


ACCOUNT = "123456789012"
REGION = "us-east-1"
ARN_PREFIX = f"arn:aws:ivs:{REGION}:{ACCOUNT}"
RECORDING_BUCKET = f"ivs-recordings-{ACCOUNT}-{REGION}"
TOKEN_HOURS = 12  # CreateParticipantToken's default duration (720 minutes)

STAGE_NAMES = (
    "town-hall",
    "weekly-standup",
    "gaming-night",
    "product-launch",
    "office-hours",
    "music-jam",
    "support-desk",
    "all-hands",
    "watch-party",
    "classroom",
)
TEAMS = ("events", "community", "education", "support", "marketing")
FIRST_NAMES = (
    "Ada", "Ben", "Chen", "Dana", "Eli", "Fatima", "Gus", "Hana", "Ivan", "Jo", "Kofi", "Lena",
    "Mateo", "Nia", "Omar", "Priya", "Quinn", "Rosa", "Sami", "Tariq", "Uma", "Vera", "Wen",
    "Yusuf", "Zoe",
)  # fmt: skip

ISPS = (
    "Comcast Cable Communications, LLC",
    "Verizon Business",
    "Charter Communications Inc",
    "Cox Communications Inc.",
    "Deutsche Telekom AG",
    "Orange S.A.",
    "Vodafone GmbH",
    "T-Mobile USA, Inc.",
    "British Telecommunications PLC",
    "NTT Communications Corporation",
)
# (osName, osVersion, browserName, browserVersion) of web SDK clients
WEB_CLIENTS = (
    ("Windows", "10", "Chrome", "125.0.0.0"),
    ("Windows", "11", "Edge", "125.0.2535.67"),
    ("Windows", "10", "Firefox", "126.0"),
    ("macOS", "14.5", "Safari", "17.5"),
    ("macOS", "14.4.1", "Chrome", "124.0.0.0"),
    ("Linux", "x86_64", "Chrome", "125.0.0.0"),
    ("iOS", "17.5.1", "Safari", "17.5"),
    ("Android", "14", "Chrome", "125.0.6422.113"),
)
WEB_SDKS = ("1.12.0", "1.13.0", "1.14.0")
# (osName, osVersion) of native mobile SDK clients, which report no browser
MOBILE_CLIENTS = (("iOS", "17.5.1"), ("iOS", "16.7.8"), ("Android", "14"), ("Android", "13"))
MOBILE_SDKS = ("1.15.1", "1.16.0")
