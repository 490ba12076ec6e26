"""Erased rows physically gone: out of every snapshot, every table file and every object version.

After an erasure's deletes (archiver.erasure), a table's older snapshots still return the rows
and the files they reference still hold them. `purge_table` ends that for one table:
1. **Seal**: an empty append on top of the erased table, whose summary carries what must outlive
   the snapshots expired next (`properties`). Unlike the erasure's own delete snapshots, it
   references no manifest listing the deleted files (whose column bounds may hold the user id).
2. **Expire** every snapshot older than the seal (tagged or branched ones excepted).
3. **Remove** the files only those snapshots referenced (manifest lists, manifests, data files),
   and in S3 every version of each. A file a concurrent writer has written but not committed is
   referenced by no expired snapshot: it is never among them.
4. **Sweep** what no snapshot references: the data files and manifests of commits that did not
   land (or of a purge that stopped half-way), removed once older than `orphan_age`, so that none
   can be a commit in progress (a younger data file that holds the user is reported, `pending`);
   and, in S3, each noncurrent version of the table's files and of the landing objects that holds
   the user (`sweep_versions`).
A failed commit (a concurrent writer won) is redone on the refreshed table, `attempts` times.
"""

from __future__ import annotations

import io
from collections.abc import Callable, Iterable, Iterator
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import TYPE_CHECKING, Any, TypeVar
from urllib.parse import unquote, urlparse

import pyarrow.compute as pc
import pyarrow.parquet as pq

from archiver.compat import empty_snapshot

if TYPE_CHECKING:
    from pyiceberg.catalog import Catalog
    from pyiceberg.io import FileIO
    from pyiceberg.table import Table as IcebergTable
    from pyiceberg.table.snapshots import Snapshot

# A data file no snapshot references may still be a writer's, about to be committed: none of this
# project's writers holds one longer than a Lambda invocation (15 minutes).
ORPHAN_AGE = timedelta(hours=1)
# Commits lost to concurrent writers before giving up (each with a random backoff).
ATTEMPTS = 12
MAIN = "main"

T = TypeVar("T")
Holds = Callable[[bytes], bool]  # a Parquet file's bytes -> whether they hold the erased user


@dataclass(frozen=True)
class Pending:
    """A file that holds the user and cannot be removed before `after`."""

    uri: str
    after: datetime


@dataclass
class Purge:
    expired: int = 0  # snapshots
    files: int = 0  # table files removed (with every version in S3)
    versions: int = 0  # noncurrent object versions removed
    conflicts: int = 0  # commits redone because another writer committed first
    pending: list[Pending] = field(default_factory=list)


class Storage:
    """Files named by URI: `file://` (or a plain path) here, `s3://` through the boto3 client `s3`,
    every version of an object included. What it lists is named as `canonical` names it."""

    def __init__(self, s3: Any | None = None) -> None:
        self.s3 = s3

    def listing(self, prefix: str) -> Iterator[tuple[str, datetime]]:
        """Each current file under `prefix` and when it was written."""
        if _is_s3(prefix):
            bucket, key = self._split(prefix)
            for page in self._s3.get_paginator("list_objects_v2").paginate(
                Bucket=bucket, Prefix=key
            ):
                for item in page.get("Contents", []):
                    yield f"s3://{bucket}/{item['Key']}", item["LastModified"]
            return
        root = _path(prefix)
        for path in sorted(root.rglob("*")) if root.is_dir() else []:
            if path.is_file():
                yield canonical(str(path)), datetime.fromtimestamp(path.stat().st_mtime, UTC)

    def read(self, uri: str, version: str | None = None) -> bytes:
        if not _is_s3(uri):
            return _path(uri).read_bytes()
        bucket, key = self._split(uri)
        extra = {"VersionId": version} if version else {}
        body: bytes = self._s3.get_object(Bucket=bucket, Key=key, **extra)["Body"].read()
        return body

    def remove(self, uri: str, *, keep_current: bool = False) -> int:
        """Removes the file for good (every version, delete markers too), or with `keep_current`
        only its noncurrent versions; how many versions went."""
        if not _is_s3(uri):
            if keep_current:
                return 0
            path = _path(uri)
            gone = path.is_file()
            path.unlink(missing_ok=True)
            return int(gone)
        bucket, key = self._split(uri)
        versions = [
            (str(v["VersionId"]), bool(v.get("IsLatest")))
            for page in self._s3.get_paginator("list_object_versions").paginate(
                Bucket=bucket, Prefix=key
            )
            for v in page.get("Versions", []) + page.get("DeleteMarkers", [])
            if v["Key"] == key
        ]
        doomed = [v for v, latest in versions if not (keep_current and latest)]
        self.remove_versions(uri, doomed)
        return len(doomed)

    def noncurrent(self, prefix: str) -> Iterator[tuple[str, str]]:
        """(uri, version id) of each noncurrent object version under `prefix` (none here)."""
        if not _is_s3(prefix):
            return
        bucket, key = self._split(prefix)
        pages = self._s3.get_paginator("list_object_versions").paginate(Bucket=bucket, Prefix=key)
        for page in pages:
            for version in page.get("Versions", []):
                if not version.get("IsLatest"):
                    yield f"s3://{bucket}/{version['Key']}", str(version["VersionId"])

    def remove_versions(self, uri: str, versions: list[str]) -> None:
        bucket, key = self._split(uri)
        for start in range(0, len(versions), 1000):
            objects = [{"Key": key, "VersionId": v} for v in versions[start : start + 1000]]
            answer = self._s3.delete_objects(Bucket=bucket, Delete={"Objects": objects})
            if answer.get("Errors"):
                error = answer["Errors"][0]
                raise OSError(f"DeleteObjects {uri}: {error.get('Code')} ({error.get('Message')})")

    @property
    def _s3(self) -> Any:
        if self.s3 is None:
            raise ValueError("an s3:// location, and no S3 client to reach it")
        return self.s3

    @staticmethod
    def _split(uri: str) -> tuple[str, str]:
        parsed = urlparse(uri)
        return parsed.netloc, parsed.path.lstrip("/")


def _is_s3(uri: str) -> bool:
    return uri.startswith(("s3://", "s3a://"))


def _path(uri: str) -> Path:
    return Path(unquote(urlparse(uri).path)) if uri.startswith("file:") else Path(uri)


def canonical(uri: str) -> str:
    """One name per file: `s3://bucket/key` as it is, a local file as its absolute path (pyiceberg
    names it `file:///...`, unescaped)."""
    return uri if _is_s3(uri) else str(_path(uri).absolute())


def parquet_holds(body: bytes, mask: Callable[[Any], Any]) -> bool:
    """Whether a Parquet file holds the user: `mask(rows)` marks the rows that do, given the
    columns `user_id` and the tokens' that the file has (one without `user_id` holds no user)."""
    data = pq.ParquetFile(io.BytesIO(body))
    names = data.schema_arrow.names
    if "user_id" not in names:
        return False
    columns = [c for c in ("user_id", "previous_token", "new_token") if c in names]
    return bool(pc.any(mask(data.read(columns=columns))).as_py())


def purge_table(
    catalog: Catalog,
    identifier: tuple[str, str],
    storage: Storage,
    holds: Holds,
    *,
    properties: Callable[[IcebergTable], dict[str, str]],
    must: bool,
    orphan_age: timedelta = ORPHAN_AGE,
    attempts: int = ATTEMPTS,
    now: Callable[[], datetime] = lambda: datetime.now(UTC),
) -> Purge:
    """Seals, expires and removes (see the module's doc) when `must` (the erasure deleted rows
    here) or when a file only older snapshots reference holds the user; then sweeps."""
    report = Purge()
    table = catalog.load_table(identifier)
    if must or any(holds(storage.read(uri)) for uri in _old_only(table)):
        seal, redone = retry_commit(lambda: _seal(catalog, identifier, properties), attempts)
        expired, again = retry_commit(lambda: _expire(catalog, identifier, seal), attempts)
        report.conflicts += redone + again
        table = catalog.load_table(identifier)
        kept = references(table.snapshots(), table.io, live_only=True)
        for uri in sorted(references(expired, table.io, live_only=False) - kept):
            report.files += min(1, storage.remove(uri))
        report.expired = len(expired)
    kept = references(table.snapshots(), table.io, live_only=True)
    for uri, written in storage.listing(f"{table.location().rstrip('/')}/"):
        if uri in kept or not uri.endswith((".parquet", ".avro")):
            continue  # referenced, or table metadata (which holds no row)
        if written <= now() - orphan_age:
            report.files += min(1, storage.remove(uri))
        elif uri.endswith(".parquet") and holds(storage.read(uri)):
            report.pending.append(Pending(uri, written + orphan_age))
    report.versions += sweep_versions(storage, f"{table.location().rstrip('/')}/", holds)
    return report


def sweep_versions(storage: Storage, prefix: str, holds: Holds) -> int:
    """Removes each noncurrent version of a Parquet object under `prefix` that holds the user
    (S3 only); how many."""
    removed = 0
    for uri, version in storage.noncurrent(prefix):
        if uri.endswith(".parquet") and holds(storage.read(uri, version)):
            storage.remove_versions(uri, [version])
            removed += 1
    return removed


def references(snapshots: Iterable[Snapshot], file_io: FileIO, *, live_only: bool) -> set[str]:
    """Every file the snapshots reference: manifest lists, manifests and the data (and delete)
    files of their entries, only the live ones (added or existing) with `live_only`."""
    found: set[str] = set()
    read: set[str] = set()
    for snapshot in snapshots:
        found.add(canonical(snapshot.manifest_list))
        for manifest in snapshot.manifests(file_io):
            found.add(canonical(manifest.manifest_path))
            if manifest.manifest_path in read:
                continue
            read.add(manifest.manifest_path)
            entries = manifest.fetch_manifest_entry(file_io, discard_deleted=live_only)
            found.update(canonical(entry.data_file.file_path) for entry in entries)
    return found


def _old_only(table: IcebergTable) -> list[str]:
    """The data files older snapshots reference and the current one does not."""
    current = table.current_snapshot()
    if current is None:
        return []
    older = [s for s in table.snapshots() if s.snapshot_id != current.snapshot_id]
    live = references([current], table.io, live_only=True)
    return sorted(
        uri
        for uri in references(older, table.io, live_only=False) - live
        if uri.endswith(".parquet")
    )


def retry_commit(commit: Callable[[], T], attempts: int = ATTEMPTS) -> tuple[T, int]:
    """`commit()`, called again (after a random backoff) while it loses the race to another
    writer's commit, `attempts` times at most; its result, and how many times it was redone."""
    from pyiceberg.exceptions import CommitFailedException, ValidationException
    from tenacity import Retrying, retry_if_exception_type, stop_after_attempt
    from tenacity import wait_random_exponential as backoff

    retrying = Retrying(
        retry=retry_if_exception_type((CommitFailedException, ValidationException)),
        stop=stop_after_attempt(attempts),
        wait=backoff(multiplier=0.1, max=5),
        reraise=True,
    )
    for attempt in retrying:
        with attempt:
            return commit(), attempt.retry_state.attempt_number - 1
    raise AssertionError("unreachable: tenacity reraises")  # pragma: no cover


def _seal(
    catalog: Catalog,
    identifier: tuple[str, str],
    properties: Callable[[IcebergTable], dict[str, str]],
) -> int:
    """An empty append on the table as it is now; its sequence number."""
    table = catalog.load_table(identifier)
    # No file: the snapshot keeps the live manifests and drops those of deleted files.
    sealed = empty_snapshot(table, properties(table)).current_snapshot()
    assert sealed is not None and sealed.sequence_number is not None
    return sealed.sequence_number


def _expire(catalog: Catalog, identifier: tuple[str, str], seal: int) -> list[Snapshot]:
    """Expires every snapshot older than the seal, except the heads of other refs; those."""
    table = catalog.load_table(identifier)
    protected = {r.snapshot_id for name, r in table.metadata.refs.items() if name != MAIN}
    expired = [
        s
        for s in table.snapshots()
        if (s.sequence_number or 0) < seal and s.snapshot_id not in protected
    ]
    if expired:
        table.maintenance.expire_snapshots().by_ids([s.snapshot_id for s in expired]).commit()
    return expired
