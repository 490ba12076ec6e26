"""Table rows -> Parquet objects under the contract's S3 keys (docs/design.md, "S3 layout").

The same session always gives the same keys and, for the same rows, the same bytes: a rerun
overwrites, never duplicates. S3 replaces an object atomically, so a reader never sees half of one.
"""

from __future__ import annotations

import io
import re
from collections.abc import Iterable
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Any

import pyarrow as pa
import pyarrow.parquet as pq

from archiver.rows import Row, place_of, stage_id
from archiver.schema import PARTICIPANT_EVENTS, PARTICIPANTS, STAGE_SESSIONS, Table

# Every landing object carries this tag: the bucket's lifecycle rule expires only tagged objects
# (landingRetentionDays), never those an earlier version wrote untagged before the Iceberg tables.
LANDING_TAG = ("ivs-stage-archive", "landing")


@dataclass(frozen=True)
class SessionKeys:
    """Where one session's objects live."""

    prefix: str
    stage_arn: str
    session_id: str
    start_time: datetime

    @property
    def dt(self) -> str:
        """The UTC date of the session's start: a whole session lives in one partition."""
        return f"{self.start_time.astimezone(UTC):%Y-%m-%d}"

    def _folder(self, table: Table) -> str:
        """`<prefix><table>/dt=<day>/<account>/<region>/<stage_id>`: a place's own folder under
        each day, so that two places never share a key (stage ids are unique per region only)
        and the home can let each account write its own only."""
        place = place_of(self.stage_arn)
        return (
            f"{self.prefix}{table.name}/dt={self.dt}/{place['account_id']}/{place['region']}/"
            f"{stage_id(self.stage_arn)}"
        )

    def session(self) -> str:
        return f"{self._folder(STAGE_SESSIONS)}/{self.session_id}.parquet"

    def chunk(self, table: Table, number: int) -> str:
        return f"{self._folder(table)}/{self.session_id}/part-{number:05d}.parquet"

    def participants(self, number: int) -> str:
        return self.chunk(PARTICIPANTS, number)

    def events(self, number: int) -> str:
        return self.chunk(PARTICIPANT_EVENTS, number)


_PLACE_FOLDERS = re.compile(r"(/dt=\d{4}-\d{2}-\d{2}/)[0-9]{12}/[a-z0-9-]+/")


def legacy_key(key: str) -> str | None:
    """Where an earlier version (before places) kept the landing object `key`: the same key
    without the place's folders; None for a key that has none."""
    legacy, count = _PLACE_FOLDERS.subn(r"\1", key, count=1)
    return legacy if count else None


class RowBuffer:
    """Rows of one table on their way to one Parquet object, held as Arrow record batches
    (compact, columnar): dict rows are converted every `batch_rows` rows, so a chunk of
    thousands of participants never sits in memory as Python dicts."""

    def __init__(self, table: Table, rows: Iterable[Row] = (), batch_rows: int = 4096) -> None:
        self.table = table
        self.batch_rows = batch_rows
        self._batches: list[pa.RecordBatch] = []
        self._pending: list[Row] = []
        self.count = 0
        self.extend(rows)

    def extend(self, rows: Iterable[Row]) -> None:
        for row in rows:
            self._pending.append(row)
            self.count += 1
        if len(self._pending) >= self.batch_rows:
            self._flush()

    def _flush(self) -> None:
        if self._pending:
            schema = self.table.arrow_schema
            self._batches.append(pa.RecordBatch.from_pylist(self._pending, schema=schema))
            self._pending = []

    def parquet(self) -> bytes:
        """One Parquet file (zstd, millisecond UTC timestamps) holding the rows in order."""
        self._flush()
        data = pa.Table.from_batches(self._batches, schema=self.table.arrow_schema)
        sink = io.BytesIO()
        pq.write_table(data, sink, compression="zstd", coerce_timestamps="ms")
        return sink.getvalue()


def parquet_bytes(table: Table, rows: Iterable[Row]) -> bytes:
    """One Parquet file (zstd, millisecond UTC timestamps) holding `rows` in order."""
    return RowBuffer(table, rows).parquet()


def put_parquet(
    s3: Any, bucket: str, key: str, table: Table, rows: Iterable[Row] | RowBuffer
) -> None:
    buffer = rows if isinstance(rows, RowBuffer) else RowBuffer(table, rows)
    put_object(s3, bucket, key, buffer.parquet())


def put_object(s3: Any, bucket: str, key: str, body: bytes) -> None:
    """One Parquet file's bytes under `key`, tagged as a landing object."""
    s3.put_object(
        Bucket=bucket,
        Key=key,
        Body=body,
        ContentType="application/vnd.apache.parquet",
        Tagging="=".join(LANDING_TAG),
    )
