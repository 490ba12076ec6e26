"""The landing objects (docs/design.md, "S3 layout"), wherever they are kept: an S3 bucket in AWS, a
folder for a local archive. Erasure rewrites them; the migration of an earlier deployment lists
them. (The archive worker writes them itself, through `archiver.writer`.)
"""

from __future__ import annotations

import io
import os
import re
import tempfile
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Protocol

import pyarrow as pa
import pyarrow.parquet as pq

from archiver.schema import PARTICIPANT_EVENTS, PARTICIPANTS, STAGE_SESSIONS
from archiver.writer import put_object


class Landing(Protocol):
    def keys(self, prefix: str) -> Iterator[str]:
        """Every object key that starts with `prefix`, in key order."""
        ...

    def read(self, key: str) -> bytes: ...

    def write(self, key: str, body: bytes) -> None: ...


class S3Landing:
    def __init__(self, s3: Any, bucket: str) -> None:
        self.s3 = s3
        self.bucket = bucket

    def keys(self, prefix: str) -> Iterator[str]:
        pages = self.s3.get_paginator("list_objects_v2").paginate(Bucket=self.bucket, Prefix=prefix)
        for page in pages:
            for item in page.get("Contents", []):
                yield str(item["Key"])

    def read(self, key: str) -> bytes:
        body: bytes = self.s3.get_object(Bucket=self.bucket, Key=key)["Body"].read()
        return body

    def write(self, key: str, body: bytes) -> None:
        put_object(self.s3, self.bucket, key, body)  # tagged, as the archiver wrote it


class FolderLanding:
    """A local archive folder holding the bucket's keys as paths."""

    def __init__(self, root: Path) -> None:
        self.root = root

    def keys(self, prefix: str) -> Iterator[str]:
        head = prefix.rsplit("/", 1)[0] if "/" in prefix else ""
        base = self.root / head
        found = (p.relative_to(self.root).as_posix() for p in base.rglob("*") if p.is_file())
        yield from sorted(k for k in found if k.startswith(prefix))

    def read(self, key: str) -> bytes:
        return (self.root / key).read_bytes()

    def write(self, key: str, body: bytes) -> None:
        """Atomically: a reader sees the old bytes or the new, never half of them."""
        target = self.root / key
        target.parent.mkdir(parents=True, exist_ok=True)
        handle, temporary = tempfile.mkstemp(dir=target.parent, prefix=".tmp-")
        with os.fdopen(handle, "wb") as out:
            out.write(body)
        os.replace(temporary, target)


@dataclass(frozen=True)
class LandingKey:
    """What a landing object's key says: its table, partition, place (none in a key written
    before places), stage, session and chunk."""

    key: str
    table: str
    dt: str
    stage_id: str
    session_id: str
    chunk: int | None  # None for the session row
    account_id: str | None = None
    region: str | None = None

    @property
    def session(self) -> str:
        """The session as the tables name it (archiver.rows.session_key; before places,
        `<stage_id>/<session_id>`)."""
        place = f"{self.account_id}/{self.region}/" if self.account_id else ""
        return f"{place}{self.stage_id}/{self.session_id}"

    @property
    def folder(self) -> str:
        """The key's folder of its session, without the table: the same for each object of
        one session."""
        place = f"{self.account_id}/{self.region}/" if self.account_id else ""
        return f"dt={self.dt}/{place}{self.stage_id}/{self.session_id}"


# The day, then the place's folders (none in a key written before places).
_DT = (
    r"dt=(?P<dt>\d{4}-\d{2}-\d{2})/"
    r"(?:(?P<account>[0-9]{12})/(?P<region>[a-z]{2}(?:-[a-z]+)+-[0-9])/)?"
)


def parse_key(key: str, prefix: str) -> LandingKey | None:
    """The parts of a landing object's key, or None for any other key."""
    if not key.startswith(prefix):
        return None
    rest = key[len(prefix) :]
    chunked = "|".join(re.escape(t.name) for t in (PARTICIPANTS, PARTICIPANT_EVENTS))
    match = re.fullmatch(
        rf"(?P<table>{chunked})/{_DT}(?P<stage>[^/]+)/(?P<session>[^/]+)/part-(?P<n>\d{{5}})\.parquet",
        rest,
    ) or re.fullmatch(
        rf"(?P<table>{re.escape(STAGE_SESSIONS.name)})/{_DT}(?P<stage>[^/]+)/(?P<session>[^/]+)\.parquet",
        rest,
    )
    if match is None:
        return None
    parts = match.groupdict()
    number = parts.get("n")
    return LandingKey(
        key,
        parts["table"],
        parts["dt"],
        parts["stage"],
        parts["session"],
        int(number) if number is not None else None,
        parts.get("account"),
        parts.get("region"),
    )


def read_parquet(body: bytes) -> pa.Table:
    return pq.read_table(io.BytesIO(body))


def parquet_bytes(data: pa.Table) -> bytes:
    """Arrow rows as a landing object: the writer's options (zstd, millisecond timestamps)."""
    sink = io.BytesIO()
    pq.write_table(data, sink, compression="zstd", coerce_timestamps="ms")
    return sink.getvalue()
