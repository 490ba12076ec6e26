"""Where an erased user could still be: every snapshot of the tables (time travel), the column
bounds their manifests keep, every Parquet file of a local archive, every version of every
object in a bucket; and which IAM actions the Glue and S3 requests to moto needed."""

from __future__ import annotations

import io
import json
from collections.abc import Callable, Iterable, Iterator
from pathlib import Path
from typing import Any
from urllib.parse import parse_qs

import pyarrow.parquet as pq

from archiver.schema import PARTICIPANT_EVENTS, PARTICIPANTS
from local.moto_server import MotoServer
from tests.helpers.iceberg import NAMESPACE


def trace(rows: Any, user: str) -> bool:
    """Whether rows (or any value) mention the user id."""
    return user in json.dumps(rows, default=str)


def holds(body: bytes, user: str) -> bool:
    """Whether a Parquet file's rows mention the user id."""
    return trace(pq.read_table(io.BytesIO(body)).to_pylist(), user)


def local_files(root: Path) -> Iterator[tuple[str, bytes]]:
    """Every Parquet file under the folder."""
    for path in sorted(root.rglob("*.parquet")):
        yield str(path), path.read_bytes()


def s3_versions(s3: Any, bucket: str) -> Iterator[tuple[str, bytes]]:
    """Every version of every Parquet object in the bucket."""
    for page in s3.get_paginator("list_object_versions").paginate(Bucket=bucket):
        for version in page.get("Versions", []):
            if version["Key"].endswith(".parquet"):
                body = s3.get_object(
                    Bucket=bucket, Key=version["Key"], VersionId=version["VersionId"]
                )["Body"].read()
                yield f"{version['Key']}@{version['VersionId']}", body


def holding(files: Iterable[tuple[str, bytes]], user: str) -> list[str]:
    return [name for name, body in files if holds(body, user)]


def assert_gone_from_history(catalog: Any, user: str, namespace: str = NAMESPACE) -> None:
    """No snapshot of participants or participant_events returns the user's rows, and no entry of
    their manifests (deleted ones included) keeps the user id as a column bound."""
    for name in (PARTICIPANTS.name, PARTICIPANT_EVENTS.name):
        table = catalog.load_table((namespace, name))
        for snapshot in table.snapshots():
            rows = table.scan(snapshot_id=snapshot.snapshot_id).to_arrow().to_pylist()
            assert not trace(rows, user), (name, snapshot.snapshot_id)
            for manifest in snapshot.manifests(table.io):
                for entry in manifest.fetch_manifest_entry(table.io, discard_deleted=False):
                    data = entry.data_file
                    bounds = [*(data.lower_bounds or {}).values()]
                    bounds += [*(data.upper_bounds or {}).values()]
                    assert not any(user.encode()[:16] in b for b in bounds), data.file_path


class RecordingMoto(MotoServer):
    """moto's server, noting the IAM actions each Glue or S3 request needs while `recording`."""

    def __init__(self) -> None:
        super().__init__()
        self.recording = False
        self.actions: set[str] = set()

    def answer(
        self, environ: dict[str, Any], start_response: Callable[..., Any]
    ) -> Iterable[bytes] | None:
        if self.recording:
            self.actions |= actions_of(environ)
        return None


def actions_of(environ: dict[str, Any]) -> set[str]:
    """The IAM actions a request needs (the Service Authorization Reference's S3 and Glue
    actions; path-style S3 requests, as boto3 and pyarrow make them to an endpoint by IP)."""
    target = environ.get("HTTP_X_AMZ_TARGET", "")
    if target.startswith("AWSGlue."):
        return {f"glue:{target.removeprefix('AWSGlue.')}"}
    method = environ["REQUEST_METHOD"]
    query = parse_qs(environ.get("QUERY_STRING", ""), keep_blank_values=True)
    on_object = "/" in environ["PATH_INFO"].strip("/")
    if not on_object:
        if method == "POST" and "delete" in query:  # DeleteObjects, each object with its version
            return {"s3:DeleteObject", "s3:DeleteObjectVersion"}
        return {"s3:ListBucketVersions" if "versions" in query else "s3:ListBucket"}
    versioned = "versionId" in query
    if method in ("GET", "HEAD"):
        return {"s3:GetObjectVersion" if versioned else "s3:GetObject"}
    if method == "DELETE":
        return {"s3:DeleteObject", *(["s3:DeleteObjectVersion"] if versioned else [])}
    tagged = bool(environ.get("HTTP_X_AMZ_TAGGING"))  # PUT, or POST of a multipart upload
    return {"s3:PutObject", *(["s3:PutObjectTagging"] if tagged else [])}
