"""Alarms, a dashboard and the alarm topic (with an optional e-mail subscription).

The custom metrics are the ones the functions emit with Powertools (namespace IVSStageArchive,
dimension service=ivs-stage-archive; ApiCalls/ApiThrottles also per IVS Operation).
"""

from __future__ import annotations

from aws_cdk import Duration
from aws_cdk import aws_cloudwatch as cw
from aws_cdk import aws_cloudwatch_actions as cw_actions
from aws_cdk import aws_iam as iam
from aws_cdk import aws_sns as sns
from aws_cdk import aws_sns_subscriptions as subscriptions
from aws_cdk import aws_sqs as sqs
from constructs import Construct

from archiver.ivs import OPERATIONS
from infra.archiver import METRICS_NAMESPACE, SERVICE_NAME, Archiver
from infra.config import ArchiveConfig
from infra.storage import Storage

PERIOD = Duration.minutes(5)
THROTTLE_PERIOD = Duration.minutes(15)
# Occasional 429s are absorbed by retries; this many in 15 minutes means the budget is too high
# for what the rest of the account calls.
THROTTLES_THRESHOLD = 100
LAG_THRESHOLD = Duration.hours(6)


def metric(name: str, statistic: str = "Sum", period: Duration = PERIOD, **dims: str) -> cw.Metric:
    return cw.Metric(
        namespace=METRICS_NAMESPACE,
        metric_name=name,
        dimensions_map={"service": SERVICE_NAME, **dims},
        statistic=statistic,
        period=period,
    )


def per_operation(name: str, period: Duration = PERIOD) -> cw.MathExpression:
    """The sum over every IVS operation (alarms accept math over named metrics, not SEARCH)."""
    using = {f"op{i}": metric(name, period=period, Operation=op) for i, op in enumerate(OPERATIONS)}
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
        config: ArchiveConfig,
        archiver: Archiver,
        storage: Storage,
    ) -> None:
        super().__init__(scope, construct_id)
        self.topic = self._topic(storage)
        if config.alarm_email:
            self.topic.add_subscription(subscriptions.EmailSubscription(config.alarm_email))
        action = cw_actions.SnsAction(self.topic)
        self.alarms: list[cw.Alarm] = []

        def alarm(name: str, source: cw.IMetric, threshold: float, description: str) -> None:
            created = cw.Alarm(
                self,
                name,
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
        alarm("DeadLetters", dlq, 0, "Sessions failed 5 times: see the dead-letter queue.")
        for fn in (archiver.discover, archiver.archive):
            name = fn.node.id
            errors = fn.metric_errors(period=PERIOD, statistic="Sum")
            alarm(f"{name}Errors", errors, 0, f"The {name.lower()} function failed.")
        alarm(
            "ApiThrottled",
            per_operation("ApiThrottles", THROTTLE_PERIOD),
            THROTTLES_THRESHOLD,
            "IVS throttles the archiver often: lower apiTpsBudget or archiveConcurrency.",
        )
        alarm(
            "SessionsExpired",
            metric("SessionsExpired"),
            0,
            "IVS no longer knew a session before it was archived: discovery is falling behind.",
        )
        alarm(
            "ArchiveLag",
            metric("ArchiveLagSeconds", "Maximum", Duration.hours(1)),
            LAG_THRESHOLD.to_seconds(),
            "Sessions are archived more than 6 hours after they ended.",
        )
        self.dashboard = self._dashboard(archiver)

    def _topic(self, storage: Storage) -> sns.Topic:
        """With KMS on, the topic uses the stack's key, which CloudWatch may then use to publish
        (it cannot use the AWS-managed SNS key)."""
        if storage.key:
            storage.key.add_to_resource_policy(
                iam.PolicyStatement(
                    actions=["kms:Decrypt", "kms:GenerateDataKey*"],
                    principals=[iam.ServicePrincipal("cloudwatch.amazonaws.com")],
                    resources=["*"],
                )
            )
        return sns.Topic(
            self,
            "AlarmTopic",
            display_name="IVS Stage Archive alarms",
            enforce_ssl=True,
            master_key=storage.key,
        )

    def _dashboard(self, archiver: Archiver) -> cw.Dashboard:
        def graph(title: str, metrics: list[cw.IMetric], width: int = 8) -> cw.GraphWidget:
            return cw.GraphWidget(title=title, left=metrics, width=width, height=6)

        def search(name: str) -> cw.MathExpression:
            return cw.MathExpression(
                expression=(
                    f"SEARCH('{{{METRICS_NAMESPACE},Operation,service}} "
                    f"MetricName=\"{name}\"', 'Sum', 300)"
                ),
                label=name,
                period=PERIOD,
            )

        queue = archiver.queue
        dashboard = cw.Dashboard(self, "Dashboard", default_interval=Duration.days(1))
        dashboard.add_widgets(
            graph(
                "Sessions",
                [
                    metric(name)
                    for name in (
                        "SessionsEnqueued",
                        "SessionsArchived",
                        "SessionsExpired",
                        "SessionsFailed",
                    )
                ],
            ),
            graph("Archived rows", [metric("ParticipantsArchived"), metric("EventsArchived")]),
            graph(
                "Archive lag (session end to archived)",
                [metric("ArchiveLagSeconds", "Maximum"), metric("ArchiveLagSeconds", "Average")],
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
