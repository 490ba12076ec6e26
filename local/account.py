"""The stand-in AWS account of an embedded pipeline (local/pipeline.py): a moto server on
loopback with what the stack creates (the archive bucket, the ledger table, the work queue and
its dead-letter queue), each under a name of its own, and what a run leaves in them. A run
over several places (local/places.py) adds a collector's resources per place
(`add_collector`): one bucket, as one home holds it, and a ledger and queues per place."""

from __future__ import annotations

import json
import logging
import shutil
import threading
import uuid
from collections.abc import Callable
from dataclasses import dataclass
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import boto3

from archiver import collector_report, retry
from archiver.collector_report import FOLDER as REPORT_FOLDER
from archiver.landing import parse_key
from archiver.ledger import Ledger
from archiver.schema import TABLES

REGION = "us-east-1"
ACCOUNT = "123456789012"
NAME = "ivs-stage-archive"
MAX_RECEIVES = retry.MAX_RECEIVES  # then SQS moves the message to the dead-letter queue
# A message not deleted comes back this long after its invocation (the local queue's
# visibility timeout, short so that a failed message is retried at once).
RETRY_AFTER_S = 1


@dataclass(frozen=True)
class Collector:
    """A collector's own resources: its ledger, work queue and dead-letter queue."""

    ledger_table: str
    queue_url: str
    dlq_url: str


class StandInAccount:
    """Use `start()`, then `create_resources()` with `environment()` in effect, and `stop()`.

    It notes when each object of the bucket was last written, on `clock` (the pipeline's: the
    simulated time of a live replay), for `last_landed()`; and it keeps what it takes off a
    dead-letter queue (`dead_letters()`)."""

    def __init__(self, clock: Callable[[], datetime] | None = None) -> None:
        from local.moto_server import MotoServer  # here: a worker process need not load moto

        self._clock = clock or (lambda: datetime.now(UTC))
        self._written: dict[str, datetime] = {}  # "/<bucket>/<key>" -> when last written
        self._dead: dict[str, list[str]] = {}  # dead-letter queue URL -> the bodies taken off
        self._dead_lock = threading.Lock()
        self.moto = MotoServer(written=self._note_written)
        logging.getLogger("werkzeug").setLevel(logging.ERROR)  # moto's request log
        # moto keeps its state per process: unique names keep pipelines apart.
        suffix = uuid.uuid4().hex[:8]
        self.bucket = f"{NAME}-{suffix}"
        self.ledger_table = f"{NAME}-ledger-{suffix}"
        self._queue_name = f"{NAME}-work-{suffix}"
        self._suffix = suffix
        self.url = ""
        self.queue_url = ""
        self.dlq_url = ""

    def start(self) -> None:
        self.moto.start()
        self.url = self.moto.url

    def stop(self) -> None:
        self.moto.stop()

    def environment(self) -> dict[str, str]:
        """What points boto3 at this account."""
        return {
            "AWS_ACCESS_KEY_ID": "testing",
            "AWS_SECRET_ACCESS_KEY": "testing",
            "AWS_SESSION_TOKEN": "testing",
            "AWS_DEFAULT_REGION": REGION,
            "AWS_REGION": REGION,
            "AWS_ENDPOINT_URL": self.url,
        }

    def create_resources(self) -> None:
        self.s3 = boto3.client("s3")
        self.sqs = boto3.client("sqs")
        self.s3.create_bucket(Bucket=self.bucket)
        own = self._collector(self.ledger_table, self._queue_name)
        self.dlq_url, self.queue_url = own.dlq_url, own.queue_url
        self.collectors: list[Collector] = []

    def add_collector(self, name: str) -> Collector:
        """A further collector's ledger and queues (a place of a run over several)."""
        made = self._collector(
            f"{NAME}-ledger-{name}-{self._suffix}", f"{NAME}-work-{name}-{self._suffix}"
        )
        self.collectors.append(made)
        return made

    def _collector(self, ledger_table: str, queue_name: str) -> Collector:
        create_ledger(boto3.client("dynamodb"), ledger_table)
        dlq_url = self.sqs.create_queue(QueueName=f"{queue_name}-dlq")["QueueUrl"]
        dlq_arn = self.sqs.get_queue_attributes(QueueUrl=dlq_url, AttributeNames=["QueueArn"])[
            "Attributes"
        ]["QueueArn"]
        redrive = {"deadLetterTargetArn": dlq_arn, "maxReceiveCount": str(MAX_RECEIVES)}
        queue_url = self.sqs.create_queue(
            QueueName=queue_name,
            Attributes={
                "VisibilityTimeout": str(RETRY_AFTER_S),
                "RedrivePolicy": json.dumps(redrive),
            },
        )["QueueUrl"]
        return Collector(ledger_table, queue_url, dlq_url)

    def queue_depth(self, queue_url: str | None = None) -> int:
        """Messages in the work queue (or another collector's): visible, in flight, or delayed
        (a failed session waiting for its next try)."""
        return queue_depth(self.sqs, queue_url or self.queue_url)

    def ledger_sessions(self, ledger_table: str | None = None) -> list[dict[str, Any]]:
        return Ledger(ledger_table or self.ledger_table).sessions()

    def dead_letters(self, dlq_url: str | None = None) -> list[str]:
        """The bodies of every message dead-lettered so far on the dead-letter queue (or
        another collector's): those that reach it are taken off and kept here, so that each
        call returns all of them, in the order they were taken (a live replay looks while it
        runs, the account at the end)."""
        url = dlq_url or self.dlq_url
        client = self.sqs
        with self._dead_lock:
            taken = self._dead.setdefault(url, [])
            while messages := client.receive_message(QueueUrl=url, MaxNumberOfMessages=10).get(
                "Messages", []
            ):
                for message in messages:
                    taken.append(message["Body"])
                    client.delete_message(QueueUrl=url, ReceiptHandle=message["ReceiptHandle"])
            return list(taken)

    def _note_written(self, path: str) -> None:
        self._written[path] = self._clock()

    def last_landed(self, prefix: str = "") -> dict[tuple[str, str], datetime]:
        """(stage id, session id) -> when the last of its landing objects in the bucket was
        written, on the account's clock."""
        found: dict[tuple[str, str], datetime] = {}
        head = f"/{self.bucket}/"
        for path, when in list(self._written.items()):
            parsed = parse_key(path.removeprefix(head), prefix) if path.startswith(head) else None
            if parsed is not None:
                key = (parsed.stage_id, parsed.session_id)
                found[key] = max(when, found.get(key, when))
        return found

    def object_keys(self) -> list[str]:
        """Every object of the bucket: the landing objects and the collectors' reports."""
        paginator = self.s3.get_paginator("list_objects_v2")
        return sorted(
            obj["Key"]
            for page in paginator.paginate(Bucket=self.bucket)
            for obj in page.get("Contents", [])
        )

    def landing_keys(self, prefix: str = "") -> list[str]:
        """The landing objects alone (the three tables' folders under `prefix`)."""
        folders = tuple(f"{prefix}{table}/" for table in TABLES)
        return [key for key in self.object_keys() if key.startswith(folders)]

    def mirror(self, out: Path, prefix: str = "") -> list[str]:
        """Copy the bucket into `out` with the same keys (replacing the tables' folders and
        the collectors' reports)."""
        for folder in (*TABLES, REPORT_FOLDER):
            shutil.rmtree(out / prefix / folder, ignore_errors=True)
        keys = self.object_keys()
        for key in keys:
            target = out / key
            target.parent.mkdir(parents=True, exist_ok=True)
            self.s3.download_file(self.bucket, key, str(target))
        return keys


def queue_depth(sqs: Any, queue_url: str) -> int:
    """Messages in a queue, visible, in flight or delayed (as a collector reports them to its
    home)."""
    return sum(collector_report.queue_depth(sqs, queue_url).values())


def create_ledger(dynamodb: Any, name: str) -> None:
    """The ledger table, keyed as the stack creates it (infra/archiver.py)."""
    dynamodb.create_table(
        TableName=name,
        KeySchema=[
            {"AttributeName": "pk", "KeyType": "HASH"},
            {"AttributeName": "sk", "KeyType": "RANGE"},
        ],
        AttributeDefinitions=[
            {"AttributeName": "pk", "AttributeType": "S"},
            {"AttributeName": "sk", "AttributeType": "S"},
        ],
        BillingMode="PAY_PER_REQUEST",
    )
