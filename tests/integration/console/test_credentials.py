"""The console's credentials are the SDK's, refreshed as they expire (console/aws.py,
console/iceberg_io.py): a command that outlasts them (SSO and assumed-role credentials last an
hour or less) keeps working, its Glue calls and its pyarrow S3 calls alike.

moto stands behind `Expiring`, which refuses a request signed with credentials past their
expiry as AWS does (ExpiredToken) and answers each request a little late, so that a `migrate`
outlasts credentials that live a second: botocore's RefreshableCredentials, refreshed from a
counter, as an SSO or assume-role provider refreshes them."""

from __future__ import annotations

import io
import json
import re
import threading
import time
import uuid
from collections import defaultdict
from collections.abc import Callable, Iterable, Iterator
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Any

import boto3
import botocore.session
import pytest
from botocore.credentials import CredentialProvider, RefreshableCredentials
from botocore.exceptions import ClientError

from archiver.catalog import GLUE, open_catalog
from archiver.landing import S3Landing
from archiver.migrate import commit_landing
from archiver.schema import PARTICIPANTS, STAGE_SESSIONS
from archiver.tables import ensure_tables
from console import migrate
from console.aws import Aws
from console.deployment import BUCKET, DATABASE, TABLES_LOCATION, Deployment
from console.iceberg_io import RefreshingFileIO
from console.output import Output
from local.moto_server import MotoServer
from local.pipeline import EmbeddedPipeline, Options
from tests.helpers.iceberg import table_rows
from tests.helpers.scenario import build_scenario

REGION = "us-east-1"
LIFETIME_S = 1.0  # how long each set of credentials lasts
ADVISORY_S = 0.5  # botocore refreshes them this long before they expire (15 min in AWS)
MANDATORY_S = 0.3  # ... and blocks for a refresh from this long before (10 min in AWS)
LATENCY_S = 0.03  # each request answered this late: the command outlasts several lifetimes
_KEY = re.compile(r"Credential=([^/]+)/")
EXPIRED = (
    b'<?xml version="1.0" encoding="UTF-8"?>\n<Error><Code>ExpiredToken</Code>'
    b"<Message>The provided token has expired.</Message></Error>"
)


class Expiring(MotoServer):
    """moto, refusing what is signed with expired credentials; which keys each client used."""

    def __init__(self) -> None:
        super().__init__()
        self.expiry: dict[str, float] = {}  # access key -> when it expires (time.time())
        self.used: dict[str, set[str]] = defaultdict(set)  # "pyarrow" / "botocore" -> keys
        self.refused: list[str] = []
        self._lock = threading.Lock()

    def answer(
        self, environ: dict[str, Any], start_response: Callable[..., Any]
    ) -> Iterable[bytes] | None:
        found = _KEY.search(environ.get("HTTP_AUTHORIZATION", ""))
        key = found[1] if found else ""
        if key not in self.expiry:  # the test's own set-up, with the fixed test keys
            return None
        agent = environ.get("HTTP_USER_AGENT", "")
        client = "pyarrow" if "aws-sdk-cpp" in agent.lower() else "botocore"
        with self._lock:
            self.used[client].add(key)
        if time.time() >= self.expiry[key]:
            with self._lock:
                self.refused.append(f"{client} {environ['REQUEST_METHOD']} {environ['PATH_INFO']}")
            return self._expired(environ, start_response)
        time.sleep(LATENCY_S)
        return None

    @staticmethod
    def _expired(environ: dict[str, Any], start_response: Callable[..., Any]) -> Iterable[bytes]:
        if environ.get("HTTP_X_AMZ_TARGET"):  # a JSON protocol (Glue)
            body = json.dumps(
                {"__type": "ExpiredTokenException", "message": "The security token is expired"}
            ).encode()
            kind = "application/x-amz-json-1.1"
        else:  # S3
            body, kind = EXPIRED, "application/xml"
        start_response(
            "400 Bad Request", [("Content-Type", kind), ("Content-Length", str(len(body)))]
        )
        return [body]


class Rotating(CredentialProvider):
    """Credentials that last LIFETIME_S, each set with keys of its own, refreshed by botocore
    as an SSO or assume-role provider's are."""

    METHOD = "rotating-test"
    CANONICAL_NAME = "RotatingTest"

    def __init__(self, server: Expiring) -> None:
        super().__init__()
        self.server = server
        self.issued = 0

    def fetch(self) -> dict[str, str]:
        self.issued += 1
        key = f"ASIAROTATING{self.issued:08d}"
        expires = time.time() + LIFETIME_S
        self.server.expiry[key] = expires
        return {
            "access_key": key,
            "secret_key": f"secret-{self.issued}",
            "token": f"token-{self.issued}",
            "expiry_time": datetime.fromtimestamp(expires, UTC).isoformat(),
        }

    def load(self) -> RefreshableCredentials:
        return RefreshableCredentials.create_from_metadata(
            self.fetch(),
            refresh_using=self.fetch,
            method=self.METHOD,
            advisory_timeout=ADVISORY_S,
            mandatory_timeout=MANDATORY_S,
        )


def session_with(provider: CredentialProvider) -> boto3.Session:
    core = botocore.session.Session()
    core.get_component("credential_provider").insert_before("env", provider)
    return boto3.Session(botocore_session=core, region_name=REGION)


@dataclass
class Landed:
    pipeline: EmbeddedPipeline
    front: Expiring
    database: str  # moto keeps one state per process: a name of its own

    def deployment(self, aws: Aws) -> Deployment:
        bucket = self.pipeline.account.bucket
        outputs = {BUCKET: bucket, DATABASE: self.database, TABLES_LOCATION: f"s3://{bucket}/"}
        return Deployment(aws, "IvsStageArchive", outputs)


@pytest.fixture
def landed(monkeypatch: pytest.MonkeyPatch) -> Iterator[Landed]:
    """Sessions landed in moto's bucket, the query tables empty in moto's Glue, and every
    request of the test after this behind `Expiring`."""
    scenario = build_scenario(stages=2, sessions=3, participants=4, events=3)
    database = f"credentials_{uuid.uuid4().hex[:8]}"
    with EmbeddedPipeline(scenario, Options(tps=100)) as pipeline:
        pipeline.run()
        ensure_tables(open_catalog(GLUE), database, f"s3://{pipeline.account.bucket}/")
        with Expiring() as front:
            monkeypatch.setenv("AWS_ENDPOINT_URL", front.url)
            yield Landed(pipeline, front, database)


def test_migrate_outlasts_its_credentials(landed: Landed) -> None:
    front = landed.front
    rotating = Rotating(front)
    aws = Aws(region=REGION)
    aws.session = session_with(rotating)
    out = io.StringIO()
    started = time.monotonic()
    status = migrate.run(landed.deployment(aws), Output(as_json=True, stdout=out), directory=None)
    took = time.monotonic() - started
    assert status == 0
    assert front.refused == []
    assert len(json.loads(out.getvalue())["sessions_committed"]) == 6
    # It outlasted several sets of credentials, and both Glue (botocore) and the table files
    # (pyarrow) were reached with more than one: each was refreshed in the middle of it.
    assert took > 2 * LIFETIME_S, took
    assert rotating.issued >= 3
    assert len(front.used["botocore"]) >= 2, front.used
    assert len(front.used["pyarrow"]) >= 2, front.used
    # (read back with the fixed test keys, which never expire)
    assert len(table_rows(open_catalog(GLUE), STAGE_SESSIONS.name, landed.database)) == 6

    # A table held past its credentials' expiry (as erasure holds one while it rewrites) still
    # reads: its file IO signs with the refreshed ones.
    table = aws.glue_catalog().load_table((landed.database, PARTICIPANTS.name))
    assert isinstance(table.io, RefreshingFileIO)
    assert table.scan().to_arrow().num_rows == 6 * 4
    first = table.io.builds
    time.sleep(LIFETIME_S)
    assert table.scan().to_arrow().num_rows == 6 * 4
    assert table.io.builds > first
    assert front.refused == []


def test_frozen_credentials_fail_once_expired(landed: Landed) -> None:
    """What the console did before: its credentials copied into pyiceberg at start. The stand-in
    refuses them once they expire, as AWS does (so the test above means something)."""
    front = landed.front
    aws = Aws(region=REGION)
    aws.session = session_with(Rotating(front))
    frozen = aws.credentials().get_frozen_credentials()
    properties = {
        f"{service}.{name}": value
        for service in ("glue", "s3")
        for name, value in (
            ("access-key-id", frozen.access_key),
            ("secret-access-key", frozen.secret_key),
            ("session-token", frozen.token),
        )
    }
    catalog = open_catalog(GLUE, properties | {"glue.region": REGION, "s3.region": REGION})
    time.sleep(LIFETIME_S)
    landing = S3Landing(aws.client("s3"), landed.pipeline.account.bucket)
    with pytest.raises(ClientError, match="ExpiredToken"):
        commit_landing(catalog, landed.database, landing, "")
    assert front.refused
