"""Shared by the tests: moved from test_timeline.py."""

from __future__ import annotations

import random
import re
import struct
import xml.etree.ElementTree as ET
from bisect import bisect_right
from collections import Counter
from datetime import UTC, datetime, timedelta
from html.parser import HTMLParser
from pathlib import Path
from typing import Any

import pytest

from archiver.schema import PARTICIPANT_EVENTS, PARTICIPANTS
from console.timeline import (
    build_timeline,
)
from console.timeline.model import Timeline

T0 = datetime(2026, 3, 2, 18, 0, tzinfo=UTC)


STAGE = "arn:aws:ivs:us-east-1:123456789012:stage/AbCdEf123456"


SESSION = "st-TestSession0001"


ERRORS = ("JOIN_ERROR", "PUBLISH_ERROR", "SUBSCRIBE_ERROR")


def at(seconds: float) -> datetime:
    return T0 + timedelta(seconds=seconds)


class Rows:
    """A session's rows of the three tables, built by hand."""

    def __init__(self, length: float = 3600, session: str = SESSION) -> None:
        self.session_id = session
        self.session: dict[str, Any] = {
            "stage_arn": STAGE,
            "stage_id": STAGE.rsplit("/", 1)[1],
            "stage_name": "town-hall",
            "session_id": session,
            "start_time": T0,
            "end_time": at(length),
            "participant_count": 0,
            "event_count": 0,
            "archived_at": at(length + 600),
        }
        self.participants: list[dict[str, Any]] = []
        self.events: list[dict[str, Any]] = []
        self._seq: Counter[str] = Counter()
        self._users: dict[str, str] = {}

    def participant(self, pid: str, user: str, **columns: Any) -> None:
        row: dict[str, Any] = dict.fromkeys(PARTICIPANTS.column_names)
        row.update(stage_arn=STAGE, session_id=self.session_id, participant_id=pid, user_id=user)
        row.update(state="DISCONNECTED", published=False, replication_type="NONE")
        row.update(columns)
        self.participants.append(row)
        self._users[pid] = user

    def event(self, pid: str, name: str, seconds: float, **columns: Any) -> None:
        row: dict[str, Any] = dict.fromkeys(PARTICIPANT_EVENTS.column_names)
        user = self._users.get(pid)
        row.update(stage_arn=STAGE, session_id=self.session_id, participant_id=pid, user_id=user)
        row.update(event_seq=self._seq[pid], event_name=name, event_time=at(seconds))
        row.update(replica=False)
        row.update(columns)
        self._seq[pid] += 1
        self.events.append(row)

    def finish(self) -> Rows:
        """Set the participants' first join, published flag and counts as the archiver does."""
        by_participant: dict[str, list[dict[str, Any]]] = {}
        for event in self.events:
            by_participant.setdefault(event["participant_id"], []).append(event)
        for p in self.participants:
            mine = by_participant.get(p["participant_id"], [])
            joins = [e["event_time"] for e in mine if e["event_name"] == "JOINED"]
            p["first_join_time"] = min(joins, default=None)
            p["published"] = any(e["event_name"] == "PUBLISH_STARTED" for e in mine)
            p["event_count"] = len(mine)
        self.session["participant_count"] = len(self.participants)
        self.session["event_count"] = len(self.events)
        return self

    def timeline(self, **options: Any) -> Timeline:
        return build_timeline(self.session, self.participants, self.events, **options)


def token(*capabilities: str, role: str) -> dict[str, Any]:
    return {
        "capabilities": list(capabilities),
        "attributes": [("role", role)],
        "user_id": "guest",
        "expiration_time": at(86400),
    }


def known_session() -> Rows:
    """Four participants whose ids sort differently from their first joins."""
    rows = Rows()
    rows.participant("zz-host-0001", "host")
    rows.participant("aa-viewer-01", "viewer")
    rows.participant("mm-guest-001", "guest")
    rows.participant(
        "rr-replica-1",
        "remote-host",
        replication_type="REPLICA",
        source_stage_arn=STAGE.replace("AbCdEf123456", "Src000000001"),
        source_session_id="st-Src",
    )
    dest = {
        "destination_stage_arn": STAGE.replace("AbCdEf123456", "Dest00000001"),
        "destination_session_id": "st-Dest",
    }
    host = "zz-host-0001"
    rows.event(host, "JOINED", 10)
    rows.event(host, "PUBLISH_STARTED", 12)
    rows.event(host, "REPLICATION_STARTED", 100, **dest)
    rows.event(host, "REPLICATION_STOPPED", 500, **dest)
    rows.event(host, "PUBLISH_STOPPED", 600)
    rows.event(host, "PUBLISH_STARTED", 700)  # never stopped: the LEFT ends it
    rows.event(host, "LEFT", 3000)
    viewer = "aa-viewer-01"
    remote = {"remote_participant_id": host}
    rows.event(viewer, "JOINED", 20)
    rows.event(viewer, "SUBSCRIBE_STARTED", 22, **remote)
    rows.event(viewer, "SUBSCRIBE_STOPPED", 601, **remote)
    rows.event(viewer, "SUBSCRIBE_ERROR", 650, error_code="PUBLISHER_NOT_FOUND", **remote)
    rows.event(viewer, "LEFT", 900)
    rows.event(viewer, "JOIN_ERROR", 950, error_code="QUOTA_EXCEEDED")
    rows.event(viewer, "JOINED", 960)
    rows.event(viewer, "SUBSCRIBE_STARTED", 962, **remote)  # open until the session's end
    guest = "mm-guest-001"
    rows.event(guest, "JOINED", 30)
    rows.event(guest, "PUBLISH_ERROR", 40, error_code="INSUFFICIENT_CAPABILITIES")
    rows.event(
        guest,
        "TOKEN_EXCHANGED",
        45,
        previous_token=token("SUBSCRIBE", role="viewer"),
        new_token=token("PUBLISH", "SUBSCRIBE", role="guest"),
    )
    rows.event(guest, "PUBLISH_STARTED", 50)
    rows.event(guest, "PUBLISH_ERROR", 400, error_code="BITRATE_EXCEEDED")
    rows.event(guest, "PUBLISH_STOPPED", 400)
    rows.event(guest, "LEFT", 1000)
    replica = "rr-replica-1"
    rows.event(replica, "JOINED", 200, replica=True)
    rows.event(replica, "PUBLISH_STARTED", 201, replica=True)
    rows.event(replica, "PUBLISH_STOPPED", 800, replica=True)
    rows.event(replica, "LEFT", 801, replica=True)
    return rows.finish()


def crowd(
    publishers: int, subscribers: int, seed: int = 3, length: float = 7200, session: str = SESSION
) -> Rows:
    """A session of `publishers` who publish on and off and `subscribers` who never publish,
    join (some twice, some never leave), watch every publisher while both are there, and
    now and then fail to join or subscribe, or exchange their token."""
    rng = random.Random(seed)
    rows = Rows(length, session)
    pubs: list[tuple[str, list[tuple[float, float]], float, float]] = []
    for i in range(publishers):
        pid = f"pub{i:02d}{seed:07d}"
        rows.participant(pid, f"speaker-{i:02d}")
        join = rng.uniform(0, 600)
        leave = rng.uniform(length - 1800, length - 60)
        cuts = sorted(rng.uniform(join + 5, leave - 5) for _ in range(2 * rng.randint(1, 3)))
        publishing = list(zip(cuts[::2], cuts[1::2], strict=True))
        rows.event(pid, "JOINED", join)
        for begin, end in publishing:
            rows.event(pid, "PUBLISH_STARTED", begin)
            if rng.random() < 0.1:
                rows.event(pid, "PUBLISH_ERROR", end - 1, error_code="BITRATE_EXCEEDED")
            rows.event(pid, "PUBLISH_STOPPED", end)
        rows.event(pid, "LEFT", leave)
        pubs.append((pid, publishing, join, leave))
    for i in range(subscribers):
        pid = f"sub{i:04d}{seed:05d}"
        rows.participant(pid, f"viewer-{i:04d}")
        join = rng.uniform(0, length - 900)
        segments = [(join, min(join + rng.uniform(300, 4000), length - 1))]
        if rng.random() < 0.2 and segments[0][1] < length - 400:
            again = segments[0][1] + rng.uniform(10, 300)
            segments.append((again, length + 1))  # never leaves: open until the end
        if rng.random() < 0.05:
            code = rng.choice(["QUOTA_EXCEEDED", "INTERNAL_SERVER_EXCEPTION"])
            rows.event(pid, "JOIN_ERROR", join - 2, error_code=code)
        for begin, end in segments:
            rows.event(pid, "JOINED", begin)
            if rng.random() < 0.02:
                rows.event(pid, "TOKEN_EXCHANGED", begin + 1)
            for remote, publishing, _, _ in pubs:
                for p_begin, p_end in publishing:
                    low, high = max(begin, p_begin) + 0.5, min(end, p_end)
                    if low >= high:
                        continue
                    if rng.random() < 0.01:
                        rows.event(
                            pid,
                            "SUBSCRIBE_ERROR",
                            low - 0.2,
                            error_code="PUBLISHER_NOT_FOUND",
                            remote_participant_id=remote,
                        )
                    rows.event(pid, "SUBSCRIBE_STARTED", low, remote_participant_id=remote)
                    if high < length:
                        rows.event(pid, "SUBSCRIBE_STOPPED", high, remote_participant_id=remote)
            if end < length:
                rows.event(pid, "LEFT", end)
    rows.events.sort(key=lambda e: (e["participant_id"], e["event_time"], e["event_seq"]))
    seq: Counter[str] = Counter()
    for event in rows.events:
        event["event_seq"] = seq[event["participant_id"]]
        seq[event["participant_id"]] += 1
    return rows.finish()


def holding(pairs: list[tuple[datetime, datetime]], moment: datetime) -> int:
    return sum(1 for start, end in pairs if start <= moment < end)


def step_value(times: tuple[datetime, ...], values: tuple[int, ...], moment: datetime) -> int:
    index = bisect_right(times, moment) - 1
    return 0 if index < 0 else values[index]


def png_size(path: Path) -> tuple[int, int]:
    data = path.read_bytes()
    assert data[:8] == b"\x89PNG\r\n\x1a\n" and data[12:16] == b"IHDR"
    width, height = struct.unpack(">II", data[16:24])
    return width, height


class Tags(HTMLParser):
    def __init__(self) -> None:
        super().__init__()
        self.tags: list[tuple[str, dict[str, str | None]]] = []
        self.titles: list[str] = []
        self._in_title = False

    def handle_starttag(self, tag: str, attrs: list[tuple[str, str | None]]) -> None:
        self.tags.append((tag, dict(attrs)))
        self._in_title = tag == "title"

    def handle_endtag(self, tag: str) -> None:
        self._in_title = False

    def handle_data(self, data: str) -> None:
        if self._in_title:
            self.titles.append(data)


def parse(page: str) -> Tags:
    tags = Tags()
    tags.feed(page)
    return tags


def assert_offline(page: str) -> None:
    assert not re.search(r"(?i)(https?:)?//[a-z0-9.-]+\.[a-z]{2,}", page)
    assert "url(" not in page and "@import" not in page
    tags = parse(page)
    for tag, attributes in tags.tags:
        assert tag not in {"script", "link", "img", "iframe", "object", "embed"}
        assert not {"src", "href", "xlink:href"} & set(attributes), (tag, attributes)
    svg = page[page.index("<svg") : page.index("</svg>") + len("</svg>")]
    ET.fromstring(svg)  # the picture is well-formed XML


def one_line(error: pytest.ExceptionInfo[BaseException]) -> str:
    text = str(error.value)
    assert text and "\n" not in text
    return text
