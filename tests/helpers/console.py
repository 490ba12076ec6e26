"""A deployment of the archive on loopback, for the console's tests: the embedded pipeline's IVS
simulator, bucket, ledger and queues (local.pipeline), plus what the stack adds around them in
moto (the two Lambda functions, the Iceberg tables in Glue and their optimizers, a results
bucket, an Athena workgroup with the named queries) and a CloudFormation stack whose outputs name
them all, as infra/stack.py's do. The console finds everything from that stack, as it would in AWS.

moto cannot run a Lambda function without Docker: `LambdaFront` answers a RequestResponse
invocation of the discover function by running the real handler (the pipeline's `discover`,
in the function's environment), and hands every other request to moto. moto's Athena runs no
SQL: a test gives it the answers Athena would (`seed_athena`), in Athena's format.
"""

from __future__ import annotations

import io
import json
import os
import re
import sys
import threading
import time
import uuid
import zipfile
from collections.abc import Callable, Iterable
from dataclasses import dataclass, field
from datetime import datetime
from pathlib import Path
from typing import Any
from urllib.parse import unquote
from urllib.request import Request, urlopen

import boto3
import pytest

import queries
from archiver.catalog import GLUE, open_catalog
from archiver.schema import TABLES
from archiver.settings import env_vars
from archiver.tables import ensure_tables
from console.cli import main
from console.optimizers import OPTIMIZER_TYPES
from local.moto_server import MotoServer
from local.pipeline import EmbeddedPipeline
from tests.helpers.glue_optimizers import add_optimizers

REGION = "us-east-1"
INVOKE = re.compile(r"^/2015-03-31/functions/(?P<name>[^/]+)/invocations$")


def moto_api(moto_url: str, path: str, body: dict[str, Any]) -> None:
    request = Request(
        f"{moto_url}/moto-api/{path}",
        data=json.dumps(body).encode(),
        method="POST",
        headers={"Content-Type": "application/json"},
    )
    with urlopen(request, timeout=10) as response:
        assert response.status in (200, 201), response.status


class LambdaFront(MotoServer):
    """Lambda on loopback: `handlers` (function name -> callable of the event) run the
    functions' real code; moto answers everything else (DryRun, GetFunction, ...)."""

    def __init__(self, handlers: dict[str, Callable[[Any], Any]]) -> None:
        self.handlers = handlers
        self.invocations: list[tuple[str, Any]] = []
        super().__init__()

    def answer(
        self, environ: dict[str, Any], start_response: Callable[..., Any]
    ) -> Iterable[bytes] | None:
        match = INVOKE.match(environ.get("PATH_INFO", ""))
        kind = environ.get("HTTP_X_AMZ_INVOCATION_TYPE", "RequestResponse")
        name = unquote(match["name"]) if match else None
        if name not in self.handlers or kind != "RequestResponse":
            return None
        length = int(environ.get("CONTENT_LENGTH") or 0)
        event = json.loads(environ["wsgi.input"].read(length) or b"null")
        self.invocations.append((name, event))
        headers = [("Content-Type", "application/json")]
        try:
            answer = self.handlers[name](event)
        except Exception as error:  # as Lambda reports an unhandled error
            answer = {"errorType": type(error).__name__, "errorMessage": str(error)}
            headers.append(("X-Amz-Function-Error", "Unhandled"))
        payload = json.dumps(answer).encode()
        start_response("200 OK", [*headers, ("Content-Length", str(len(payload)))])
        return [payload]


@dataclass
class Stack:
    """What was deployed: names, and the stack's outputs."""

    name: str
    pipeline: EmbeddedPipeline
    database: str
    workgroup: str
    results_bucket: str
    discover: str
    archive: str
    outputs: dict[str, str] = field(default_factory=dict)

    @property
    def args(self) -> list[str]:
        return ["--stack", self.name, "--region", REGION]

    def client(self, service: str) -> Any:
        return boto3.client(service, region_name=REGION)


def _zip() -> bytes:
    buffer = io.BytesIO()
    with zipfile.ZipFile(buffer, "w") as archive:
        archive.writestr("index.py", "def handler(event, context):\n    return event\n")
    return buffer.getvalue()


def deploy(
    pipeline: EmbeddedPipeline, *, omit: Iterable[str] = (), add: dict[str, str] | None = None
) -> Stack:
    """Everything infra/stack.py creates around the pipeline's resources, and the stack (whose
    outputs leave out `omit`, and have `add` too). The environment must point boto3 at the
    pipeline's moto."""
    moto_url = os.environ["AWS_ENDPOINT_URL"]
    moto_api(moto_url, "config", {"lambda": {"use_docker": False}})
    suffix = uuid.uuid4().hex[:8]
    stack = Stack(
        name=f"IvsArchiveTest-{suffix}",
        pipeline=pipeline,
        database=f"console_{suffix}",  # moto keeps one state per process: names of its own
        workgroup=f"wg-{suffix}",
        results_bucket=f"results-{suffix}",
        discover=f"discover-{suffix}",
        archive=f"archive-{suffix}",
    )
    role = stack.client("iam").create_role(
        RoleName=f"role-{suffix}", AssumeRolePolicyDocument="{}"
    )["Role"]["Arn"]
    environment = {name: os.environ[name] for name in env_vars() if name in os.environ}
    for function in (stack.discover, stack.archive):
        stack.client("lambda").create_function(
            FunctionName=function,
            Runtime="python3.13",
            Role=role,
            Handler="index.handler",
            Code={"ZipFile": _zip()},
            Environment={"Variables": environment},
        )
    ensure_tables(open_catalog(GLUE), stack.database, f"s3://{pipeline.account.bucket}/")
    account = stack.client("sts").get_caller_identity()["Account"]
    add_optimizers(account, stack.database, TABLES, OPTIMIZER_TYPES)  # enabled, no run yet
    stack.client("s3").create_bucket(Bucket=stack.results_bucket)
    athena = stack.client("athena")
    athena.create_work_group(
        Name=stack.workgroup,
        Configuration={
            "ResultConfiguration": {"OutputLocation": f"s3://{stack.results_bucket}/athena/"}
        },
    )
    for query in queries.load().values():
        athena.create_named_query(
            Name=query.name,
            Database=stack.database,
            QueryString=query.sql,
            WorkGroup=stack.workgroup,
        )
    outputs = {
        "ArchiveBucketName": pipeline.account.bucket,
        "TablesLocation": f"s3://{pipeline.account.bucket}/",
        "ResultsBucketName": stack.results_bucket,
        "DatabaseName": stack.database,
        "WorkGroupName": stack.workgroup,
        "LedgerTableName": pipeline.account.ledger_table,
        "WorkQueueUrl": pipeline.account.queue_url,
        "DeadLetterQueueUrl": pipeline.account.dlq_url,
        "DiscoverFunctionName": stack.discover,
        "ArchiveFunctionName": stack.archive,
        "DashboardName": f"dashboard-{suffix}",
    }
    stack.outputs = {k: v for k, v in outputs.items() if k not in set(omit)} | (add or {})
    template = {
        "Resources": {"AlarmTopic": {"Type": "AWS::SNS::Topic"}},
        "Outputs": {
            **{k: {"Value": v} for k, v in stack.outputs.items()},
            "AlarmTopicArn": {"Value": {"Ref": "AlarmTopic"}},
        },
    }
    stack.client("cloudformation").create_stack(
        StackName=stack.name, TemplateBody=json.dumps(template)
    )
    return stack


# --- Athena's answers ----------------------------------------------------------------------------
def athena_text(value: Any) -> str | None:
    """A value as Athena's GetQueryResults spells it (every cell is text)."""
    if value is None:
        return None
    if isinstance(value, bool):
        return "true" if value else "false"
    if isinstance(value, datetime):
        return value.strftime("%Y-%m-%d %H:%M:%S.%f")[:-3]
    if isinstance(value, dict | list):
        return json.dumps(value, separators=(",", ":"))
    return str(value)


def athena_result(columns: list[tuple[str, str]], rows: list[list[Any]]) -> dict[str, Any]:
    """One query's answer: the column names and types, the header row a SELECT's answer
    starts with, then the rows."""
    header = {"Data": [{"VarCharValue": name} for name, _ in columns]}
    data = [
        {"Data": [{} if (t := athena_text(v)) is None else {"VarCharValue": t} for v in row]}
        for row in rows
    ]
    return {
        "rows": [header, *data],
        "column_info": [
            {"Name": name, "Label": name, "Type": kind, "Nullable": "UNKNOWN"}
            for name, kind in columns
        ],
    }


def seed_athena(results: list[dict[str, Any]]) -> None:
    """The answers of the next queries started, in order."""
    moto_api(
        os.environ["AWS_ENDPOINT_URL"],
        "static/athena/query-results",
        {"region": REGION, "results": results},
    )


SCRIPT = Path(sys.executable).parent / "ivs-archive"


COMMANDS = ("status", "sessions", "archive", "backfill", "redrive", "smoke", "timeline", "erase")


Capture = pytest.CaptureFixture[str]


def run(capsys: Capture, *args: object) -> tuple[int, str, str]:
    """`ivs-archive ARGS` in this process: (exit status, standard output, standard error)."""
    capsys.readouterr()
    try:
        status = main([str(a) for a in args])
    except SystemExit as exit:  # argparse's usage errors
        status = int(exit.code or 0)
    out, err = capsys.readouterr()
    return status, out, err


def one_error(err: str, command: str) -> str:
    """The single line an error prints, without its `ivs-archive COMMAND: error: ` head."""
    lines = err.strip().splitlines()
    assert len(lines) == 1, err
    head = f"ivs-archive {command}: error: "
    assert lines[0].startswith(head), lines[0]
    assert "Traceback" not in err
    return lines[0].removeprefix(head)


class Workers:
    """Archive workers taking messages off the queue while a command runs, as Lambda would."""

    def __init__(self, pipeline: EmbeddedPipeline) -> None:
        self.pipeline = pipeline
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._work, daemon=True)

    def _work(self) -> None:
        while not self._stop.is_set():
            if self.pipeline.archive_once() is None:
                time.sleep(0.05)

    def __enter__(self) -> Workers:
        self._thread.start()
        return self

    def __exit__(self, *exc: object) -> None:
        self._stop.set()
        self._thread.join()
