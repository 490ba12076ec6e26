"""A collector: discovery, the work queue and its dead-letter queue, the ledger and the archive
workers of one place (account, region), at that place's own IVS quota, with its alarms and
dashboard. In a deployment with places it is a stack per region (`<stack>-<region>`) that
archives into the home by name (infra/places.py); in one without, the single stack holds it
beside the home (infra/stack.py).
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

from aws_cdk import CfnOutput, Stack
from aws_cdk import aws_events as events
from aws_cdk import aws_iam as iam
from aws_cdk import aws_lambda as lambda_
from aws_cdk import aws_s3 as s3
from constructs import Construct

from archiver.settings import Settings
from infra.archiver import Archiver
from infra.ledger_seed import LedgerSeed
from infra.monitoring import Monitoring
from infra.nag import acknowledge_stack
from infra.operators import COLLECTOR, OperatorPolicies, for_collector, home_keys_by_alias
from infra.places import Home, landing_objects
from infra.storage import ArchiveStore
from infra.tables import grant_commit


@dataclass
class CollectorParts:
    archiver: Archiver
    monitoring: Monitoring

    def outputs(self) -> dict[str, str]:
        """What the console finds the collector by."""
        archiver = self.archiver
        return {
            "LedgerTableName": archiver.ledger.table_name,
            "WorkQueueUrl": archiver.queue.queue_url,
            "DeadLetterQueueUrl": archiver.dead_letter_queue.queue_url,
            "DiscoverFunctionName": archiver.discover.function_name,
            "ArchiveFunctionName": archiver.archive.function_name,
            "AlarmTopicArn": self.monitoring.topic.topic_arn,
            "DashboardName": self.monitoring.dashboard.dashboard_name,
        }


def build_collector(
    stack: Stack,
    settings: Settings,
    *,
    store: ArchiveStore,
    grant_commit: Callable[[iam.IRole], list[Construct]],
    home: Home | None = None,
) -> CollectorParts:
    """The collector's constructs in `stack`, archiving into `store`; `grant_commit` lets its
    archive function commit into the query tables. With places: its own account's landing
    objects only, under a role name the home trusts."""
    archiver = Archiver(
        stack,
        "Archiver",
        settings=settings,
        storage=store,
        landing_objects=(
            landing_objects(store.bucket, store.prefix, stack.account) if home else None
        ),
        role_names=(
            {
                "Archive": home.collector_role_name(stack.region),
                "Discover": home.collector_role_name(stack.region, "discover"),
            }
            if home
            else None
        ),
    )
    role = archiver.archive.role
    if role is None:
        raise ValueError("the archive function has no role")
    # Nothing starts before the tables it commits into (and its grants on them) exist, and
    # before its ledger knows what they hold.
    seed = LedgerSeed(stack, "LedgerSeed", settings=settings, archiver=archiver, storage=store)
    seed.resource.node.add_dependency(*grant_commit(role))
    start_after(archiver, seed.resource)
    dashboard = f"{settings.name}-{stack.region}" if home else settings.name
    monitoring = Monitoring(
        stack, "Monitoring", settings=settings, archiver=archiver, dashboard_name=dashboard
    )
    return CollectorParts(archiver, monitoring)


def start_after(archiver: Archiver, *constructs: Construct) -> None:
    """The archive function's event source and discovery's rules wait for `constructs`."""
    for child in archiver.node.find_all():
        if isinstance(child, lambda_.CfnEventSourceMapping | events.CfnRule):
            child.node.add_dependency(*constructs)


class HomeStore:
    """The home's bucket and key as a collector's stack names them (no reference between
    stacks: they may be in other regions and accounts)."""

    def __init__(self, scope: Construct, home: Home) -> None:
        self.home = home
        self.bucket = s3.Bucket.from_bucket_attributes(
            scope,
            "HomeBucket",
            bucket_name=home.bucket_name,
            account=home.account,
            region=home.region,
        )
        self.prefix = home.settings.prefix

    def grant_key(self, grantee: iam.IGrantable, *actions: str) -> None:
        bucket_key = self.home.settings.bucket_kms_key_arn
        if bucket_key:  # an existing bucket's own key
            grantee.grant_principal.add_to_principal_policy(
                iam.PolicyStatement(actions=list(actions), resources=[bucket_key])
            )
        if self.home.settings.encryption != "KMS":
            return
        grantee.grant_principal.add_to_principal_policy(
            iam.PolicyStatement(
                actions=list(actions),
                resources=self.home.key_arns(),
                conditions=self.home.key_condition(),
            )
        )


class CollectorStack(Stack):
    """The collector of one place of a deployment with places; its functions commit into the
    home's tables (`HOME_ACCOUNT`, `HOME_REGION`)."""

    def __init__(
        self,
        scope: Construct,
        construct_id: str,
        *,
        settings: Settings,
        home_account: str | None = None,
        **kwargs: Any,
    ) -> None:
        super().__init__(
            scope,
            construct_id,
            description="IVS Stage Archive collector: one region's IVS stage sessions, archived "
            "into the home",
            **kwargs,
        )
        self.home = Home.of(settings, home_account or self.account)
        # The functions find the home by these (the home's region may not be theirs).
        self.settings = settings.model_copy(
            update={"home_region": self.home.region, "bucket_name": self.home.bucket_name}
        )
        store = HomeStore(self, self.home)

        def commit_into_home(role: iam.IRole) -> list[Construct]:
            grant_commit(role, store, self.home.catalog_arns())
            return []  # the home's stack is deployed first

        self.parts = build_collector(
            self,
            self.settings,
            store=store,
            grant_commit=commit_into_home,
            home=self.home,
        )
        outputs = self.parts.outputs() | {
            "ArchiveBucketName": self.home.bucket_name,
            "TablesLocation": f"s3://{self.home.bucket_name}/{settings.prefix}",
            "HomeRegion": self.home.region,
            "HomeAccount": self.home.account,
            "DatabaseName": settings.database_name,
        }
        targets = for_collector(
            self,
            self.parts.archiver,
            store.bucket.bucket_name,
            store.prefix,
            home_keys_by_alias(self.home),
        )
        self.operators = OperatorPolicies(
            self,
            "Operators",
            settings=settings,
            targets=targets,
            kinds=(COLLECTOR,),
            part=f"collector-{self.region}",
        )
        outputs |= self.operators.outputs()
        for name, value in outputs.items():
            CfnOutput(self, name, value=value)
        acknowledge_stack([], [self.parts.archiver.discover, self.parts.archiver.archive])
