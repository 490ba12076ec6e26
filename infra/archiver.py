"""The discover and archive functions, their ledger table and work queue, and what fires them.

Throughput is bounded by the IVS quota, not by Lambda: the archive event source runs at most
`archiveConcurrency` workers, each limiting itself to apiTpsBudget / archiveConcurrency calls per
second per operation, so all workers together stay within the budget. Discovery reserves no
concurrency (AWS refuses a reservation that leaves the account less than its minimum unreserved
concurrency, so a new account could not deploy); it keeps itself to one run at a time with a
lease in the ledger, so a burst of IVS events never multiplies its API calls.
"""

from __future__ import annotations

from aws_cdk import Aws, Duration, RemovalPolicy, Stack
from aws_cdk import aws_dynamodb as dynamodb
from aws_cdk import aws_events as events
from aws_cdk import aws_events_targets as targets
from aws_cdk import aws_iam as iam
from aws_cdk import aws_lambda as lambda_
from aws_cdk import aws_lambda_event_sources as sources
from aws_cdk import aws_logs as logs
from aws_cdk import aws_sqs as sqs
from constructs import Construct

from archiver.collector_report import report_key
from archiver.eventbridge import stage_update_pattern
from archiver.observability import powertools_environment
from archiver.retry import MAX_RECEIVES
from archiver.runtime import BATCH_WINDOW_S, MAX_BATCH
from archiver.schema import TABLES
from archiver.settings import Settings
from infra.bundling import lambda_code
from infra.storage import ArchiveStore

DISCOVER_HANDLER = "archiver.handlers.discover.handler"
ARCHIVE_HANDLER = "archiver.handlers.archive.handler"
# The archive function's timeout is the one its settings size chunks to fit (INVOCATION_MS).
ARCHIVE_TIMEOUT = Duration.millis(Settings.default("invocation_ms"))
DISCOVER_TIMEOUT = Duration.minutes(15)
# AWS guidance for SQS event sources: visibility timeout at least 6 x the function timeout.
VISIBILITY_TIMEOUT = Duration.seconds(6 * ARCHIVE_TIMEOUT.to_seconds())
MAX_RECEIVE_COUNT = MAX_RECEIVES  # only crashes and timeouts count (archiver.retry)
ARCHIVE_MEMORY_MB = 1024
DISCOVER_MEMORY_MB = 512

# IVS actions per function; ListStages does not take a stage ARN (it is granted on "*").
DISCOVER_IVS_ACTIONS = ("ivs:ListStageSessions", "ivs:GetStageSession")
ARCHIVE_IVS_ACTIONS = (
    "ivs:GetStage",
    "ivs:GetStageSession",
    "ivs:ListParticipants",
    "ivs:GetParticipant",
    "ivs:ListParticipantEvents",
)

# Landing objects: single-part PutObject with the landing tag (archiver.writer), read back to
# commit them into the query tables (archiver.commit). Never listed, never multipart.
ARCHIVE_S3_ACTIONS = ("s3:PutObject", "s3:PutObjectTagging", "s3:GetObject")
ARCHIVE_KMS_ACTIONS = ("kms:GenerateDataKey", "kms:Decrypt")

LEDGER_ACTIONS = (
    "dynamodb:GetItem",
    "dynamodb:PutItem",
    "dynamodb:UpdateItem",
    "dynamodb:Query",
    "dynamodb:DeleteItem",
)

RETENTION = {
    1: logs.RetentionDays.ONE_DAY,
    3: logs.RetentionDays.THREE_DAYS,
    5: logs.RetentionDays.FIVE_DAYS,
    7: logs.RetentionDays.ONE_WEEK,
    14: logs.RetentionDays.TWO_WEEKS,
    30: logs.RetentionDays.ONE_MONTH,
    60: logs.RetentionDays.TWO_MONTHS,
    90: logs.RetentionDays.THREE_MONTHS,
    120: logs.RetentionDays.FOUR_MONTHS,
    150: logs.RetentionDays.FIVE_MONTHS,
    180: logs.RetentionDays.SIX_MONTHS,
    365: logs.RetentionDays.ONE_YEAR,
    400: logs.RetentionDays.THIRTEEN_MONTHS,
    545: logs.RetentionDays.EIGHTEEN_MONTHS,
    731: logs.RetentionDays.TWO_YEARS,
    1096: logs.RetentionDays.THREE_YEARS,
    1827: logs.RetentionDays.FIVE_YEARS,
    2192: logs.RetentionDays.SIX_YEARS,
    2557: logs.RetentionDays.SEVEN_YEARS,
    2922: logs.RetentionDays.EIGHT_YEARS,
    3288: logs.RetentionDays.NINE_YEARS,
    3653: logs.RetentionDays.TEN_YEARS,
}


class Archiver(Construct):
    def __init__(
        self,
        scope: Construct,
        construct_id: str,
        *,
        settings: Settings,
        storage: ArchiveStore,
        landing_objects: list[str] | None = None,
        role_names: dict[str, str] | None = None,
    ) -> None:
        """`landing_objects`: the object ARNs the archive function may write (default: under
        the three tables' folders); `role_names`: the functions' roles' names ("Discover",
        "Archive"), which the home can trust them by."""
        super().__init__(scope, construct_id)
        self.settings = settings
        self._landing_objects = landing_objects
        self._role_names = role_names or {}
        self.ledger = dynamodb.Table(
            self,
            "Ledger",
            partition_key=dynamodb.Attribute(name="pk", type=dynamodb.AttributeType.STRING),
            sort_key=dynamodb.Attribute(name="sk", type=dynamodb.AttributeType.STRING),
            billing_mode=dynamodb.BillingMode.PAY_PER_REQUEST,
            point_in_time_recovery_specification=dynamodb.PointInTimeRecoverySpecification(
                point_in_time_recovery_enabled=True
            ),
            removal_policy=RemovalPolicy.RETAIN,
        )
        self.dead_letter_queue = sqs.Queue(
            self,
            "DeadLetterQueue",
            encryption=sqs.QueueEncryption.SQS_MANAGED,
            enforce_ssl=True,
            retention_period=Duration.days(14),
        )
        self.queue = sqs.Queue(
            self,
            "WorkQueue",
            encryption=sqs.QueueEncryption.SQS_MANAGED,
            enforce_ssl=True,
            visibility_timeout=VISIBILITY_TIMEOUT,
            retention_period=Duration.days(14),
            dead_letter_queue=sqs.DeadLetterQueue(
                queue=self.dead_letter_queue, max_receive_count=MAX_RECEIVE_COUNT
            ),
        )
        code = lambda_code()
        self.discover = self._function(
            "Discover",
            code=code,
            handler=DISCOVER_HANDLER,
            timeout=DISCOVER_TIMEOUT,
            memory_size=DISCOVER_MEMORY_MB,
            # A missed or failed run is redone by the next scheduled one: never pile them up.
            retry_attempts=0,
            max_event_age=Duration.minutes(15),
            description="Finds ended IVS stage sessions and queues them for archiving",
            storage=storage,
        )
        self.archive = self._function(
            "Archive",
            code=code,
            handler=ARCHIVE_HANDLER,
            timeout=ARCHIVE_TIMEOUT,
            memory_size=ARCHIVE_MEMORY_MB,
            description="Archives one IVS stage session's participants and events to S3",
            storage=storage,
        )
        self.archive.add_event_source(
            sources.SqsEventSource(
                self.queue,
                # A worker archives its batch's sessions at once (lambdas/archiver/invocation.py).
                batch_size=MAX_BATCH,
                max_batching_window=Duration.seconds(BATCH_WINDOW_S),
                report_batch_item_failures=True,
                max_concurrency=settings.archive_concurrency,
            )
        )
        self._triggers()
        self._grants(storage)

    def environment(self, storage: ArchiveStore) -> dict[str, str]:
        """The functions' settings (archiver.settings, with this stack's resources filled in),
        Powertools' own variables (the service is this deployment's name), and pydantic's."""
        wired = self.settings.model_copy(
            update={
                "bucket_name": storage.bucket.bucket_name,
                "ledger_table": self.ledger.table_name,
                "queue_url": self.queue.queue_url,
                "dead_letter_queue_url": self.dead_letter_queue.queue_url,
            }
        )
        return {
            **wired.to_env(),
            **powertools_environment(self.settings.name),
            # The asset holds no pydantic plugin: spare each cold start pydantic's search of every
            # installed distribution's entry points for one (~5 ms).
            "PYDANTIC_DISABLE_PLUGINS": "__all__",
        }

    def _function(
        self,
        name: str,
        *,
        code: lambda_.Code,
        handler: str,
        storage: ArchiveStore,
        **props: object,
    ) -> lambda_.Function:
        log_group = logs.LogGroup(
            self,
            f"{name}Logs",
            retention=RETENTION[self.settings.log_retention_days],
            removal_policy=RemovalPolicy.DESTROY,
        )
        # An own role, without AWSLambdaBasicExecutionRole: logs only to this log group.
        role = iam.Role(
            self,
            f"{name}Role",
            role_name=self._role_names.get(name),
            assumed_by=iam.ServicePrincipal("lambda.amazonaws.com"),
            description=f"IVS Stage Archive {name.lower()} function",
        )
        log_group.grant_write(role)
        return lambda_.Function(
            self,
            name,
            code=code,
            handler=handler,
            runtime=lambda_.Runtime.PYTHON_3_13,
            architecture=lambda_.Architecture.ARM_64,
            role=role,
            log_group=log_group,
            tracing=lambda_.Tracing.ACTIVE,
            environment=self.environment(storage),
            **props,  # type: ignore[arg-type]
        )

    def _triggers(self) -> None:
        target = targets.LambdaFunction(self.discover, retry_attempts=2)
        # Every minute by default: a run looks at ListStages only when a session can have ended
        # (one was live at the last look, an event named one, a reconcile is due, or the idle
        # interval passed) and its share of the quota allows; else it makes no IVS call.
        events.Rule(
            self,
            "Schedule",
            description="Discover ended IVS stage sessions",
            schedule=events.Schedule.expression(self.settings.schedule),
            targets=[target],
        )
        # Best effort, possibly late: these events only make discovery of one stage sooner (the
        # next scheduled run looks, even while no session is live, and lists the stage).
        # Only the event names that can be a session's last pass (archiver.eventbridge,
        # STAGE_UPDATE_ENDS): each event is one discover invocation, and a busy stage's
        # "Participant Published" ones would spend a new account's concurrency for nothing.
        pattern = stage_update_pattern(self.settings.stage_allow_list)
        events.Rule(
            self,
            "StageUpdates",
            description="IVS stage updates that can end a session: discover that stage sooner",
            event_pattern=events.EventPattern(
                source=pattern["source"],
                detail_type=pattern["detail-type"],
                detail=pattern["detail"],
                resources=pattern.get("resources"),
            ),
            targets=[target],
        )

    def stage_resources(self) -> list[str]:
        """The stage ARNs the functions may read: the allow-list, else every stage here."""
        if self.settings.stage_allow_list:
            return list(self.settings.stage_allow_list)
        return [Stack.of(self).format_arn(service="ivs", resource="stage", resource_name="*")]

    def _grants(self, storage: ArchiveStore) -> None:
        stages = self.stage_resources()
        discover_role = self._role(self.discover)
        archive_role = self._role(self.archive)
        discover_role.add_to_principal_policy(
            iam.PolicyStatement(actions=["ivs:ListStages"], resources=["*"])
        )
        discover_role.add_to_principal_policy(
            iam.PolicyStatement(actions=list(DISCOVER_IVS_ACTIONS), resources=stages)
        )
        archive_actions = [
            action
            for action in ARCHIVE_IVS_ACTIONS
            if action != "ivs:GetParticipant" or self.settings.participant_details == "on"
        ]
        archive_role.add_to_principal_policy(
            iam.PolicyStatement(actions=archive_actions, resources=stages)
        )
        for role in (discover_role, archive_role):
            # What archiver.ledger calls (CDK's read-write grant adds Scan, Delete, Batch*).
            role.add_to_principal_policy(
                iam.PolicyStatement(actions=list(LEDGER_ACTIONS), resources=[self.ledger.table_arn])
            )
            self.queue.grant_send_messages(role)
        # A message that can never succeed (invalid input) is parked at once, with its reason.
        self.dead_letter_queue.grant_send_messages(archive_role)
        # Landing objects under the three table prefixes only (ARCHIVE_S3_ACTIONS).
        landing = self._landing_objects or [
            storage.bucket.arn_for_objects(f"{storage.prefix}{name}/*") for name in TABLES
        ]
        archive_role.add_to_principal_policy(
            iam.PolicyStatement(actions=list(ARCHIVE_S3_ACTIONS), resources=landing)
        )
        # SSE-KMS: a data key to put, Decrypt to read back.
        storage.grant_key(archive_role, *ARCHIVE_KMS_ACTIONS)
        # After each scheduled run, discovery reports this collector to the home
        # (archiver.collector_report): its own report object, its queues' depths, and its
        # archive lag from CloudWatch (GetMetricStatistics names no resource: `*`).
        discover_role.add_to_principal_policy(
            iam.PolicyStatement(actions=["s3:PutObject"], resources=[report_object(storage)])
        )
        storage.grant_key(discover_role, "kms:GenerateDataKey")
        discover_role.add_to_principal_policy(
            iam.PolicyStatement(
                actions=["sqs:GetQueueAttributes"],
                resources=[self.queue.queue_arn, self.dead_letter_queue.queue_arn],
            )
        )
        discover_role.add_to_principal_policy(
            iam.PolicyStatement(actions=["cloudwatch:GetMetricStatistics"], resources=["*"])
        )

    @staticmethod
    def _role(function: lambda_.Function) -> iam.IRole:
        if function.role is None:
            raise ValueError(f"{function.node.path} has no role")
        return function.role


def report_object(storage: ArchiveStore) -> str:
    """The one object the collector's discovery writes into the home: its report."""
    return storage.bucket.arn_for_objects(report_key(storage.prefix, Aws.ACCOUNT_ID, Aws.REGION))
