"""The function behind the home's custom resources (`archiver.handlers.custom_resources`: the
Glue database, the tables, the optimizers' log groups, the catalog policy), and the resources
themselves, each with a service timeout.

Why a custom resource rather than CloudFormation's own Glue resources: a stack deployed again
over a retained archive must adopt the database and tables it finds (CloudFormation's fail with
"already exists"), the Iceberg tables must evolve with schema.py without rewriting data
(appended columns, checked against the table's own schema), and their creation must refuse a
bucket or prefix that moved. `AWS::Glue::Table`'s `IcebergInput` takes a schema and a partition
spec today, but none of those three.
"""

from __future__ import annotations

from aws_cdk import CustomResource, Duration, RemovalPolicy
from aws_cdk import aws_iam as iam
from aws_cdk import aws_lambda as lambda_
from aws_cdk import aws_logs as logs
from constructs import Construct

from archiver.settings import Settings
from infra.archiver import RETENTION
from infra.bundling import lambda_code
from infra.nag import acknowledge

HANDLER = "archiver.handlers.custom_resources.handler"
FUNCTION_TIMEOUT = Duration.minutes(5)
# CloudFormation gives up on an answer after this (an import error, an out-of-memory): the
# function's own timeout, plus the time to start it and to answer.
SERVICE_TIMEOUT = Duration.minutes(7)


class CustomResourceFunction(Construct):
    """One function, its own role and log group; `resource` makes a custom resource of it."""

    def __init__(
        self,
        scope: Construct,
        construct_id: str,
        *,
        settings: Settings,
        description: str,
        role: iam.IRole | None = None,
        environment: dict[str, str] | None = None,
    ) -> None:
        super().__init__(scope, construct_id)
        log_group = logs.LogGroup(
            self,
            "Logs",
            retention=RETENTION[settings.log_retention_days],
            removal_policy=RemovalPolicy.DESTROY,
        )
        self.role: iam.IRole = role or iam.Role(
            self,
            "Role",
            assumed_by=iam.ServicePrincipal("lambda.amazonaws.com"),
            description=f"IVS Stage Archive: {description}",
        )
        log_group.grant_write(self.role)
        self.function = lambda_.Function(
            self,
            "Function",
            code=lambda_code(),
            handler=HANDLER,
            runtime=lambda_.Runtime.PYTHON_3_13,
            architecture=lambda_.Architecture.ARM_64,
            role=self.role,
            log_group=log_group,
            timeout=FUNCTION_TIMEOUT,
            memory_size=512,
            environment=environment,
            description=description,
        )
        acknowledge(
            self.function,
            "AwsSolutions-L1",
            "Python 3.13 is pinned: the bundled wheels (pyarrow, pydantic-core) are built for "
            "cp313 and the package is tested on it.",
        )

    def resource(
        self, scope: Construct, construct_id: str, kind: str, properties: dict[str, object]
    ) -> CustomResource:
        """A `Custom::<kind>` resource of this function (archiver.handlers.custom_resources)."""
        return CustomResource(
            scope,
            construct_id,
            service_token=self.function.function_arn,
            resource_type=f"Custom::{kind}",
            properties=properties,
            service_timeout=SERVICE_TIMEOUT,
        )

    def add_to_policy(self, actions: list[str], resources: list[str]) -> None:
        self.role.add_to_principal_policy(iam.PolicyStatement(actions=actions, resources=resources))
