"""Where the archive and the Athena query results live."""

from __future__ import annotations

from typing import Protocol

from aws_cdk import Duration, RemovalPolicy
from aws_cdk import aws_iam as iam
from aws_cdk import aws_kms as kms
from aws_cdk import aws_s3 as s3
from constructs import Construct

from archiver.settings import Settings
from archiver.writer import LANDING_TAG

RESULTS_PREFIX = "athena-results/"
RESULTS_EXPIRATION_DAYS = 30
NONCURRENT_VERSION_DAYS = 30


class ArchiveStore(Protocol):
    """The archive bucket as the functions see it: the home's own (Storage), or, from a
    collector's stack, the home's by name (infra/collector.py)."""

    @property
    def bucket(self) -> s3.IBucket: ...

    @property
    def prefix(self) -> str: ...

    def grant_key(self, grantee: iam.IGrantable, *actions: str) -> None:
        """`actions` on the bucket's KMS key, if it has one."""


class Storage(Construct):
    """The archive bucket (created, or an existing one by name) and an Athena results bucket.

    Both are retained on `cdk destroy`: the archive is the point of the stack. With places the
    created bucket and its key get the names the collectors find them by (`bucket_name`,
    `key_alias`, from infra/places.py).
    """

    def __init__(
        self,
        scope: Construct,
        construct_id: str,
        *,
        settings: Settings,
        bucket_name: str | None = None,
        key_alias: str | None = None,
    ) -> None:
        super().__init__(scope, construct_id)
        self._prefix = settings.prefix
        self.key: kms.Key | None = None
        if settings.encryption == "KMS":
            self.key = kms.Key(
                self,
                "Key",
                description="IVS Stage Archive: archive bucket and Athena query results",
                enable_key_rotation=True,
                removal_policy=RemovalPolicy.RETAIN,
                alias=key_alias,
            )
        # An existing bucket's own key (SSE-KMS), which the roles need to read and write it.
        self.bucket_key: kms.IKey | None = None
        if settings.bucket_kms_key_arn:
            self.bucket_key = kms.Key.from_key_arn(self, "BucketKey", settings.bucket_kms_key_arn)
        self.created_bucket: s3.Bucket | None = None
        if settings.bucket_name:
            self.bucket: s3.IBucket = s3.Bucket.from_bucket_name(
                self, "ArchiveBucket", settings.bucket_name
            )
        else:
            self.created_bucket = self._bucket(
                "ArchiveBucket",
                versioned=True,
                lifecycle_rules=self._archive_rules(settings),
                bucket_name=bucket_name,
            )
            self.bucket = self.created_bucket
        self.results_bucket = self._bucket(
            "ResultsBucket",
            versioned=False,
            lifecycle_rules=[
                s3.LifecycleRule(
                    id="expire-query-results",
                    prefix=RESULTS_PREFIX,
                    expiration=Duration.days(RESULTS_EXPIRATION_DAYS),
                    abort_incomplete_multipart_upload_after=Duration.days(1),
                )
            ],
        )

    @property
    def prefix(self) -> str:
        return self._prefix

    @property
    def results_location(self) -> str:
        return f"s3://{self.results_bucket.bucket_name}/{RESULTS_PREFIX}"

    def grant_key(self, grantee: iam.IGrantable, *actions: str) -> None:
        """`actions` on the keys the archive bucket's objects may be encrypted with: the
        stack's (encryption KMS) and an existing bucket's own (bucketKmsKeyArn)."""
        for key in (self.key, self.bucket_key):
            if key:
                key.grant(grantee, *actions)

    def _bucket(
        self,
        construct_id: str,
        *,
        versioned: bool,
        lifecycle_rules: list[s3.LifecycleRule],
        bucket_name: str | None = None,
    ) -> s3.Bucket:
        return s3.Bucket(
            self,
            construct_id,
            bucket_name=bucket_name,
            encryption=s3.BucketEncryption.KMS if self.key else s3.BucketEncryption.S3_MANAGED,
            encryption_key=self.key,
            bucket_key_enabled=bool(self.key),
            block_public_access=s3.BlockPublicAccess.BLOCK_ALL,
            object_ownership=s3.ObjectOwnership.BUCKET_OWNER_ENFORCED,
            enforce_ssl=True,
            minimum_tls_version=1.2,
            versioned=versioned,
            lifecycle_rules=lifecycle_rules,
            removal_policy=RemovalPolicy.RETAIN,
        )

    @staticmethod
    def _archive_rules(settings: Settings) -> list[s3.LifecycleRule]:
        # Retries overwrite objects with identical content: old versions are only a safety net.
        rules = [
            s3.LifecycleRule(
                id="noncurrent-versions",
                noncurrent_version_expiration=Duration.days(NONCURRENT_VERSION_DAYS),
                abort_incomplete_multipart_upload_after=Duration.days(7),
            )
        ]
        if settings.landing_retention_days > 0:
            # Only objects the archiver tagged when it wrote them: landing objects an earlier
            # version wrote (untagged) may be the only copy until they are committed.
            rules.append(
                s3.LifecycleRule(
                    id="expire-landing",
                    prefix=settings.prefix or None,
                    tag_filters=dict([LANDING_TAG]),
                    expiration=Duration.days(settings.landing_retention_days),
                )
            )
        if settings.data_lifecycle_days > 0:
            # Intelligent-Tiering, not Glacier: Athena reads every tier it reaches without a
            # restore or a per-GB retrieval fee.
            rules.append(
                s3.LifecycleRule(
                    id="colder-storage",
                    prefix=settings.prefix or None,
                    transitions=[
                        s3.Transition(
                            storage_class=s3.StorageClass.INTELLIGENT_TIERING,
                            transition_after=Duration.days(settings.data_lifecycle_days),
                        )
                    ],
                )
            )
        return rules
