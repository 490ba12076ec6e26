"""An archive's query tables and landing objects together, as erasure and the migration take
them: in AWS, the Glue catalog's tables and the archive bucket; for a local archive folder, its
SQL catalog (DIR/catalog.db) and the folder, held against `local run --out DIR` meanwhile."""

from __future__ import annotations

import errno
import fcntl
import os
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from archiver.catalog import local_root, open_catalog, sqlite_uri
from archiver.landing import FolderLanding, Landing, S3Landing
from archiver.tables import ensure_tables
from console.deployment import BUCKET, DATABASE, TABLES_LOCATION, Deployment
from console.errors import ConsoleError, UsageError
from console.sources import CATALOG_FILE, NAMESPACE

ICEBERG_FOLDER = "iceberg"  # the tables' files in a local archive (archiver.tables.table_location)


@dataclass(frozen=True)
class Store:
    catalog: Any  # pyiceberg Catalog; None for a local archive of landing objects only
    namespace: str
    landing: Landing
    prefix: str
    where: str  # for people: which archive this is


def in_aws(deployment: Deployment) -> Store:
    deployment.require(BUCKET, DATABASE, TABLES_LOCATION)
    bucket = deployment[BUCKET]
    return Store(
        catalog=deployment.aws.glue_catalog(),
        namespace=deployment[DATABASE],
        landing=S3Landing(deployment.client("s3"), bucket),
        prefix=deployment.prefix,
        where=f"Glue database {deployment[DATABASE]} and s3://{bucket}/{deployment.prefix}",
    )


def _folder(directory: Path) -> None:
    if not any((directory / name).is_dir() for name in ("stage_sessions", "participants")):
        raise UsageError(
            f"--dir {directory}: not an archive folder (no stage_sessions/ or participants/ in "
            "it); give the folder `python -m local run --out` or `aws s3 sync` wrote"
        )


@contextmanager
def in_folder(directory: Path, *, create_tables: bool) -> Iterator[Store]:
    """A local archive, held against `local run --out DIR` while the block runs (a run writing
    into it would undo what the block does). Without DIR/catalog.db, `create_tables` creates it
    (the migration); if not, the archive is its landing objects only (no catalog), and one whose
    tables' files (DIR/iceberg/) are there without their catalog is refused: what is done to the
    landing objects would leave the same rows in those files."""
    if not directory.is_dir():
        raise UsageError(f"--dir {directory}: no such folder")
    with _held(directory):  # first: a run writing into DIR may not have copied the objects yet
        _folder(directory)
        tables = directory / ICEBERG_FOLDER
        if not (directory / CATALOG_FILE).is_file() and not create_tables and tables.is_dir():
            raise UsageError(
                f"--dir {directory}: {ICEBERG_FOLDER}/ holds the tables' files but there is no "
                f"{CATALOG_FILE} to change them through (an `aws s3 sync` copy has none): erase "
                f"in the deployment it was copied from and copy it again, or remove {tables} to "
                "change the landing objects only"
            )
        landing = FolderLanding(directory)
        if not (directory / CATALOG_FILE).is_file() and not create_tables:
            yield Store(None, NAMESPACE, landing, "", f"{directory} (landing objects; no tables)")
            return
        uri = sqlite_uri(directory)
        catalog = open_catalog(uri)
        namespaces = [".".join(n) for n in catalog.list_namespaces()]
        namespace = NAMESPACE if NAMESPACE in namespaces or not namespaces else namespaces[0]
        if len(namespaces) > 1 and NAMESPACE not in namespaces:
            raise ConsoleError(f"{directory / CATALOG_FILE}: several namespaces: {namespaces}")
        ensure_tables(catalog, namespace, local_root(uri))
        yield Store(catalog, namespace, landing, "", f"{directory} (tables and landing objects)")


@contextmanager
def _held(directory: Path) -> Iterator[None]:
    """DIR held as `local run --out DIR` holds it (an advisory lock on its lock file, local/run.py):
    refused while a run holds it, or when a run was killed while writing into it."""
    from local.run import LOCK_FILE, WRITING

    path = directory / LOCK_FILE
    while True:
        fd = os.open(path, os.O_RDWR | os.O_CREAT, 0o644)
        try:
            fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
        except OSError as error:
            words = os.pread(fd, 64, 0).decode("ascii", "replace").split() or ["?"]
            os.close(fd)
            if error.errno not in (errno.EWOULDBLOCK, errno.EAGAIN, errno.EACCES):
                raise
            raise ConsoleError(
                f"--dir {directory}: in use by `local run` (pid {words[0]}), which writes the "
                "archive again when it ends; wait for it to end, then run this again"
            ) from None
        try:
            same = os.path.samestat(os.fstat(fd), os.stat(path))
        except FileNotFoundError:
            same = False
        if same:  # not a file its last holder removed between our open and our lock
            break
        os.close(fd)
    if WRITING in os.pread(fd, 64, 0).decode("ascii", "replace").split():
        os.close(fd)  # the lock file stays: it tells the next run what it replaces
        raise ConsoleError(
            f"--dir {directory}: a `local run` was killed while writing it, so it holds part of "
            "an archive; run it again to complete the archive"
        )
    try:
        os.ftruncate(fd, 0)
        os.pwrite(fd, f"{os.getpid()}\n".encode(), 0)
        yield
    finally:
        path.unlink(missing_ok=True)  # while held, as a run lets go
        os.close(fd)
