"""The operator's AWS session (`--profile`, `--region`), its clients, and its credentials for the
libraries that do not take a boto3 session (pyiceberg's Glue catalog and S3 file IO)."""

from __future__ import annotations

from dataclasses import dataclass
from functools import cached_property
from typing import Any

import boto3
from botocore.config import Config

from archiver.catalog import GLUE, open_catalog
from console.errors import NO_CREDENTIALS, ConsoleError

# Each call tried up to 5 times (throttling, 5xx), then its error is reported.
CLIENT_CONFIG = Config(retries={"mode": "standard", "total_max_attempts": 5}, connect_timeout=10)


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

    def catalog_properties(self) -> dict[str, str]:
        """The session's region and (resolved, so SSO and assumed roles work) credentials, as
        pyiceberg's Glue catalog and S3 file IO take them."""
        credentials = self.session.get_credentials()
        if credentials is None:
            raise ConsoleError(NO_CREDENTIALS)
        frozen = credentials.get_frozen_credentials()
        properties = {"glue.region": self.region_name, "s3.region": self.region_name}
        for service in ("glue", "s3"):
            properties[f"{service}.access-key-id"] = frozen.access_key
            properties[f"{service}.secret-access-key"] = frozen.secret_key
            if frozen.token:
                properties[f"{service}.session-token"] = frozen.token
        return properties

    def glue_catalog(self) -> Any:
        """pyiceberg's Glue catalog of the account and region."""
        return open_catalog(GLUE, self.catalog_properties())
