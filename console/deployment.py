"""A deployed stack, as the console finds it: every resource is named by one of the stack's
CloudFormation outputs (infra/stack.py), never guessed from a naming pattern."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any
from urllib.parse import urlparse

from botocore.exceptions import ClientError

from console.aws import Aws
from console.errors import ConsoleError

DEFAULT_STACK = "IvsStageArchive"  # the stack of the default `name` (README, Deploy)

BUCKET = "ArchiveBucketName"
TABLES_LOCATION = "TablesLocation"
RESULTS_BUCKET = "ResultsBucketName"
DATABASE = "DatabaseName"
WORKGROUP = "WorkGroupName"
LEDGER = "LedgerTableName"
WORK_QUEUE = "WorkQueueUrl"
DEAD_LETTER_QUEUE = "DeadLetterQueueUrl"
DISCOVER_FUNCTION = "DiscoverFunctionName"
ARCHIVE_FUNCTION = "ArchiveFunctionName"
REGIONS = "Regions"  # only the home of a deployment with regions has it (and no ledger)
HOME_REGION = "HomeRegion"  # only a collector of a deployment with regions has it
# Every output some command reads (the stack has others, for people).
OUTPUTS = (
    BUCKET,
    TABLES_LOCATION,
    RESULTS_BUCKET,
    DATABASE,
    WORKGROUP,
    LEDGER,
    WORK_QUEUE,
    DEAD_LETTER_QUEUE,
    DISCOVER_FUNCTION,
    ARCHIVE_FUNCTION,
)


@dataclass(frozen=True)
class Deployment:
    aws: Aws
    stack: str
    outputs: dict[str, str]

    def missing(self, *names: str) -> list[str]:
        return [name for name in names if not self.outputs.get(name)]

    @property
    def is_collector(self) -> bool:
        """A collector of a deployment with regions: the home is a stack of its own."""
        return bool(self.outputs.get(HOME_REGION))

    @property
    def expected_outputs(self) -> tuple[str, ...]:
        """The outputs a stack of this kind has: the home's, a collector's, or all."""
        if self.is_home:
            return (BUCKET, TABLES_LOCATION, RESULTS_BUCKET, DATABASE, WORKGROUP)
        if self.is_collector:
            return (BUCKET, TABLES_LOCATION, DATABASE, LEDGER, WORK_QUEUE, DEAD_LETTER_QUEUE)
        return OUTPUTS

    @property
    def is_home(self) -> bool:
        """The home of a deployment with regions: its collectors are stacks of their own."""
        return bool(self.outputs.get(REGIONS)) and not self.outputs.get(LEDGER)

    def require(self, *names: str) -> None:
        """One error naming every output a command needs that the stack lacks."""
        missing = self.missing(*names)
        if missing and self.is_home:
            regions = self.outputs[REGIONS].split(",")
            base = self.stack.removesuffix("-home")
            raise ConsoleError(
                f"stack {self.stack} is the home of collectors in {', '.join(regions)}: this "
                f"command works on a collector (--stack {base}-{regions[0]} --region "
                f"{regions[0]}, say)"
            )
        if missing:
            plural = "s" if len(missing) > 1 else ""
            raise ConsoleError(
                f"stack {self.stack} has no output{plural} {', '.join(missing)} "
                "(deployed by an older version? deploy this one)"
            )

    def __getitem__(self, name: str) -> str:
        self.require(name)
        return self.outputs[name]

    @property
    def prefix(self) -> str:
        """The archive's key prefix in its bucket, from `s3://<bucket>/<prefix>`."""
        location = urlparse(self[TABLES_LOCATION])
        return location.path.lstrip("/")

    def client(self, service: str) -> Any:
        return self.aws.client(service)


def find(aws: Aws, stack: str) -> Deployment:
    """The stack's outputs; one-line errors for no credentials, no such stack, AWS errors."""
    cloudformation = aws.client("cloudformation")
    try:
        stacks = cloudformation.describe_stacks(StackName=stack)["Stacks"]
    except ClientError as error:
        message = str(error.response.get("Error", {}).get("Message", ""))
        if error.response.get("Error", {}).get("Code") == "ValidationError" and (
            "does not exist" in message
        ):
            raise ConsoleError(
                f"no stack named {stack} in {aws.region_name} "
                "(a deployment with another `name` context? pass --stack; another region? --region)"
            ) from None
        raise
    if not stacks:
        raise ConsoleError(f"no stack named {stack} in {aws.region_name}")
    outputs = {o["OutputKey"]: o.get("OutputValue", "") for o in stacks[0].get("Outputs", [])}
    return Deployment(aws, stack, outputs)
