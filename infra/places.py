"""One home, a collector per place (account, region): what each side needs to know of the other.

A collector finds the home by name alone, with no reference between stacks (they may be in other
regions and accounts): the bucket, the key alias, the Glue database and the collectors' role
names all follow from the settings (`name`, `homeAccount`, `homeRegion`). The home lets exactly
the collector roles of the accounts it is told (`collectorAccounts`, or every account of
`organizationId`) write into it; in its own account, the collectors' IAM policies suffice.
"""

from __future__ import annotations

from dataclasses import dataclass

from aws_cdk import Aws
from aws_cdk import aws_iam as iam
from aws_cdk import aws_s3 as s3

from archiver.collector_report import FOLDER as REPORT_FOLDER
from archiver.schema import TABLES
from archiver.settings import Settings
from infra.tables import ICEBERG_FOLDER

# Every landing object of a place sits under `<prefix><table>/dt=<day>/<account>/<region>/`
# (archiver.writer.SessionKeys), so a collector can be let write its own account's only.
PLACE_FOLDERS = "dt=*/{account}/*"

# IAM role names are at most 64 characters: `<name>-collector-<region>-discover`.
ROLE_NAME_MAX = 64


class PlacesError(ValueError):
    """Settings that name no deployable home or collector; the message names the keys."""


@dataclass(frozen=True)
class Home:
    """The home of a deployment with places, as any stack of it names it. `account` is a
    12-digit id, or the AWS::AccountId token within a stack of the home's own account."""

    settings: Settings
    account: str
    region: str

    @classmethod
    def of(cls, settings: Settings, account: str | None = None) -> Home:
        """The home of `settings`: in `homeAccount`, or this account (the token `account`
        stands for, default the stack's own); in `homeRegion`, or the first of `regions`."""
        if not settings.regions:
            raise PlacesError("a home and its collectors need 'regions'")
        region = settings.home_region or settings.regions[0]
        home = cls(settings, settings.home_account or account or Aws.ACCOUNT_ID, region)
        for region in settings.regions:
            longest = home.collector_role_name(region, "discover")
            if len(longest) > ROLE_NAME_MAX:
                raise PlacesError(
                    f"'name' ({settings.name!r}) is too long for the collectors' role names "
                    f"({longest!r} passes {ROLE_NAME_MAX} characters)"
                )
        return home

    @property
    def bucket_name(self) -> str:
        """`bucketName`, or `<name>-<account>-<region>`: the same wherever it is named."""
        return self.settings.bucket_name or f"{self.settings.name}-{self.account}-{self.region}"

    @property
    def key_alias(self) -> str:
        """The alias of the archive's KMS key (encryption KMS)."""
        return f"alias/{self.settings.name}-archive"

    def collector_role_name(self, region: str, function: str = "") -> str:
        """The archive function's role of the collector in `region` (any account), or its
        `function`'s (`discover`): `<name>-collector-<region>[-<function>]`."""
        suffix = f"-{function}" if function else ""
        return f"{self.settings.name}-collector-{region}{suffix}"

    def arn(self, service: str, resource: str) -> str:
        return f"arn:{Aws.PARTITION}:{service}:{self.region}:{self.account}:{resource}"

    def catalog_arns(self) -> list[str]:
        """The Glue catalog, the database and its three query tables."""
        database = self.settings.database_name
        return [
            self.arn("glue", "catalog"),
            self.arn("glue", f"database/{database}"),
            *(self.arn("glue", f"table/{database}/{name}") for name in TABLES),
        ]

    def key_arns(self) -> list[str]:
        """Any key of the home's account and region: a grant on them holds only for the key
        under the archive's alias (`kms:ResourceAliases`)."""
        return [self.arn("kms", "key/*")]

    def key_condition(self) -> dict[str, dict[str, list[str]]]:
        return {"ForAnyValue:StringEquals": {"kms:ResourceAliases": [self.key_alias]}}

    @property
    def trusts_others(self) -> bool:
        return bool(self.settings.collector_accounts or self.settings.organization_id)


@dataclass(frozen=True)
class Trusted:
    """Whom a resource policy of the home names: one account's collector roles, or (with an
    organization) any account's of that organization."""

    principal: iam.IPrincipal
    account: str  # the account, or the policy variable of the caller's account
    conditions: dict[str, dict[str, str]]


def trusted(home: Home) -> list[Trusted]:
    """The collector roles of other accounts that the home lets in, and nothing wider."""
    settings = home.settings
    roles = home.collector_role_name("*")
    if settings.organization_id:
        return [
            Trusted(
                iam.AnyPrincipal(),
                "${aws:PrincipalAccount}",
                {
                    "StringEquals": {"aws:PrincipalOrgID": settings.organization_id},
                    "ArnLike": {"aws:PrincipalArn": f"arn:{Aws.PARTITION}:iam::*:role/{roles}"},
                },
            )
        ]
    return [
        Trusted(
            iam.AccountPrincipal(account),
            account,
            {"ArnLike": {"aws:PrincipalArn": f"arn:{Aws.PARTITION}:iam::{account}:role/{roles}"}},
        )
        for account in settings.collector_accounts
    ]


def landing_objects(bucket: s3.IBucket, prefix: str, account: str) -> list[str]:
    """The landing objects of one account's places, in every table's folder."""
    folders = PLACE_FOLDERS.format(account=account)
    return [bucket.arn_for_objects(f"{prefix}{name}/{folders}") for name in TABLES]


def report_objects(bucket: s3.IBucket, prefix: str, account: str) -> str:
    """The reports of one account's collectors (archiver.collector_report)."""
    return bucket.arn_for_objects(f"{prefix}{REPORT_FOLDER}/{account}/*")


def iceberg_objects(bucket: s3.IBucket, prefix: str) -> list[str]:
    return [bucket.arn_for_objects(f"{prefix}{ICEBERG_FOLDER}*")]


def stack_name(settings: Settings, part: str) -> str:
    """`<stack>-home`, `<stack>-<region>`: the stacks of a deployment with places."""
    return f"{settings.stack_name}-{part}"
