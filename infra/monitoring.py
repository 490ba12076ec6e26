"""Alarms, a dashboard and the alarm topic (with an optional e-mail subscription).

The custom metrics are the ones the functions emit with Powertools (namespace IVSStageArchive,
dimension service=<name>, the deployment's name; ApiCalls/ApiThrottles also per IVS Operation).
Every custom metric, alarm and SEARCH here names this deployment's service, so that a second
deployment in the same account and region (another `name`) neither trips these alarms nor shows
on this dashboard.

The topic is encrypted with a key of its own: CloudWatch can publish to an encrypted topic only
if the key's policy lets cloudwatch.amazonaws.com use it, and the policy of the AWS-managed key
`alias/aws/sns` cannot be changed (SNS guide, "Enable compatibility between event sources from
AWS services and encrypted topics").
"""

from __future__ import annotations

from aws_cdk import ArnFormat, Duration, RemovalPolicy, Stack
from aws_cdk import aws_cloudwatch as cw
from aws_cdk import aws_cloudwatch_actions as cw_actions
from aws_cdk import aws_iam as iam
from aws_cdk import aws_kms as kms
from aws_cdk import aws_sns as sns
from aws_cdk import aws_sns_subscriptions as subscriptions
from aws_cdk import aws_sqs as sqs
from constructs import Construct

from archiver.ivs import OPERATIONS
from archiver.observability import NAMESPACE as METRICS_NAMESPACE
from archiver.settings import Settings
from infra.archiver import Archiver

PERIOD = Duration.minutes(5)
THROTTLE_PERIOD = Duration.minutes(15)
# Occasional 429s are absorbed by retries; this many in 15 minutes means the budget is too high
# for what the rest of the account calls.
THROTTLES_THRESHOLD = 100
LAG_THRESHOLD = Duration.hours(6)


def metric(
    service: str, name: str, statistic: str = "Sum", period: Duration = PERIOD, **dims: str
) -> cw.Metric:
    """The custom metric `name` of the deployment whose functions run as `service` (its name:
    archiver.observability.powertools_environment)."""
    return cw.Metric(
        namespace=METRICS_NAMESPACE,
        metric_name=name,
        dimensions_map={"service": service, **dims},
        statistic=statistic,
        period=period,
    )


def per_operation(service: str, name: str, period: Duration = PERIOD) -> cw.MathExpression:
    """The sum over every IVS operation (alarms accept math over named metrics, not SEARCH)."""
    using = {
        f"op{i}": metric(service, name, period=period, Operation=op)
        for i, op in enumerate(OPERATIONS)
    }
    return cw.MathExpression(
        expression="SUM([" + ",".join(f"FILL({k}, 0)" for k in using) + "])",
        using_metrics=using,
        label=f"{name} (all operations)",
        period=period,
    )


class Monitoring(Construct):
    def __init__(
        self,
        scope: Construct,
        construct_id: str,
        *,
        settings: Settings,
        archiver: Archiver,
        dashboard_name: str | None = None,
    ) -> None:
        """`dashboard_name`: default `name` (dashboards are per account, not per region)."""
        super().__init__(scope, construct_id)
        # The functions' service (infra/archiver.py sets it): this deployment's metrics only.
        self.service = service = settings.name
        self.key = kms.Key(
            self,
            "AlarmKey",
            description=f"{settings.name}: alarm topic",
            enable_key_rotation=True,
            # It protects notifications in flight only: nothing to keep once the topic is gone.
            removal_policy=RemovalPolicy.DESTROY,
        )
        self.topic = sns.Topic(
            self,
            "AlarmTopic",
            display_name=f"{settings.name} alarms",
            enforce_ssl=True,
            master_key=self.key,
        )
        if settings.alarm_email:
            self.topic.add_subscription(subscriptions.EmailSubscription(settings.alarm_email))
        action = cw_actions.SnsAction(self.topic)
        self.alarms: list[cw.Alarm] = []
        self.alarm_names: list[str] = []

        def alarm(name: str, source: cw.IMetric, threshold: float, description: str) -> None:
            self.alarm_names.append(f"{settings.name}-{name}")
            created = cw.Alarm(
                self,
                name,
                alarm_name=self.alarm_names[-1],
                metric=source,
                threshold=threshold,
                evaluation_periods=1,
                comparison_operator=cw.ComparisonOperator.GREATER_THAN_THRESHOLD,
                treat_missing_data=cw.TreatMissingData.NOT_BREACHING,
                alarm_description=description,
            )
            created.add_alarm_action(action)
            self.alarms.append(created)

        dlq = archiver.dead_letter_queue.metric_approximate_number_of_messages_visible(
            period=PERIOD, statistic="Maximum"
        )
        alarm(
            "DeadLetters",
            dlq,
            0,
            "A message that can never succeed (malformed), a session that failed for 14 days, or "
            "one its worker crashed on 5 times: `ivs-archive status` explains each.",
        )
        for fn in (archiver.discover, archiver.archive):
            name = fn.node.id
            errors = fn.metric_errors(period=PERIOD, statistic="Sum")
            alarm(f"{name}Errors", errors, 0, f"The {name.lower()} function failed.")
        alarm(
            "ApiThrottled",
            per_operation(service, "ApiThrottles", THROTTLE_PERIOD),
            THROTTLES_THRESHOLD,
            "IVS throttles the archiver often: lower apiTpsBudget or archiveConcurrency.",
        )
        alarm(
            "SessionsRetrying",
            metric(service, "SessionsRetried"),
            0,
            "Sessions fail and are tried again later, with growing delays (an IVS outage, "
            "throttling, a missing permission): see the archive function's logs. It clears once "
            "they succeed; none is dead-lettered for it.",
        )
        alarm(
            "SessionsExpired",
            metric(service, "SessionsExpired"),
            0,
            "IVS no longer knew a session before it was archived: discovery is falling behind.",
        )
        alarm(
            "ArchiveLag",
            metric(service, "ArchiveLagSeconds", "Maximum", Duration.hours(1)),
            LAG_THRESHOLD.to_seconds(),
            "Sessions are archived more than 6 hours after they ended.",
        )
        self._let_alarms_publish()
        self.dashboard = self._dashboard(dashboard_name or settings.name, archiver)

    def _let_alarms_publish(self) -> None:
        """CloudWatch publishes for these alarms only (confused deputy): sns:Publish on the
        topic (its policy replaces the default one, which let the account publish) and the two
        KMS actions the SNS guide lists for an event source, on the topic's key."""
        stack = Stack.of(self)
        arns = [
            stack.format_arn(
                service="cloudwatch",
                resource="alarm",
                resource_name=name,
                arn_format=ArnFormat.COLON_RESOURCE_NAME,
            )
            for name in self.alarm_names
        ]
        cloudwatch = iam.ServicePrincipal("cloudwatch.amazonaws.com")
        conditions = {
            "StringEquals": {"aws:SourceAccount": stack.account},
            "ArnLike": {"aws:SourceArn": arns},
        }
        self.topic.add_to_resource_policy(
            iam.PolicyStatement(
                sid="AlarmsPublish",
                principals=[cloudwatch],
                actions=["sns:Publish"],
                resources=[self.topic.topic_arn],
                conditions=conditions,
            )
        )
        self.key.add_to_resource_policy(
            iam.PolicyStatement(
                sid="AlarmsPublishToTheEncryptedTopic",
                principals=[cloudwatch],
                actions=["kms:Decrypt", "kms:GenerateDataKey*"],
                resources=["*"],
                conditions=conditions,
            )
        )

    def _dashboard(self, name: str, archiver: Archiver) -> cw.Dashboard:
        def graph(title: str, metrics: list[cw.IMetric], width: int = 8) -> cw.GraphWidget:
            return cw.GraphWidget(title=title, left=metrics, width=width, height=6)

        service = self.service

        def own(metric_name: str, statistic: str = "Sum") -> cw.Metric:
            return metric(service, metric_name, statistic)

        def search(metric_name: str) -> cw.MathExpression:
            """One line per IVS operation, of this deployment's service only (exact match)."""
            schema = f"{{{METRICS_NAMESPACE},Operation,service}}"
            terms = f'MetricName="{metric_name}" service="{service}"'
            return cw.MathExpression(
                expression=f"SEARCH('{schema} {terms}', 'Sum', 300)",
                label=metric_name,
                period=PERIOD,
            )

        queue = archiver.queue
        dashboard = cw.Dashboard(
            self, "Dashboard", dashboard_name=name, default_interval=Duration.days(1)
        )
        dashboard.add_widgets(
            graph(
                "Sessions",
                [
                    own(metric_name)
                    for metric_name in (
                        "SessionsEnqueued",
                        "SessionsArchived",
                        "SessionsExpired",
                        "SessionsFailed",
                    )
                ],
                width=6,
            ),
            graph(
                "Archived rows",
                [own("ParticipantsArchived"), own("EventsArchived")],
                width=6,
            ),
            graph(
                "Archive lag (session end to archived)",
                [own("ArchiveLagSeconds", "Maximum"), own("ArchiveLagSeconds", "Average")],
                width=6,
            ),
            graph(
                "Commits redone (another writer committed first)",
                [own("CommitConflicts")],
                width=6,
            ),
        )
        dashboard.add_widgets(
            graph("IVS calls per operation", [search("ApiCalls")]),
            graph("IVS throttles per operation", [search("ApiThrottles")]),
            graph(
                "Work queue",
                [
                    _visible(queue, "Maximum"),
                    queue.metric_approximate_age_of_oldest_message(period=PERIOD),
                    _visible(archiver.dead_letter_queue, "Maximum"),
                ],
            ),
        )
        dashboard.add_widgets(
            *[
                graph(
                    f"{fn.node.id} function",
                    [
                        fn.metric_invocations(period=PERIOD),
                        fn.metric_errors(period=PERIOD),
                        fn.metric_throttles(period=PERIOD),
                    ],
                    width=6,
                )
                for fn in (archiver.discover, archiver.archive)
            ],
            *[
                graph(
                    f"{fn.node.id} duration",
                    [fn.metric_duration(period=PERIOD, statistic="Maximum")],
                    width=6,
                )
                for fn in (archiver.discover, archiver.archive)
            ],
        )
        return dashboard


def _visible(queue: sqs.IQueue, statistic: str) -> cw.Metric:
    return queue.metric_approximate_number_of_messages_visible(period=PERIOD, statistic=statistic)
