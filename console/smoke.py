"""`ivs-archive smoke`: does a deployment work, end to end? Every check the tests cannot make in
a real account: the stack's outputs, each resource they name answering, both functions
invocable (a DryRun invocation checks the function and the right to invoke it, and runs
nothing), each query table answering `SELECT count(*)`, each table's Glue optimizers (compaction,
snapshot retention, orphan-file deletion) present, enabled and not failing (console/optimizers.py),
and each named query running in the workgroup. Prints what passed and what failed; exit status 1
on any failure."""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from functools import cached_property, partial
from typing import Any

from botocore.exceptions import BotoCoreError, ClientError

import queries
from archiver import clock
from archiver.collector_report import report_key
from archiver.schema import TABLES
from console.athena import Athena, Execution
from console.deployment import (
    ARCHIVE_FUNCTION,
    BUCKET,
    DATABASE,
    DEAD_LETTER_QUEUE,
    DISCOVER_FUNCTION,
    HOME_REGION,
    LEDGER,
    RESULTS_BUCKET,
    TABLES_LOCATION,
    WORK_QUEUE,
    WORKGROUP,
    Deployment,
)
from console.errors import one_line
from console.optimizers import OPTIMIZER_TYPES, Optimizer
from console.output import Output, counted


class CheckFailed(Exception):
    """A resource answered, but not as a working deployment's does."""


@dataclass(frozen=True)
class Check:
    name: str
    passed: bool
    detail: str


class Smoke:
    def __init__(self, deployment: Deployment) -> None:
        self.deployment = deployment
        self.checks: list[Check] = []

    def check(self, name: str, needs: tuple[str, ...], test: Callable[[], str]) -> None:
        """Run `test` (its detail when it passes); an exception fails the check."""
        missing = self.deployment.missing(*needs)
        if missing:
            self.checks.append(Check(name, False, f"not checked: no output {', '.join(missing)}"))
            return
        try:
            self.checks.append(Check(name, True, test()))
        except CheckFailed as failure:
            self.checks.append(Check(name, False, str(failure)))
        except (ClientError, BotoCoreError) as error:
            self.checks.append(Check(name, False, one_line(error)))

    def run(self) -> list[Check]:
        """What the stack holds: everything (one stack), the home's part (bucket, tables,
        Athena), or a collector's (ledger, queues, functions, and its report in the home)."""
        d = self.deployment
        expected = d.expected_outputs
        missing = d.missing(*expected)
        present = f"all {len(expected)} present"
        detail = f"missing {', '.join(missing)}" if missing else present
        self.checks.append(Check("stack outputs", not missing, detail))
        if not d.is_collector:
            for output in (BUCKET, RESULTS_BUCKET):
                name = f"bucket {d.outputs.get(output) or output}"
                self.check(name, (output,), partial(self._bucket, output))
        if not d.is_home:
            self.check(f"ledger {d.outputs.get(LEDGER) or LEDGER}", (LEDGER,), self._ledger)
            for output in (WORK_QUEUE, DEAD_LETTER_QUEUE):
                name = f"queue {(d.outputs.get(output) or output).rsplit('/', 1)[-1]}"
                self.check(name, (output,), partial(self._queue, output))
            for output in (DISCOVER_FUNCTION, ARCHIVE_FUNCTION):
                name = f"function {d.outputs.get(output) or output}"
                self.check(name, (output,), partial(self._function, output))
                self.check(f"{name} invocable", (output,), partial(self._dry_run, output))
        if d.is_collector:
            self.check("report in the home", (BUCKET, TABLES_LOCATION, HOME_REGION), self._report)
            return self.checks
        for table in TABLES:
            self.check(f"table {table}", (DATABASE,), partial(self._table, table))
            for kind in OPTIMIZER_TYPES:
                name = f"{kind} optimizer of {table}"
                self.check(name, (DATABASE,), partial(self._optimizer, table, kind))
        self._athena()
        return self.checks

    def _report(self) -> str:
        """The collector's last report in the home's bucket: its discovery may write there
        (the home's bucket policy, across accounts, and the key's)."""
        d = self.deployment
        account = d.client("sts").get_caller_identity()["Account"]
        key = report_key(d.prefix, account, d.aws.region_name)
        s3 = d.aws.client("s3", region=d[HOME_REGION])
        try:
            head = s3.head_object(Bucket=d[BUCKET], Key=key)
        except ClientError as error:
            if error.response.get("Error", {}).get("Code") in ("404", "NoSuchKey"):
                raise CheckFailed(
                    f"no report at s3://{d[BUCKET]}/{key} yet: its discovery writes one after "
                    "each scheduled run (see its logs for 'collector report not written')"
                ) from None
            raise
        return f"s3://{d[BUCKET]}/{key}, written {head['LastModified']:%Y-%m-%d %H:%M} UTC"

    def _bucket(self, output: str) -> str:
        self.deployment.client("s3").head_bucket(Bucket=self.deployment[output])
        return "reachable"

    def _queue(self, output: str) -> str:
        self.deployment.client("sqs").get_queue_attributes(
            QueueUrl=self.deployment[output], AttributeNames=["QueueArn"]
        )
        return "reachable"

    def _ledger(self) -> str:
        table = self.deployment.client("dynamodb").describe_table(
            TableName=self.deployment[LEDGER]
        )["Table"]
        if table["TableStatus"] != "ACTIVE":
            raise CheckFailed(f"table status {table['TableStatus']}")
        return "ACTIVE"

    def _function(self, output: str) -> str:
        configuration = self.deployment.client("lambda").get_function(
            FunctionName=self.deployment[output]
        )["Configuration"]
        state = configuration.get("State", "Active")
        if state != "Active":
            raise CheckFailed(f"state {state}: {configuration.get('StateReason', '')}")
        return f"{configuration.get('Runtime', '?')}, {state}"

    def _dry_run(self, output: str) -> str:
        """Lambda checks the function and the right to invoke it, and runs nothing."""
        self.deployment.client("lambda").invoke(
            FunctionName=self.deployment[output], InvocationType="DryRun"
        )
        return "DryRun invocation accepted"

    def _table(self, name: str) -> str:
        glue = self.deployment.client("glue")
        table = glue.get_table(DatabaseName=self.deployment[DATABASE], Name=name)["Table"]
        kind = table.get("Parameters", {}).get("table_type", "")
        if kind.upper() != "ICEBERG":
            raise CheckFailed(f"not an Iceberg table (table_type {kind or 'unset'})")
        return "Iceberg table in Glue"

    @cached_property
    def _account(self) -> str:
        """The caller's account: the Glue Data Catalog of the stack's own region."""
        return str(self.deployment.client("sts").get_caller_identity()["Account"])

    @cached_property
    def _glue(self) -> Any:
        return self.deployment.client("glue")

    def _optimizer(self, table: str, kind: str) -> str:
        """Present, enabled, and its last run not failed (no run yet passes: see why)."""
        d = self.deployment
        optimizer = Optimizer(self._glue, self._account, d[DATABASE], table, kind)
        verdict = optimizer.verdict(clock.now())
        if not verdict.healthy:
            raise CheckFailed(verdict.detail)
        return verdict.detail

    def _athena(self) -> None:
        """Every query is started first, then waited for: they run side by side."""
        d = self.deployment
        needs = (WORKGROUP, DATABASE)
        if d.missing(*needs):
            self.check("Athena queries", needs, lambda: "")
            return
        athena = Athena(d.client("athena"), d[WORKGROUP], d[DATABASE])
        pending: list[tuple[int, str]] = []  # (check, query execution)
        for table in TABLES:
            self._start(athena, f"count(*) {table}", f'SELECT count(*) FROM "{table}"', pending)
        for name, sql in self._named_queries(athena).items():
            self._start(athena, f"named query {name}", sql, pending)
        for index, execution in pending:
            self.checks[index] = self._finished(self.checks[index], athena, execution)

    def _start(self, athena: Athena, name: str, sql: str, pending: list[tuple[int, str]]) -> None:
        try:
            execution = athena.start(sql)
        except (ClientError, BotoCoreError) as error:
            self.checks.append(Check(name, False, one_line(error)))
            return
        pending.append((len(self.checks), execution))
        self.checks.append(Check(name, True, "started"))

    def _named_queries(self, athena: Athena) -> dict[str, str]:
        """The workgroup's named queries, and a failed check for each query of the `queries`
        package that it lacks (a deployment of another version)."""
        client = athena.client
        ids: list[str] = []
        try:
            for page in client.get_paginator("list_named_queries").paginate(
                WorkGroup=athena.workgroup
            ):
                ids += page.get("NamedQueryIds", [])
            found: dict[str, str] = {}
            for named_id in ids:
                query = client.get_named_query(NamedQueryId=named_id)["NamedQuery"]
                found[query["Name"]] = query["QueryString"]
        except (ClientError, BotoCoreError) as error:
            self.checks.append(Check("named queries", False, one_line(error)))
            return {}
        for name in queries.load():
            if name not in found:
                self.checks.append(
                    Check(f"named query {name}", False, "not in the workgroup's saved queries")
                )
        return dict(sorted(found.items()))

    @staticmethod
    def _finished(check: Check, athena: Athena, execution_id: str) -> Check:
        try:
            execution: Execution = athena.wait(execution_id)
        except (ClientError, BotoCoreError) as error:
            return Check(check.name, False, one_line(error))
        if execution.state != "SUCCEEDED":
            return Check(check.name, False, f"{execution.state}: {execution.reason}")
        detail = "SUCCEEDED"
        if check.name.startswith("count(*)"):
            rows = athena.rows(execution_id)
            count = next(iter(rows[0].values())) if rows and rows[0] else None
            if isinstance(count, int):
                detail += f": {counted(count, 'row')}"
        return Check(check.name, True, detail)


def run(deployment: Deployment, out: Output) -> int:
    checks = Smoke(deployment).run()
    failed = [c for c in checks if not c.passed]
    out.data(
        {
            "stack": deployment.stack,
            "passed": len(checks) - len(failed),
            "failed": len(failed),
            "checks": [{"name": c.name, "passed": c.passed, "detail": c.detail} for c in checks],
        }
    )
    out.table(
        f"smoke test of {deployment.stack} ({deployment.aws.region_name})",
        ["result", "check", "detail"],
        [["pass" if c.passed else "FAIL", c.name, c.detail] for c in checks],
    )
    out.line(
        f"{len(checks) - len(failed)} passed, {len(failed)} failed",
        style="bold red" if failed else "bold green",
    )
    return 1 if failed else 0
