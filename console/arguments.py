"""Command-line values the console checks while parsing (a bad one: one line, exit status 2)."""

from __future__ import annotations

import argparse
import re
from datetime import UTC, datetime, timedelta

from archiver import clock
from archiver.ledger import Status
from archiver.settings import IVS_REALTIME_REGIONS, STAGE_ARN_PATTERN
from shared.arguments import integer, positive_up_to

_AGO = re.compile(r"^(?P<n>\d+)(?P<unit>[mhd])$")
_UNITS = {"m": "minutes", "h": "hours", "d": "days"}
SESSION_ID = re.compile(r"^st-[a-zA-Z0-9]{13}$")  # the API model's pattern and length


def since(text: str) -> datetime:
    """A moment: `2026-11-30`, `2026-11-30T12:00` (UTC unless it says otherwise), or a time
    ago: `90m`, `12h`, `7d`."""
    ago = _AGO.match(text.strip())
    if ago:
        return clock.now() - timedelta(**{_UNITS[ago["unit"]]: int(ago["n"])})
    try:
        moment = datetime.fromisoformat(text.strip().replace("Z", "+00:00"))
    except ValueError:
        raise argparse.ArgumentTypeError(
            f"expected a date (2026-11-30), a time (2026-11-30T12:00) or a time ago "
            f"(90m, 12h, 7d), got {text!r}"
        ) from None
    return moment.replace(tzinfo=UTC) if moment.tzinfo is None else moment


def stage_arn(text: str) -> str:
    if not STAGE_ARN_PATTERN.match(text):
        raise argparse.ArgumentTypeError(
            f"not a stage ARN (arn:aws:ivs:REGION:ACCOUNT:stage/ID): {text!r}"
        )
    return text


def session_id(text: str) -> str:
    if not SESSION_ID.match(text):
        raise argparse.ArgumentTypeError(
            f"not a stage session id (st- and 13 letters or digits): {text!r}"
        )
    return text


def status(text: str) -> Status:
    """A ledger status, in any case: `ARCHIVED`, `failed`."""
    try:
        return Status(text.strip().upper())
    except ValueError:
        raise argparse.ArgumentTypeError(
            f"not a ledger status ({', '.join(Status)}): {text!r}"
        ) from None


# IVS calls a second per operation: above 0, at most the quota of 5.
rate = positive_up_to(5)
seconds = positive_up_to(3600)
count = integer(0)


def account_id(text: str) -> str:
    if not re.fullmatch(r"\d{12}", text.strip()):
        raise argparse.ArgumentTypeError(f"not an AWS account id (12 digits): {text!r}")
    return text.strip()


def ivs_region(text: str) -> str:
    if text.strip() not in IVS_REALTIME_REGIONS:
        raise argparse.ArgumentTypeError(
            f"not a region with IVS Real-Time ({', '.join(IVS_REALTIME_REGIONS)}): {text!r}"
        )
    return text.strip()
