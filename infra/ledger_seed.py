"""A new collector's ledger learns from the tables which sessions of its place are already
archived (archiver.ledger_seed), before discovery first runs: a collector deployed again over a
retained archive fetches nothing twice. The seed runs as the archive function's role, which may
already read the tables and write the ledger, with the archive function's settings."""

from __future__ import annotations

from aws_cdk import Aws, CustomResource
from constructs import Construct

from archiver.settings import Settings
from infra.archiver import Archiver
from infra.custom_resources import CustomResourceFunction
from infra.storage import ArchiveStore


class LedgerSeed(Construct):
    def __init__(
        self,
        scope: Construct,
        construct_id: str,
        *,
        settings: Settings,
        archiver: Archiver,
        storage: ArchiveStore,
    ) -> None:
        super().__init__(scope, construct_id)
        self.functions = CustomResourceFunction(
            self,
            "Seed",
            settings=settings,
            description="Marks the sessions the tables already hold in a new ledger",
            role=archiver.archive.role,
            environment=archiver.environment(storage),
        )
        self.resource: CustomResource = self.functions.resource(
            self, "Ledger", "LedgerSeed", {"Account": Aws.ACCOUNT_ID}
        )
