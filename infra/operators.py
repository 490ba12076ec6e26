"""Two IAM managed policies per stack for the people who run `ivs-archive`: **read-only**
(`status`, `sessions`, `timeline`, and `smoke` but for its DryRun invocations) and **operator**
(all of that, plus `archive`, `backfill`, `redrive`, `erase`, `migrate`), each least privilege
for exactly the AWS calls those commands make, on this stack's own resources only.

`COMMANDS` is the one definition: the policies are made from it, docs/permissions.md is
generated from it (`python -m infra.operators`), and tests/e2e/console/test_permissions.py runs
every command against moto, records each call as IAM authorizes it, and checks it against that
command's statements. Calls that Athena makes with the caller's credentials while it runs a
query (`ATHENA_READS`) cannot be recorded locally: they are those of the Athena user guide
("Identity and access management in Athena", "Access to Amazon S3").

With places, each stack's policies cover its own part: the home's the tables, Athena and the
bucket (`timeline`, `erase`, `migrate`, `smoke` and `status` on the home); a collector's its
ledger, queues and functions and the home's objects it already reads (the collectors' reports),
for `status`, `sessions`, `smoke`, `archive`, `backfill` and `redrive` on that collector.
"""

from __future__ import annotations

import json
import re
import sys
from collections.abc import Iterable, Mapping
from dataclasses import dataclass
from enum import StrEnum
from pathlib import Path
from typing import Any

from aws_cdk import Stack
from aws_cdk import aws_iam as iam
from aws_cdk import aws_kms as kms
from constructs import Construct

from archiver.collector_report import FOLDER as REPORTS_FOLDER
from archiver.schema import TABLES
from archiver.settings import Settings
from infra.archiver import Archiver
from infra.nag import acknowledge, nag_text
from infra.places import Home
from infra.storage import RESULTS_PREFIX, Storage
from infra.tables import ICEBERG_FOLDER

READ_ONLY = "read-only"
OPERATOR = "operator"
POLICIES = (READ_ONLY, OPERATOR)
# The stack outputs that name the two policies.
OUTPUTS = {READ_ONLY: "ReadOnlyPolicyArn", OPERATOR: "OperatorPolicyArn"}
HOME, COLLECTOR = "home", "collector"


class Target(StrEnum):
    """What a command's calls name, as each stack has it (`targets`)."""

    STACK = "the stack itself"
    LEDGER = "the ledger table"
    WORK_QUEUE = "the work queue"
    DEAD_LETTER_QUEUE = "the dead-letter queue"
    DISCOVER_FUNCTION = "the discover function"
    ARCHIVE_FUNCTION = "the archive function"
    ALL_STAGES = "`*` (ListStages names no stage)"
    STAGES = "the stages archived (stageAllowList, or every stage of the account and region)"
    ARCHIVE_BUCKET = "the archive bucket"
    REPORTS = "the collectors' reports (`<prefix>collectors/*`)"
    LANDING = "the landing objects (`<prefix><table>/*` of the three tables)"
    TABLE_FILES = "the query tables' files (`<prefix>iceberg/*`)"
    RESULTS_BUCKET = "the Athena results bucket"
    RESULTS = "the query results (`athena-results/*`)"
    WORKGROUP = "the Athena workgroup"
    DATABASE = "the Glue catalog and database"
    TABLES = "the Glue catalog, database and three query tables"
    KEY = "the archive's KMS key (encryption KMS, or bucketKmsKeyArn)"


@dataclass(frozen=True)
class Need:
    """`actions` on `target`; `policy`: the least policy that grants them."""

    target: Target
    actions: tuple[str, ...]
    policy: str = READ_ONLY


@dataclass(frozen=True)
class Command:
    stacks: frozenset[str]  # which stacks of a deployment with places it runs on
    needs: tuple[Need, ...]
    athena: bool = False  # runs Athena queries: ATHENA_READS too

    @property
    def policy(self) -> str:
        """The least policy that lets it run whole."""
        return OPERATOR if any(n.policy == OPERATOR for n in self.needs) else READ_ONLY

    def all_needs(self) -> tuple[Need, ...]:
        """Its own calls' needs, and what Athena reads for it."""
        return self.needs + (ATHENA_READS if self.athena else ())


def _needs(policy: str, *needs: tuple[Target, tuple[str, ...]]) -> tuple[Need, ...]:
    return tuple(Need(target, actions, policy) for target, actions in needs)


BOTH = frozenset({HOME, COLLECTOR})
# console.deployment.find: every command first reads the stack's outputs.
FIND = (Target.STACK, ("cloudformation:DescribeStacks",))
KMS_READ = ("kms:Decrypt",)
KMS_WRITE = ("kms:Decrypt", "kms:GenerateDataKey")
# What Athena itself reads and writes with the caller's credentials while it runs a query in the
# workgroup: the tables in Glue and their files, the results (SSE-KMS with the stack's key).
ATHENA_READS = _needs(
    READ_ONLY,
    (Target.TABLES, ("glue:GetDatabase", "glue:GetTable", "glue:GetPartitions")),
    (Target.ARCHIVE_BUCKET, ("s3:ListBucket",)),
    (Target.TABLE_FILES, ("s3:GetObject",)),
    (
        Target.RESULTS_BUCKET,
        ("s3:GetBucketLocation", "s3:ListBucket", "s3:ListBucketMultipartUploads"),
    ),
    (
        Target.RESULTS,
        (
            "s3:GetObject",
            "s3:PutObject",
            "s3:AbortMultipartUpload",
            "s3:ListMultipartUploadParts",
        ),
    ),
    (Target.KEY, KMS_WRITE),
)
ATHENA_QUERY = ("athena:StartQueryExecution", "athena:GetQueryExecution", "athena:GetQueryResults")

COMMANDS: dict[str, Command] = {
    # Its ledger and queues (a collector), and every collector's report in the home's bucket.
    "status": Command(
        BOTH,
        _needs(
            READ_ONLY,
            FIND,
            (Target.LEDGER, ("dynamodb:Scan", "dynamodb:GetItem")),
            (Target.WORK_QUEUE, ("sqs:GetQueueAttributes",)),
            # Each dead letter read (not hidden, not moved) to say why it is there.
            (Target.DEAD_LETTER_QUEUE, ("sqs:GetQueueAttributes", "sqs:ReceiveMessage")),
            (Target.ARCHIVE_BUCKET, ("s3:ListBucket",)),
            (Target.REPORTS, ("s3:GetObject",)),
            (Target.KEY, KMS_READ),
        ),
    ),
    "sessions": Command(
        frozenset({COLLECTOR}),
        _needs(READ_ONLY, FIND, (Target.LEDGER, ("dynamodb:Scan", "dynamodb:Query"))),
    ),
    "timeline": Command(
        frozenset({HOME}), _needs(READ_ONLY, FIND, (Target.WORKGROUP, ATHENA_QUERY)), athena=True
    ),
    # Each resource answering; the DryRun invocations need the right to invoke (operator).
    "smoke": Command(
        BOTH,
        _needs(
            READ_ONLY,
            FIND,
            (Target.ARCHIVE_BUCKET, ("s3:ListBucket",)),
            (Target.RESULTS_BUCKET, ("s3:ListBucket",)),
            (Target.LEDGER, ("dynamodb:DescribeTable",)),
            (Target.WORK_QUEUE, ("sqs:GetQueueAttributes",)),
            (Target.DEAD_LETTER_QUEUE, ("sqs:GetQueueAttributes",)),
            (Target.DISCOVER_FUNCTION, ("lambda:GetFunction",)),
            (Target.ARCHIVE_FUNCTION, ("lambda:GetFunction",)),
            (Target.REPORTS, ("s3:GetObject",)),
            (
                Target.TABLES,
                ("glue:GetTable", "glue:GetTableOptimizer", "glue:ListTableOptimizerRuns"),
            ),
            (
                Target.WORKGROUP,
                (*ATHENA_QUERY, "athena:ListNamedQueries", "athena:GetNamedQuery"),
            ),
        )
        + _needs(
            OPERATOR,
            (Target.DISCOVER_FUNCTION, ("lambda:InvokeFunction",)),
            (Target.ARCHIVE_FUNCTION, ("lambda:InvokeFunction",)),
        ),
        athena=True,
    ),
    "archive": Command(
        frozenset({COLLECTOR}),
        _needs(
            OPERATOR,
            FIND,
            (Target.DISCOVER_FUNCTION, ("lambda:InvokeFunction",)),
            (Target.LEDGER, ("dynamodb:GetItem",)),
        ),
    ),
    # Discovery's listing and claims, at the operator's own rate; then following the sessions.
    "backfill": Command(
        frozenset({COLLECTOR}),
        _needs(
            OPERATOR,
            FIND,
            (Target.DISCOVER_FUNCTION, ("lambda:GetFunctionConfiguration",)),
            (Target.ALL_STAGES, ("ivs:ListStages",)),
            (Target.STAGES, ("ivs:ListStageSessions",)),
            (
                Target.LEDGER,
                ("dynamodb:Query", "dynamodb:GetItem", "dynamodb:UpdateItem"),
            ),
            (Target.WORK_QUEUE, ("sqs:SendMessage", "sqs:GetQueueAttributes")),
        ),
    ),
    "redrive": Command(
        frozenset({COLLECTOR}),
        _needs(
            OPERATOR,
            FIND,
            (
                Target.DEAD_LETTER_QUEUE,
                ("sqs:ReceiveMessage", "sqs:ChangeMessageVisibility", "sqs:DeleteMessage"),
            ),
            (Target.WORK_QUEUE, ("sqs:SendMessage",)),
            (Target.LEDGER, ("dynamodb:GetItem",)),
        ),
    ),
    # The landing objects the tables lack, committed through pyiceberg.
    "migrate": Command(
        frozenset({HOME}),
        _needs(
            OPERATOR,
            FIND,
            (Target.DATABASE, ("glue:GetDatabase",)),
            (Target.TABLES, ("glue:GetTable", "glue:UpdateTable")),
            (Target.ARCHIVE_BUCKET, ("s3:ListBucket",)),
            (Target.LANDING, ("s3:GetObject",)),
            (Target.TABLE_FILES, ("s3:GetObject", "s3:PutObject", "s3:DeleteObject")),
            (Target.KEY, KMS_WRITE),
        ),
    ),
    # The user's rows out of the tables and the landing objects, old versions included.
    "erase": Command(
        frozenset({HOME}),
        _needs(
            OPERATOR,
            FIND,
            (Target.DATABASE, ("glue:GetDatabase",)),
            (Target.TABLES, ("glue:GetTable", "glue:UpdateTable")),
            (Target.ARCHIVE_BUCKET, ("s3:ListBucket", "s3:ListBucketVersions")),
            (
                Target.LANDING,
                (
                    "s3:GetObject",
                    "s3:GetObjectVersion",
                    "s3:PutObject",
                    "s3:PutObjectTagging",
                    "s3:DeleteObject",
                    "s3:DeleteObjectVersion",
                ),
            ),
            (
                Target.TABLE_FILES,
                (
                    "s3:GetObject",
                    "s3:GetObjectVersion",
                    "s3:PutObject",
                    "s3:DeleteObject",
                    "s3:DeleteObjectVersion",
                ),
            ),
            (Target.KEY, KMS_WRITE),
        ),
    ),
}


# --- resources ------------------------------------------------------------------------------------
@dataclass(frozen=True)
class Resource:
    """ARNs a statement names, and the condition it holds under (JSON text; "" for none)."""

    arns: tuple[str, ...]
    condition: str = ""

    @classmethod
    def of(cls, *arns: str, condition: Mapping[str, Any] | None = None) -> Resource:
        return cls(tuple(arns), json.dumps(condition, sort_keys=True) if condition else "")


Targets = dict[Target, list[Resource]]


def home_targets(
    *,
    partition: str,
    region: str,
    account: str,
    stack_id: str,
    bucket: str,
    prefix: str,
    results_bucket: str,
    workgroup: str,
    database: str,
    keys: Iterable[Resource] = (),
) -> Targets:
    """The home's resources by name (tokens in a stack): bucket, tables, Athena, keys."""
    bucket_arn = f"arn:{partition}:s3:::{bucket}"
    results_arn = f"arn:{partition}:s3:::{results_bucket}"
    glue = f"arn:{partition}:glue:{region}:{account}"
    catalog = (f"{glue}:catalog", f"{glue}:database/{database}")
    return {
        Target.STACK: [Resource.of(stack_id)],
        Target.ARCHIVE_BUCKET: [Resource.of(bucket_arn)],
        Target.REPORTS: [Resource.of(f"{bucket_arn}/{prefix}{REPORTS_FOLDER}/*")],
        Target.LANDING: [Resource.of(*(f"{bucket_arn}/{prefix}{name}/*" for name in TABLES))],
        Target.TABLE_FILES: [Resource.of(f"{bucket_arn}/{prefix}{ICEBERG_FOLDER}*")],
        Target.RESULTS_BUCKET: [Resource.of(results_arn)],
        Target.RESULTS: [Resource.of(f"{results_arn}/{RESULTS_PREFIX}*")],
        Target.WORKGROUP: [
            Resource.of(f"arn:{partition}:athena:{region}:{account}:workgroup/{workgroup}")
        ],
        Target.DATABASE: [Resource.of(*catalog)],
        Target.TABLES: [
            Resource.of(*catalog, *(f"{glue}:table/{database}/{name}" for name in TABLES))
        ],
        Target.KEY: list(keys),
    }


def collector_targets(
    *,
    stack_id: str,
    ledger: str,
    work_queue: str,
    dead_letter_queue: str,
    discover_function: str,
    archive_function: str,
    stages: Iterable[str],
    partition: str,
    home_bucket: str,
    prefix: str,
    keys: Iterable[Resource] = (),
) -> Targets:
    """A collector's resources (ARNs; tokens in a stack), and what it reads of the home: the
    collectors' reports (listing the bucket only there)."""
    bucket_arn = f"arn:{partition}:s3:::{home_bucket}"
    reports = f"{prefix}{REPORTS_FOLDER}/*"
    return {
        Target.STACK: [Resource.of(stack_id)],
        Target.LEDGER: [Resource.of(ledger)],
        Target.WORK_QUEUE: [Resource.of(work_queue)],
        Target.DEAD_LETTER_QUEUE: [Resource.of(dead_letter_queue)],
        Target.DISCOVER_FUNCTION: [Resource.of(discover_function)],
        Target.ARCHIVE_FUNCTION: [Resource.of(archive_function)],
        Target.ALL_STAGES: [Resource.of("*")],
        Target.STAGES: [Resource.of(*stages)],
        Target.ARCHIVE_BUCKET: [
            Resource.of(bucket_arn, condition={"StringLike": {"s3:prefix": [reports]}})
        ],
        Target.REPORTS: [Resource.of(f"{bucket_arn}/{reports}")],
        Target.KEY: list(keys),
    }


def home_keys(settings: Settings, key: kms.IKey | None) -> list[Resource]:
    """The keys of the home's bucket: the stack's own (encryption KMS), an existing bucket's
    (bucketKmsKeyArn)."""
    keys = [Resource.of(key.key_arn)] if key else []
    if settings.bucket_kms_key_arn:
        keys.append(Resource.of(settings.bucket_kms_key_arn))
    return keys


def for_home(stack: Stack, settings: Settings, storage: Storage, workgroup: str) -> Targets:
    """The targets of a stack holding the home (`workgroup`: the Athena workgroup's name)."""
    return home_targets(
        partition=stack.partition,
        region=stack.region,
        account=stack.account,
        stack_id=stack.stack_id,
        bucket=storage.bucket.bucket_name,
        prefix=storage.prefix,
        results_bucket=storage.results_bucket.bucket_name,
        workgroup=workgroup,
        database=settings.database_name,
        keys=home_keys(settings, storage.key),
    )


def for_collector(
    stack: Stack, archiver: Archiver, bucket: str, prefix: str, keys: list[Resource]
) -> Targets:
    """The targets of a stack holding a collector that archives into `bucket` (the home's)."""
    return collector_targets(
        stack_id=stack.stack_id,
        ledger=archiver.ledger.table_arn,
        work_queue=archiver.queue.queue_arn,
        dead_letter_queue=archiver.dead_letter_queue.queue_arn,
        discover_function=archiver.discover.function_arn,
        archive_function=archiver.archive.function_arn,
        stages=archiver.stage_resources(),
        partition=stack.partition,
        home_bucket=bucket,
        prefix=prefix,
        keys=keys,
    )


def home_keys_by_alias(home: Home) -> list[Resource]:
    """The home's keys as a collector's stack names them: by alias, or bucketKmsKeyArn."""
    settings = home.settings
    keys = []
    if settings.encryption == "KMS":
        keys.append(Resource.of(*home.key_arns(), condition=home.key_condition()))
    if settings.bucket_kms_key_arn:
        keys.append(Resource.of(settings.bucket_kms_key_arn))
    return keys


def single_targets(home: Targets, collector: Targets) -> Targets:
    """A stack holding both: the home's resources where both name one (its whole bucket)."""
    return collector | home


# --- statements -----------------------------------------------------------------------------------
def needs_of(
    commands: Iterable[str], policy: str = OPERATOR, stacks: Iterable[str] = (HOME, COLLECTOR)
) -> list[Need]:
    """What `commands` need, within `policy`, on the stacks of the kinds given."""
    kinds = set(stacks)
    levels = POLICIES[: POLICIES.index(policy) + 1]
    found: list[Need] = []
    for name in commands:
        command = COMMANDS[name]
        if not command.stacks & kinds:
            continue
        # Athena and its tables are the home's: a collector's smoke runs no query.
        needs = command.all_needs() if HOME in kinds else command.needs
        found += [n for n in needs if n.policy in levels]
    return found


def statements(needs: Iterable[Need], targets: Targets) -> list[dict[str, Any]]:
    """IAM statements granting `needs` on `targets` (a need whose target the stack has not is
    left out): one statement per resource set and condition, actions sorted."""
    grouped: dict[Resource, set[str]] = {}
    for need in needs:
        for resource in targets.get(need.target, []):
            grouped.setdefault(resource, set()).update(need.actions)
    found = []
    for resource, actions in grouped.items():
        statement: dict[str, Any] = {
            "Effect": "Allow",
            "Action": sorted(actions),
            "Resource": list(resource.arns),
        }
        if resource.condition:
            statement["Condition"] = json.loads(resource.condition)
        found.append(statement)
    return found


def policy_statements(policy: str, targets: Targets, stacks: Iterable[str]) -> list[dict[str, Any]]:
    """The statements of `policy` on a stack of the kinds `stacks` with `targets`."""
    return statements(needs_of(COMMANDS, policy, stacks), targets)


# --- the policies ---------------------------------------------------------------------------------
# Wildcard resources in these policies, with the actions each may carry and why (cdk-nag).
WILDCARDS: tuple[tuple[re.Pattern[str], frozenset[str], str], ...] = (
    (
        re.compile(r"^\*$"),
        frozenset({"ivs:ListStages"}),
        "ivs:ListStages names no stage: backfill lists the account's stages as discovery does "
        "(the functions' role has the same grant).",
    ),
    (
        re.compile(r":ivs:(<AWS::Region>|[a-z0-9-]+):(<AWS::AccountId>|[0-9]{12}):stage/\*$"),
        frozenset({"ivs:ListStageSessions"}),
        "backfill lists the sessions of the stages the deployment archives, found at run time "
        "(stageAllowList narrows this to named stages).",
    ),
    (
        re.compile(r"/(stage_sessions|participants|participant_events|iceberg|collectors)/\*$"),
        frozenset(
            {
                "s3:GetObject",
                "s3:GetObjectVersion",
                "s3:PutObject",
                "s3:PutObjectTagging",
                "s3:DeleteObject",
                "s3:DeleteObjectVersion",
            }
        ),
        "Object keys carry the date, place, stage and session, and Iceberg names its own files: "
        "access is limited to the archive's folders the console's commands read or rewrite "
        "(docs/permissions.md lists which command needs which).",
    ),
    (
        re.compile(r"/athena-results/\*$"),
        frozenset(
            {
                "s3:GetObject",
                "s3:PutObject",
                "s3:AbortMultipartUpload",
                "s3:ListMultipartUploadParts",
            }
        ),
        "Athena names each query's result objects: access is limited to the workgroup's result "
        "folder of the results bucket (Athena user guide, Access to Amazon S3).",
    ),
    (
        re.compile(r":kms:[a-z0-9-]+:(<AWS::AccountId>|[0-9]{12}):key/\*$"),
        frozenset({"kms:Decrypt", "kms:GenerateDataKey"}),
        "A collector names the home's archive key by its alias (the key is in another stack): "
        "the grant holds only for the key under that alias (condition kms:ResourceAliases).",
    ),
)


class OperatorPolicies(Construct):
    """The read-only and operator managed policies of one stack (`kinds`: home, collector or
    both), named `<name>-<part>-read-only` and `-operator` (IAM Identity Center permission sets
    attach customer managed policies by name)."""

    def __init__(
        self,
        scope: Construct,
        construct_id: str,
        *,
        settings: Settings,
        targets: Targets,
        kinds: Iterable[str],
        part: str,
    ) -> None:
        super().__init__(scope, construct_id)
        kinds = tuple(kinds)
        self.policies: dict[str, iam.ManagedPolicy] = {}
        for policy in POLICIES:
            found = policy_statements(policy, targets, kinds)
            managed = iam.ManagedPolicy(
                self,
                "ReadOnly" if policy == READ_ONLY else "Operator",
                managed_policy_name=f"{settings.name}-{part}-{policy}",
                description=(
                    f"IVS Stage Archive {settings.name}: what ivs-archive's "
                    f"{'read-only ' if policy == READ_ONLY else ''}commands call on this "
                    "stack's resources (docs/permissions.md)"
                ),
                document=iam.PolicyDocument(
                    statements=[iam.PolicyStatement.from_json(s) for s in found]
                ),
            )
            _acknowledge(managed, found)
            self.policies[policy] = managed

    def outputs(self) -> dict[str, str]:
        return {OUTPUTS[p]: managed.managed_policy_arn for p, managed in self.policies.items()}


def _acknowledge(policy: iam.ManagedPolicy, found: list[dict[str, Any]]) -> None:
    """A wildcard resource is acknowledged only if every action on it is listed with it."""
    stack = Stack.of(policy)
    granted: dict[str, set[str]] = {}
    for statement in found:
        for resource in statement["Resource"]:
            text = nag_text(stack.resolve(resource))
            granted.setdefault(text, set()).update(statement["Action"])
    for resource, actions in granted.items():
        if "*" not in resource:
            continue
        for pattern, allowed, reason in WILDCARDS:
            if pattern.search(resource) and actions <= allowed:
                acknowledge(policy, f"AwsSolutions-IAM5[Resource::{resource}]", reason)


# --- docs/permissions.md --------------------------------------------------------------------------
DOC = Path(__file__).resolve().parents[1] / "docs" / "permissions.md"
BEGIN = "<!-- generated by `python -m infra.operators`: do not edit between these marks -->"
END = "<!-- end of generated -->"


def table() -> str:
    """The commands, the least policy each needs, and what it calls on which resource."""
    lines = [
        "| command | stack (with places) | policy | actions, by resource |",
        "|---|---|---|---|",
    ]
    for name, command in COMMANDS.items():
        stacks = next(iter(command.stacks)) if len(command.stacks) == 1 else "either"
        levels = {need.policy for need in command.needs}
        policy = command.policy if len(levels) == 1 else f"{READ_ONLY}; whole: {OPERATOR}"
        cells = _cells([n for n in command.needs if n.policy == min(levels, key=POLICIES.index)])
        if command.athena:
            cells.append("and Athena's own reads (below)")
        if len(levels) > 1:
            changes = _cells([n for n in command.needs if n.policy == OPERATOR])
            cells.append(f"{OPERATOR} only: " + "; ".join(changes))
        lines.append(f"| `{name}` | {stacks} | {policy} | {'<br>'.join(cells)} |")
    athena = [
        f"| {need.target.value} | {', '.join(f'`{a}`' for a in need.actions)} |"
        for need in ATHENA_READS
    ]
    return "\n".join(
        [
            *lines,
            "",
            "Athena's own reads: what Athena calls with the caller's credentials while it runs "
            "a query of `timeline` or `smoke` (Athena user guide):",
            "",
            "| resource | actions |",
            "|---|---|",
            *athena,
        ]
    )


def _cells(needs: Iterable[Need]) -> list[str]:
    """`target: actions`, a target once, in the order first needed."""
    by_target: dict[Target, set[str]] = {}
    for need in needs:
        by_target.setdefault(need.target, set()).update(need.actions)
    return [
        f"{target.value}: {', '.join(f'`{a}`' for a in sorted(actions))}"
        for target, actions in by_target.items()
    ]


def write_doc(path: Path = DOC) -> bool:
    """Puts the table between the marks of docs/permissions.md; whether it changed."""
    text = path.read_text()
    head, rest = text.split(BEGIN, 1)
    _, tail = rest.split(END, 1)
    new = f"{head}{BEGIN}\n{table()}\n{END}{tail}"
    if new != text:
        path.write_text(new)
    return new != text


if __name__ == "__main__":
    changed = write_doc()
    print(f"{DOC}: {'updated' if changed else 'up to date'}", file=sys.stderr)
