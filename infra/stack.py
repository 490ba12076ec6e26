"""The single stack of a deployment without places: the home (storage, catalog, query tables,
Athena; infra/home.py) and one collector (discovery, queues, ledger, archive workers, alarms;
infra/collector.py) in the CDK's account and region, as every deployment was before places."""

from __future__ import annotations

from typing import Any

from aws_cdk import CfnOutput, Stack
from constructs import Construct

from archiver.settings import Settings
from infra.collector import build_collector
from infra.home import build_home
from infra.nag import acknowledge_stack
from infra.operators import (
    COLLECTOR,
    HOME,
    OperatorPolicies,
    for_collector,
    for_home,
    home_keys,
    single_targets,
)


class IvsStageArchiveStack(Stack):
    def __init__(
        self,
        scope: Construct,
        construct_id: str,
        *,
        settings: Settings | None = None,
        **kwargs: Any,
    ) -> None:
        super().__init__(
            scope,
            construct_id,
            description="IVS Stage Archive: IVS Real-Time participant events to S3, Glue, Athena",
            **kwargs,
        )
        # Settings that could never work (a chunk that cannot fit in an invocation at a worker's
        # rate, say) are refused here, at synth, rather than time out once deployed.
        self.settings = settings or Settings.from_context(self.node.get_all_context())
        # The most participants per chunk at a worker's rate (the archiver lowers chunkSize to it).
        self.chunk_limit = self.settings.chunk_limit
        home = build_home(self, self.settings)
        self.storage, self.catalog, self.tables, self.queries = (
            home.storage,
            home.catalog,
            home.tables,
            home.queries,
        )
        collector = build_collector(
            self, self.settings, store=home.storage, grant_commit=home.tables.grant_commit
        )
        self.archiver, self.monitoring = collector.archiver, collector.monitoring
        # The console's read-only and operator policies (infra/operators.py).
        storage = home.storage
        targets = single_targets(
            for_home(self, self.settings, storage, home.queries.workgroup.ref),
            for_collector(
                self,
                self.archiver,
                storage.bucket.bucket_name,
                storage.prefix,
                home_keys(self.settings, storage.key),
            ),
        )
        self.operators = OperatorPolicies(
            self,
            "Operators",
            settings=self.settings,
            targets=targets,
            kinds=(HOME, COLLECTOR),
            part=self.region,
        )
        # What the operator's console (`ivs-archive`, console/deployment.py) finds the stack by.
        outputs = home.outputs(self.settings) | collector.outputs() | self.operators.outputs()
        for name, value in outputs.items():
            CfnOutput(self, name, value=value)
        created = [self.storage.results_bucket]
        if self.storage.created_bucket:
            created.append(self.storage.created_bucket)
        acknowledge_stack(created, [self.archiver.discover, self.archiver.archive])
