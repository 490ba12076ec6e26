"""The Iceberg catalog the tables live in: Glue in AWS, pyiceberg's SQL catalog (SQLite) locally.

`ICEBERG_CATALOG` is `glue`, or `sqlite:///<folder>/catalog.db` for a local archive, whose table
files then live under that folder (docs/design.md, "Local, embedded mode").
"""

from __future__ import annotations

import os
from collections.abc import Mapping
from pathlib import Path
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    from pyiceberg.catalog import Catalog

GLUE = "glue"
SQLITE = "sqlite:///"
LOCAL_CATALOG_NAME = "local"


def expressions() -> Any:
    """pyiceberg's row filters (its pydantic-built constructors do not type-check as called)."""
    import pyiceberg.expressions

    return pyiceberg.expressions


def open_catalog(uri: str, properties: Mapping[str, str] | None = None) -> Catalog:
    """The catalog named by `uri` (`glue` or `sqlite:///...`); `properties` are pyiceberg's
    (e.g. `glue.endpoint`, `s3.endpoint` in tests)."""
    extra = dict(properties or {})
    if uri == GLUE:
        from pyiceberg.catalog.glue import GlueCatalog

        region = os.environ.get("AWS_REGION") or os.environ.get("AWS_DEFAULT_REGION")
        defaults = {"py-io-impl": "pyiceberg.io.pyarrow.PyArrowFileIO"}
        if region:
            defaults |= {"glue.region": region, "s3.region": region}
        endpoint = os.environ.get("AWS_ENDPOINT_URL")  # a stand-in such as moto, locally
        if endpoint:
            defaults |= {"glue.endpoint": endpoint, "s3.endpoint": endpoint}
        return GlueCatalog(GLUE, **(defaults | extra))
    if uri.startswith(SQLITE):
        from pyiceberg.catalog.sql import SqlCatalog

        Path(uri.removeprefix(SQLITE)).parent.mkdir(parents=True, exist_ok=True)
        return SqlCatalog(
            LOCAL_CATALOG_NAME, uri=uri, warehouse=local_root(uri).rstrip("/"), **extra
        )
    raise ValueError(f"unknown Iceberg catalog {uri!r}: expected 'glue' or 'sqlite:///PATH'")


def home_properties(account: str | None, region: str | None) -> dict[str, str]:
    """pyiceberg's properties for the home's Glue catalog when it is in another account
    (`glue.id`) or region (the catalog's and the bucket's): a collector's, with places."""
    properties = {"glue.id": account} if account else {}
    if region:
        properties |= {"glue.region": region, "s3.region": region}
    return properties


def local_root(uri: str) -> str:
    """The folder of a local catalog's database, as a `file://` URI ending with '/'."""
    return Path(uri.removeprefix(SQLITE)).resolve().parent.as_uri() + "/"


def sqlite_uri(folder: Path) -> str:
    """The local catalog of an archive folder: `<folder>/catalog.db`."""
    return SQLITE + str((folder / "catalog.db").resolve())


def location_root(uri: str, bucket: str, prefix: str) -> str:
    """Where the tables' files go, with the archive prefix: `s3://<bucket>/<prefix>` in AWS,
    `file://<folder>/<prefix>` beside a local catalog."""
    base = f"s3://{bucket}/" if uri == GLUE else local_root(uri)
    return base + prefix
