"""Table rows -> Parquet objects under the contract's S3 keys (DESIGN.md, "S3 layout").

The same session always gives the same keys and, for the same rows, the same bytes: a rerun
overwrites, never duplicates. S3 replaces an object atomically, so a reader never sees half of one.
"""

from __future__ import annotations

import io
from collections.abc import Sequence
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Any

import pyarrow as pa
import pyarrow.parquet as pq

from archiver.rows import Row, stage_id
from archiver.schema import PARTICIPANT_EVENTS, PARTICIPANTS, STAGE_SESSIONS, Table


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
        return f"{self.prefix}{table.name}/dt={self.dt}/{stage_id(self.stage_arn)}"

    def session(self) -> str:
        return f"{self._folder(STAGE_SESSIONS)}/{self.session_id}.parquet"

    def chunk(self, table: Table, number: int) -> str:
        return f"{self._folder(table)}/{self.session_id}/part-{number:05d}.parquet"

    def participants(self, number: int) -> str:
        return self.chunk(PARTICIPANTS, number)

    def events(self, number: int) -> str:
        return self.chunk(PARTICIPANT_EVENTS, number)


def parquet_bytes(table: Table, rows: Sequence[Row]) -> bytes:
    """One Parquet file (zstd, millisecond UTC timestamps) holding `rows` in order."""
    data = pa.Table.from_pylist(list(rows), schema=table.arrow_schema)
    sink = io.BytesIO()
    pq.write_table(data, sink, compression="zstd", coerce_timestamps="ms")
    return sink.getvalue()


def put_parquet(s3: Any, bucket: str, key: str, table: Table, rows: Sequence[Row]) -> None:
    s3.put_object(
        Bucket=bucket,
        Key=key,
        Body=parquet_bytes(table, rows),
        ContentType="application/vnd.apache.parquet",
    )
