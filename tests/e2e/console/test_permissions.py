"""The console's read-only and operator policies (infra/operators.py) against what each command
really calls: every command runs against moto, the IVS simulator and the discover function
(tests/helpers/console.py), signed with an operator's own access key (`--profile`); every
request it makes, boto3's and pyarrow's alike, is recorded as the IAM action and resources it
needs (tests/helpers/iam.py) and evaluated against that command's statements, made from
`infra.operators.COMMANDS` for this deployment's resources."""

from __future__ import annotations

import json
import os
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

from infra.operators import (
    COLLECTOR,
    COMMANDS,
    HOME,
    OPERATOR,
    READ_ONLY,
    Target,
    collector_targets,
    home_targets,
    needs_of,
    single_targets,
    statements,
)
from local.pipeline import EmbeddedPipeline, Options
from tests.helpers.console import (
    REGION,
    Capture,
    Stack,
    Workers,
    athena_result,
    deploy,
    run,
    seed_athena,
)
from tests.helpers.iam import ACCOUNT, Call, Recorder, denied
from tests.helpers.scenario import build_scenario, session_id, stage_arn

OPERATOR_KEY = "AKIAOPERATOR00000001"
PROFILE = "operator"
# Granted, but not called by the runs below (a path they do not take), each with why.
UNEXERCISED = {
    ("migrate", "s3:DeleteObject"): "pyiceberg deletes the files of a commit that lost a race",
    ("erase", "s3:GetObjectVersion"): "old versions of the objects erasure rewrites",
    ("erase", "s3:DeleteObjectVersion"): "old versions of the objects erasure rewrites",
    ("erase", "s3:DeleteObject"): "files and objects erasure supersedes",
    ("erase", "s3:ListBucketVersions"): "old versions of the objects erasure rewrites",
    ("redrive", "sqs:ChangeMessageVisibility"): "messages read but not moved (a dry run's)",
    ("backfill", "sqs:GetQueueAttributes"): "following, once no session is left in the ledger",
    ("backfill", "dynamodb:GetItem"): "the last error of a session that failed while followed",
    ("smoke", "s3:GetObject"): "a collector's check of its report (this deployment is one stack)",
    ("smoke", "glue:ListTableOptimizerRuns"): "an optimizer's runs (moto's Glue has none)",
}
# moto stands in for S3 without KMS: no call of these is made locally.
KMS = {"kms:Decrypt", "kms:GenerateDataKey"}


@pytest.fixture
def stack(monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> Iterator[Stack]:
    """A deployment with nothing archived yet, every endpoint behind the recorder, and an
    operator profile of its own."""
    scenario = build_scenario(stages=2, sessions=2, participants=4, events=3, active=True)
    with EmbeddedPipeline(scenario, Options(tps=100)) as pipeline:
        deployed = deploy(pipeline)
        credentials = tmp_path / "credentials"
        credentials.write_text(
            f"[{PROFILE}]\naws_access_key_id = {OPERATOR_KEY}\naws_secret_access_key = secret\n"
        )
        monkeypatch.setenv("AWS_SHARED_CREDENTIALS_FILE", str(credentials))
        ivs = os.environ["AWS_ENDPOINT_URL_IVS_REALTIME"]
        with Recorder(
            {deployed.discover: pipeline.discover}, access_key=OPERATOR_KEY, ivs_url=ivs
        ) as front:
            for name in ("AWS_ENDPOINT_URL", "AWS_ENDPOINT_URL_LAMBDA"):
                monkeypatch.setenv(name, front.url)
            monkeypatch.setenv("AWS_ENDPOINT_URL_IVS_REALTIME", front.url)
            deployed.front = front  # type: ignore[attr-defined]
            yield deployed


def targets(stack: Stack) -> tuple[dict[Target, Any], dict[Target, Any]]:
    """This deployment's resources, as a home's policies and a collector's name them."""
    client = stack.client
    account = stack.pipeline.account
    stack_id = client("cloudformation").describe_stacks(StackName=stack.name)["Stacks"][0][
        "StackId"
    ]

    def queue(url: str) -> str:
        found = client("sqs").get_queue_attributes(QueueUrl=url, AttributeNames=["QueueArn"])
        return str(found["Attributes"]["QueueArn"])

    def function(name: str) -> str:
        return str(client("lambda").get_function(FunctionName=name)["Configuration"]["FunctionArn"])

    home = home_targets(
        partition="aws",
        region=REGION,
        account=ACCOUNT,
        stack_id=stack_id,
        bucket=account.bucket,
        prefix="",
        results_bucket=stack.results_bucket,
        workgroup=stack.workgroup,
        database=stack.database,
    )
    ledger = client("dynamodb").describe_table(TableName=account.ledger_table)["Table"]
    collector = collector_targets(
        stack_id=stack_id,
        ledger=ledger["TableArn"],
        work_queue=queue(account.queue_url),
        dead_letter_queue=queue(account.dlq_url),
        discover_function=function(stack.discover),
        archive_function=function(stack.archive),
        stages=[f"arn:aws:ivs:{REGION}:{ACCOUNT}:stage/*"],
        partition="aws",
        home_bucket=account.bucket,
        prefix="",
    )
    return home, collector


def operate(stack: Stack, capsys: Capture, *args: object) -> tuple[int, list[Call]]:
    """`ivs-archive ARGS` as the operator: its exit status and the calls it made."""
    front: Recorder = stack.front  # type: ignore[attr-defined]
    front.recorded.clear()
    status, _, err = run(capsys, *args, *stack.args, "--profile", PROFILE)
    assert "Traceback" not in err
    return status, front.calls(stack.client)


def dead_letter(stack: Stack) -> None:
    """A session's message in the dead-letter queue, as the workers leave one."""
    body = json.dumps({"stageArn": stage_arn(0), "sessionId": session_id(0, 0)})
    stack.client("sqs").send_message(QueueUrl=stack.pipeline.account.dlq_url, MessageBody=body)


def test_every_call_of_every_command_is_in_its_policy(stack: Stack, capsys: Capture) -> None:
    made: dict[str, list[Call]] = {name: [] for name in COMMANDS}
    with Workers(stack.pipeline):  # claims, queues, and follows until archived
        status, made["backfill"] = operate(stack, capsys, "backfill", "--interval", "0.1")
    assert status == 0
    status, made["archive"] = operate(stack, capsys, "archive", stage_arn(1), session_id(1, 0))
    assert status == 0
    for dry_run in (["--dry-run"], []):
        dead_letter(stack)
        status, calls = operate(stack, capsys, "redrive", *dry_run)
        assert status == 0
        made["redrive"] += calls
    report = {"reported_at": "2026-11-01T13:00:00+00:00", "work_queue": {}, "dead_letters": 0}
    stack.client("s3").put_object(
        Bucket=stack.pipeline.account.bucket,
        Key=f"collectors/{ACCOUNT}/{REGION}.json",
        Body=json.dumps(report).encode(),
    )
    dead_letter(stack)  # status reads each dead letter to say why it is there
    status, made["status"] = operate(stack, capsys, "status")
    assert status == 0
    for stage in ([], ["--stage", stage_arn(0)]):
        status, calls = operate(stack, capsys, "sessions", *stage)
        assert status == 0
        made["sessions"] += calls
    seed_athena([athena_result([("_col0", "bigint")], [[n]]) for n in (4, 16, 48)])
    status, made["smoke"] = operate(stack, capsys, "smoke")
    assert status in (0, 1)  # moto's Glue has no table optimizers: the calls are what count
    seed_athena([athena_result([("stage_arn", "varchar")], [])])
    status, made["timeline"] = operate(stack, capsys, "timeline", session_id(0, 1))
    assert status == 1  # no such session in Athena's (seeded) answer: the queries are made
    status, made["migrate"] = operate(stack, capsys, "migrate")
    assert status == 0
    status, made["erase"] = operate(stack, capsys, "erase", "--user-id", "user-2", "--yes")
    assert status == 0

    home, collector = targets(stack)
    where = single_targets(home, collector)
    for name, calls in made.items():
        assert calls, name
        # Each command's calls, each on the resources it names, within that command's needs.
        assert denied(calls, statements(needs_of([name], OPERATOR), where)) == [], name
    # With places, each command within the policies of the stack it runs on (a collector's list
    # only the reports' folder of the home's bucket).
    for kind, own in ((HOME, home), (COLLECTOR, collector)):
        for name in (n for n, command in COMMANDS.items() if command.stacks == {kind}):
            assert denied(made[name], statements(needs_of([name], OPERATOR, [kind]), own)) == []
    assert (
        denied(made["status"], statements(needs_of(["status"], READ_ONLY, [COLLECTOR]), collector))
        == []
    )
    # The read-only policy is enough for the read-only commands, and for smoke but its DryRuns.
    read_only = statements(needs_of(COMMANDS, READ_ONLY), where)
    for name in ("status", "sessions", "timeline"):
        assert COMMANDS[name].policy == READ_ONLY
        assert denied(made[name], read_only) == [], name
    invocations = [c for c in made["smoke"] if c.action == "lambda:InvokeFunction"]
    assert denied(made["smoke"], read_only) == sorted({str(c) for c in invocations})
    assert len(invocations) == 2
    # And nothing granted goes uncalled but what a path these runs do not take would call.
    for name, command in COMMANDS.items():
        granted = {action for need in command.needs for action in need.actions} - KMS
        called = {call.action for call in made[name]}
        unexercised = {a for (c, a) in UNEXERCISED if c == name}
        assert granted - called <= unexercised, (name, granted - called - unexercised)
