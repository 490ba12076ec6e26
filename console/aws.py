"""The operator's AWS session (`--profile`, `--region`), its clients, and pyiceberg's Glue catalog
and S3 file IO on that same session's credentials.

Credentials are never copied out of the session: SSO and assumed-role credentials expire (an
hour, often less), and a `backfill` or an `erase` may outlast them. The boto3 clients refresh
them themselves; pyiceberg's Glue catalog is handed such a client, and its S3 file IO
(console/iceberg_io.py) signs with the session's current credentials, which botocore refreshes
before they expire.
"""

from __future__ import annotations

import os
from dataclasses import dataclass
from functools import cached_property
from typing import TYPE_CHECKING, Any

import boto3
from botocore.config import Config
from botocore.credentials import Credentials

from archiver.catalog import GLUE
from console.errors import NO_CREDENTIALS, ConsoleError

if TYPE_CHECKING:
    from pyiceberg.catalog.glue import GlueCatalog

# Each call tried up to 5 times (throttling, 5xx), then its error is reported.
CLIENT_CONFIG = Config(retries={"mode": "standard", "total_max_attempts": 5}, connect_timeout=10)

# pyiceberg's file IO class (its `py-io-impl` property), imported by pyiceberg when a table is
# loaded (console/iceberg_io.py).
REFRESHING_IO = "console.iceberg_io.RefreshingFileIO"
# The property that hands it the session's credentials: botocore's Credentials object itself
# (the refreshing kind for SSO, assumed roles and credential processes), never a copy.
CREDENTIALS = "ivs-archive.credentials"


@dataclass
class Aws:
    region: str | None = None
    profile: str | None = None

    @cached_property
    def session(self) -> boto3.Session:
        return boto3.Session(region_name=self.region, profile_name=self.profile)

    @property
    def region_name(self) -> str:
        name = self.session.region_name
        if not name:
            raise ConsoleError(
                "no AWS region: pass --region or set AWS_REGION (or a region in your profile)"
            )
        return name

    def client(self, service: str, config: Config | None = None, region: str | None = None) -> Any:
        """A client in the session's region, or in `region` (a collector's home, say)."""
        return self.session.client(
            service,
            region_name=region or self.region_name,
            config=CLIENT_CONFIG.merge(config or Config()),
        )

    def resource(self, service: str) -> Any:
        return self.session.resource(service, region_name=self.region_name, config=CLIENT_CONFIG)

    def credentials(self) -> Credentials:
        """The session's credentials, as botocore keeps them (refreshed when they expire)."""
        credentials = self.session.get_credentials()
        if credentials is None:
            raise ConsoleError(NO_CREDENTIALS)
        return credentials

    def catalog_properties(self) -> dict[str, Any]:
        """pyiceberg's properties: the session's region, a stand-in's endpoint (as
        archiver.catalog reads it), and the file IO on the session's live credentials."""
        region = self.region_name
        properties: dict[str, Any] = {
            "glue.region": region,
            "s3.region": region,
            "py-io-impl": REFRESHING_IO,
            CREDENTIALS: self.credentials(),
        }
        endpoint = os.environ.get("AWS_ENDPOINT_URL_S3") or os.environ.get("AWS_ENDPOINT_URL")
        if endpoint:
            properties["s3.endpoint"] = endpoint
        return properties

    def glue_catalog(self) -> GlueCatalog:
        """pyiceberg's Glue catalog of the account and region, through this session's client."""
        from pyiceberg.catalog.glue import GlueCatalog

        return GlueCatalog(GLUE, client=self.client("glue"), **self.catalog_properties())
