"""Erasing one user: afterwards no trace of the user in the tables' current data or in any landing
object, and every other row unchanged; on the SQL catalog with a landing folder, and on Glue
with the landing objects in S3 (moto)."""

from __future__ import annotations

import json
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import boto3
import pytest

from archiver.catalog import GLUE, location_root, open_catalog, sqlite_uri
from archiver.commit import commit_sessions
from archiver.erasure import erase_user
from archiver.landing import Landing, S3Landing
from archiver.schema import TABLES
from archiver.tables import ensure_tables
from local.moto_server import MotoServer
from tests.helpers.iceberg import (
    NAMESPACE,
    by_key,
    drop_tables,
    folder,
    land,
    landing_rows,
    scenario,
    table_rows,
)

ERASED = "user-to-erase"


def _plant(data: dict[str, Any]) -> tuple[dict[str, Any], set[tuple[str, str]]]:
    """The erased user in three places: a participant of a session, a participant of another
    session whose own user id changed by a token exchange (the user only in the token), and a
    participant of the last session, which stays uncommitted (landing objects only)."""
    sessions = [s for stage in data["stages"] for s in stage["sessions"] if s.get("endTime")]
    planted = set()
    first = sessions[0]["participants"][0]
    first["userId"] = ERASED
    for event in first["events"]:
        for token in ("previousToken", "newToken"):
            if token in event:
                event[token]["userId"] = ERASED
    planted.add((sessions[0]["sessionId"], first["participantId"]))
    other = sessions[1]["participants"][1]
    other["events"].append(
        {
            "name": "TOKEN_EXCHANGED",
            "participantId": other["participantId"],
            "eventTime": other["events"][-1]["eventTime"],
            "replica": False,
            "previousToken": {"capabilities": ["SUBSCRIBE"], "attributes": {}, "userId": ERASED},
            "newToken": {"capabilities": ["SUBSCRIBE"], "attributes": {}, "userId": "renamed"},
        }
    )
    other["userId"] = "renamed"
    planted.add((sessions[1]["sessionId"], other["participantId"]))
    last = sessions[-1]["participants"][0]
    last["userId"] = ERASED
    planted.add((sessions[-1]["sessionId"], last["participantId"]))
    return data, planted


def _trace(rows: list[dict[str, Any]]) -> bool:
    return ERASED in json.dumps(rows, default=str)


def _run(catalog: Any, landing: Landing, prefix: str) -> None:
    data, planted = _plant(scenario(seed=17, stages=2, sessions=2, participants=6))
    sessions = land(data, landing, prefix=prefix)
    commit_sessions(catalog, NAMESPACE, sessions[:-1], landing.read)  # the last is in flight
    before = {name: table_rows(catalog, name) for name in TABLES}
    landed_before = {name: landing_rows(landing, name, prefix) for name in TABLES}
    assert _trace(before["participants"]) and _trace(landed_before["participants"])

    report = erase_user(catalog, NAMESPACE, ERASED, landing, prefix)

    def erased(row: dict[str, Any]) -> bool:
        return (row["session_id"], row.get("participant_id")) in planted

    assert report.participants == len(planted) == 3
    for name in ("participants", "participant_events"):
        now, landed = table_rows(catalog, name), landing_rows(landing, name, prefix)
        assert not _trace(now) and not _trace(landed), name
        kept = [r for r in before[name] if not erased(r)]
        assert by_key(now) == by_key(kept), name  # every other row unchanged
        assert report.rows[name] == len(before[name]) - len(kept) > 0
        assert by_key(landed) == by_key([r for r in landed_before[name] if not erased(r)])
    # Session rows hold no user data and stay as they were.
    assert by_key(table_rows(catalog, "stage_sessions")) == by_key(before["stage_sessions"])
    touched = {k for k in report.objects_rewritten}
    assert len(touched) == len(report.objects_rewritten)
    assert {k.split("/dt=", 1)[0].removeprefix(prefix) for k in touched} == {
        "participants",
        "participant_events",
    }
    # The in-flight session, committed later, brings no trace back.
    commit_sessions(catalog, NAMESPACE, sessions[-1:], landing.read)
    assert not any(_trace(table_rows(catalog, name)) for name in TABLES)
    # Erasing again finds nothing and changes nothing.
    again = erase_user(catalog, NAMESPACE, ERASED, landing, prefix)
    assert (again.participants, again.objects_rewritten) == (0, [])


def test_erasure_on_the_sql_catalog_and_a_landing_folder(tmp_path: Path) -> None:
    uri = sqlite_uri(tmp_path)
    catalog = open_catalog(uri)
    ensure_tables(catalog, NAMESPACE, location_root(uri, "", ""))
    _run(catalog, folder(tmp_path), "")


@pytest.fixture
def moto() -> Iterator[MotoServer]:
    server = MotoServer()
    server.start()
    yield server
    server.stop()


def test_erasure_on_glue_with_landing_objects_in_s3(moto: MotoServer) -> None:
    s3 = boto3.client("s3", endpoint_url=moto.url)
    s3.create_bucket(Bucket="erasure")
    catalog = open_catalog(GLUE, {"glue.endpoint": moto.url, "s3.endpoint": moto.url})
    drop_tables(catalog)
    ensure_tables(catalog, NAMESPACE, "s3://erasure/ivs/")
    landing = S3Landing(s3, "erasure")
    _run(catalog, landing, "ivs/")
    for key in landing.keys("ivs/participants/"):  # rewritten objects keep the landing tag
        tags = s3.get_object_tagging(Bucket="erasure", Key=key)["TagSet"]
        assert tags == [{"Key": "ivs-stage-archive", "Value": "landing"}]


def test_an_empty_user_id_is_refused(tmp_path: Path) -> None:
    uri = sqlite_uri(tmp_path)
    catalog = open_catalog(uri)
    ensure_tables(catalog, NAMESPACE, location_root(uri, "", ""))
    with pytest.raises(ValueError, match="the user id to erase is empty"):
        erase_user(catalog, NAMESPACE, " ", folder(tmp_path), "")
