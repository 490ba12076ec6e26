"""An archive's query tables and landing objects together, as erasure and the migration take
them: in AWS, the Glue catalog's tables and the archive bucket; for a local archive folder, its
SQL catalog (DIR/catalog.db) and the folder."""

from __future__ import annotations

import tempfile
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


@dataclass(frozen=True)
class Store:
    catalog: Any  # pyiceberg Catalog
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
    if not directory.is_dir():
        raise UsageError(f"--dir {directory}: no such folder")
    if not any((directory / name).is_dir() for name in ("stage_sessions", "participants")):
        raise UsageError(
            f"--dir {directory}: not an archive folder (no stage_sessions/ or participants/ in "
            "it); give the folder `python -m local run --out` or `aws s3 sync` wrote"
        )


@contextmanager
def in_folder(directory: Path, *, create_tables: bool) -> Iterator[Store]:
    """A local archive. Without DIR/catalog.db, `create_tables` creates it (the migration); if
    not, the tables are empty ones in a temporary folder, so that only the landing objects are
    touched and nothing is added to DIR."""
    _folder(directory)
    landing = FolderLanding(directory)
    if (directory / CATALOG_FILE).is_file() or create_tables:
        uri = sqlite_uri(directory)
        catalog = open_catalog(uri)
        namespaces = [".".join(n) for n in catalog.list_namespaces()]
        namespace = NAMESPACE if NAMESPACE in namespaces or not namespaces else namespaces[0]
        if len(namespaces) > 1 and NAMESPACE not in namespaces:
            raise ConsoleError(f"{directory / CATALOG_FILE}: several namespaces: {namespaces}")
        ensure_tables(catalog, namespace, local_root(uri))
        yield Store(catalog, namespace, landing, "", f"{directory} (tables and landing objects)")
        return
    with tempfile.TemporaryDirectory(prefix="ivs-archive-") as scratch:
        uri = sqlite_uri(Path(scratch))
        catalog = open_catalog(uri)
        ensure_tables(catalog, NAMESPACE, local_root(uri))
        yield Store(catalog, NAMESPACE, landing, "", f"{directory} (landing objects; no tables)")
