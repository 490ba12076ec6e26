"""Nothing the archiver loads is missing from the Lambda asset.

infra/bundling.py leaves out parts of the dependencies that the functions never load (most of
pyarrow's optional modules, the models of AWS services they never call, what pyiceberg's Hive
catalog and CLI need). To prove that nothing needed went with them, a local archive runs in a
fresh process of the venv's Python: the simulator, moto (in a process of its own) and the
discover and archive handlers, then the custom resources' handler and the Iceberg commit,
through pyiceberg's Glue catalog (moto's Glue) and its PyArrow FileIO (moto's S3). Every module
file, shared library and other file (botocore's and boto3's JSON models, dist-info) it loaded or
opened that belongs to the Lambda package or to a distribution requirements.txt pulls in must
have its counterpart in the asset's file list. The asset holds aarch64 builds for CPython 3.13,
so names are compared modulo the platform tag.

The first run downloads the wheels from PyPI; later runs reuse cdk.out/.lambda-deps.
"""

from __future__ import annotations

import importlib.metadata
import json
import re
import subprocess
import sys
from pathlib import Path
from typing import Any

import pytest
from packaging.utils import canonicalize_name

from bench.coldstart import requirement_closure
from infra.bundling import DEFAULT_CACHE_DIR, build_bundle
from tests.helpers import ROOT

REQUIREMENTS = ROOT / "requirements.txt"
PACKAGE = ROOT / "lambdas" / "archiver"
EXTENSION_TAG = re.compile(r"\.cpython-3\d+-[a-z0-9_]+-linux-gnu\.so$")
LAMBDA_TAG = ".cpython-313-aarch64-linux-gnu.so"
NAMESPACE = "ivs_stage_archive"
# The services whose models a local archive and its commit load (botocore's data folder).
SERVICE_MODELS = {
    "ivs-realtime": "2020-07-14",
    "s3": "2006-03-01",
    "sqs": "2012-11-05",
    "dynamodb": "2012-08-10",
    "glue": "2017-03-31",
    "cloudwatch": "2010-08-01",  # the collector's report reads its archive lag
    "logs": "2014-03-28",  # the optimizers' log groups get their retention
}

# Run in a fresh process: a local archive, then its Iceberg commit through the Glue catalog.
# What the asset lacks cannot be imported or opened there, as on Lambda (pyarrow imports some
# modules only if present). argv: the files the asset lacks (JSON), where to write what the
# process loaded, opened and was refused.
LOCAL_ARCHIVE = """
import errno, json, os, subprocess, sys, types
from importlib.machinery import PathFinder

with open(sys.argv[1]) as lacking:
    ABSENT = frozenset(json.load(lacking))
refused = []
opened = set()


class NotInTheAsset:
    @staticmethod
    def find_spec(name, path=None, target=None):
        spec = PathFinder.find_spec(name, path, target)
        if spec is not None and spec.origin in ABSENT:
            refused.append(name)
            raise ModuleNotFoundError(f"{name} is not in the Lambda asset", name=name)
        return None


def every_open(event, args):
    if event == "open" and isinstance(args[0], (str, bytes)):
        path = os.path.realpath(os.fsdecode(args[0]))
        opened.add(path)
        if path in ABSENT:
            refused.append(path)
            raise FileNotFoundError(errno.ENOENT, "not in the Lambda asset", path)


sys.meta_path.insert(0, NotInTheAsset)
sys.addaudithook(every_open)


# local.moto_server's MotoServer in a process of its own: what moto (and Flask) load is not the
# archiver's.
class MotoElsewhere:
    def __init__(self, **_):  # what the stand-in account notes of each write stays unnoted
        pass

    def start(self):
        serve = (
            "import sys; from local.moto_server import MotoServer; s = MotoServer(); "
            "s.start(); print(s.url, flush=True); sys.stdin.read(); s.stop()"
        )
        self.process = subprocess.Popen(
            [sys.executable, "-c", serve], stdin=subprocess.PIPE, stdout=subprocess.PIPE, text=True
        )
        self.url = self.process.stdout.readline().strip()

    def stop(self):
        self.process.stdin.close()
        self.process.wait(timeout=60)


sys.modules["local.moto_server"] = types.ModuleType("local.moto_server")
sys.modules["local.moto_server"].MotoServer = MotoElsewhere

from local.generator import generate_scenario
from local.pipeline import EmbeddedPipeline, Options

NAMESPACE = sys.argv[3]
scenario = generate_scenario(stages=1, sessions=2, participants=6, seed=3)
with EmbeddedPipeline(scenario, Options(tps=200.0, participant_details="on")) as pipeline:
    pipeline.run()
    archived = [s["status"] for s in pipeline.account.ledger_sessions()]
    # The custom resources' function (database, tables, log groups), then the archive function's
    # commit, against moto's Glue, S3 and Logs (the pipeline's AWS_ENDPOINT_URL): pyiceberg's
    # Glue catalog, its PyArrow FileIO.
    import http.server, threading
    import boto3
    from archiver.catalog import GLUE, location_root, open_catalog
    from archiver.commit import commit_sessions
    from archiver.handlers import custom_resources
    from archiver.landing import S3Landing
    from archiver.migrate import uncommitted_sessions
    from archiver.schema import TABLES

    answers = []

    class CloudFormation(http.server.BaseHTTPRequestHandler):
        def do_PUT(self):
            answers.append(json.loads(self.rfile.read(int(self.headers["Content-Length"]))))
            self.send_response(200)
            self.end_headers()

        def log_message(self, *args):
            pass

    with http.server.HTTPServer(("127.0.0.1", 0), CloudFormation) as cloudformation:
        threading.Thread(target=cloudformation.serve_forever, daemon=True).start()
        root = location_root(GLUE, pipeline.account.bucket, "iceberg/")
        resources = {
            "GlueDatabase": {"DatabaseName": NAMESPACE},
            "IcebergTables": {
                "DatabaseName": NAMESPACE,
                "LocationRoot": root,
                "PartitionStartDate": "2023-01-01",
            },
            "LogRetention": {
                "LogGroupNames": ["/aws-glue/iceberg-compaction/logs"],
                "RetentionDays": "30",
            },
        }
        context = types.SimpleNamespace(
            log_stream_name="local", get_remaining_time_in_millis=lambda: 300_000
        )
        for kind, properties in resources.items():
            request = {
                "RequestType": "Create",
                "ResponseURL": f"http://127.0.0.1:{cloudformation.server_port}/",
                "StackId": "stack",
                "RequestId": "request",
                "LogicalResourceId": kind,
                "ResourceType": f"Custom::{kind}",
                "ResourceProperties": properties,
            }
            custom_resources.handler(request, context)
        cloudformation.shutdown()
    catalog = open_catalog(GLUE)
    landing = S3Landing(boto3.client("s3"), pipeline.account.bucket)
    landed = uncommitted_sessions(catalog, NAMESPACE, landing, "")
    commit_sessions(catalog, NAMESPACE, landed, landing.read)
    records = {
        name: int(catalog.load_table((NAMESPACE, name)).current_snapshot().summary["total-records"])
        for name in TABLES
    }
modules = [getattr(m, "__file__", None) for m in list(sys.modules.values())]
with open("/proc/self/maps") as maps:
    mapped = [line.split()[5] for line in maps if len(line.split()) > 5]
libraries = [path for path in mapped if ".so" in path.rsplit("/", 1)[-1]]
with open(sys.argv[2], "w") as out:
    json.dump(
        {
            "modules": [m for m in modules if m],
            "libraries": libraries,
            "opened": sorted(opened),
            "refused": refused,
            "records": records,
            "tables": [answer["Status"] for answer in answers],
            "statuses": archived,
        },
        out,
    )
"""


@pytest.fixture(scope="module")
def asset(tmp_path_factory: pytest.TempPathFactory) -> set[str]:
    """The asset's files, as paths relative to its root (what /var/task holds)."""
    out = tmp_path_factory.mktemp("bundle")
    build_bundle(out, REQUIREMENTS, PACKAGE, DEFAULT_CACHE_DIR)
    return {p.relative_to(out).as_posix() for p in out.rglob("*") if p.is_file()}


def bundled_files() -> dict[Path, str]:
    """Absolute path of every installed file of those distributions -> its path in the asset."""
    closure = requirement_closure(REQUIREMENTS)
    files: dict[Path, str] = {}
    for dist in importlib.metadata.distributions():
        if canonicalize_name(dist.metadata["Name"]) not in closure:
            continue
        for file in dist.files or []:
            if not file.parts or file.parts[0] == ".." or file.suffix == ".pyc":
                continue
            files[Path(str(file.locate())).resolve()] = EXTENSION_TAG.sub(LAMBDA_TAG, str(file))
    for path in PACKAGE.rglob("*.py"):
        files[path.resolve()] = path.relative_to(PACKAGE.parent).as_posix()
    return files


@pytest.fixture(scope="module")
def loaded(asset: set[str], tmp_path_factory: pytest.TempPathFactory) -> dict[str, Any]:
    work = tmp_path_factory.mktemp("loaded")
    absent = [str(path) for path, name in bundled_files().items() if name not in asset]
    (work / "absent.json").write_text(json.dumps(absent))
    result = subprocess.run(
        [
            sys.executable,
            "-c",
            LOCAL_ARCHIVE,
            str(work / "absent.json"),
            str(work / "out.json"),
            NAMESPACE,
        ],
        cwd=ROOT,
        capture_output=True,
        text=True,
        check=False,
        timeout=300,
    )
    assert result.returncode == 0, result.stderr[-3000:]
    found: dict[str, Any] = json.loads((work / "out.json").read_text())
    return found


def test_the_closure_is_what_the_lambda_needs() -> None:
    closure = requirement_closure(REQUIREMENTS)
    assert {"aws-lambda-powertools", "pydantic", "pyarrow", "boto3", "botocore"} <= closure
    assert {"s3transfer", "jmespath", "urllib3", "python-dateutil", "six"} <= closure
    # Test and local-only tools are not in it (moto pulls in the X-Ray SDK, the Lambda does not).
    assert not {"moto", "aws-xray-sdk", "duckdb", "pytest"} & closure


def test_every_file_a_local_archive_loads_is_in_the_asset(
    asset: set[str], loaded: dict[str, Any]
) -> None:
    # Without what the asset lacks, the archive is whole (2 sessions of 6 participants, 30
    # events each) and its rows are in the Iceberg tables.
    assert loaded["statuses"] == ["ARCHIVED", "ARCHIVED"]
    assert loaded["tables"] == ["SUCCESS"] * 3
    assert loaded["records"] == {"stage_sessions": 2, "participants": 12, "participant_events": 360}
    # pyarrow imports these only if present: the asset lacks them and pyarrow did without.
    assert {"pyarrow._gcsfs", "pyarrow._azurefs", "pyarrow.substrait"} <= set(loaded["refused"])
    expected = bundled_files()
    used = {Path(p).resolve() for p in loaded["modules"] + loaded["libraries"] + loaded["opened"]}
    needed = {expected[path] for path in used if path in expected}
    missing = sorted(needed - asset)
    assert not missing, f"loaded by a local archive but not in the asset: {missing}"
    # The check covers what it should: the handlers, the SDK and the models of the services the
    # functions call, pydantic and Powertools, pyarrow's Parquet and S3 code and the native
    # libraries behind them, pyiceberg's Glue catalog and PyArrow FileIO and what they import.
    models = [
        f"botocore/data/{service}/{version}/{name}.json.gz"
        for service, version in SERVICE_MODELS.items()
        for name in ("service-2", "endpoint-rule-set-1")
    ]
    assert {
        *models,
        "botocore/data/endpoints.json",
        "boto3/data/dynamodb/2012-08-10/resources-1.json",
        "archiver/handlers/archive.py",
        "archiver/handlers/discover.py",
        "archiver/handlers/custom_resources.py",
        "archiver/commit.py",
        "archiver/tables.py",
        "botocore/client.py",
        "boto3/session.py",
        "pydantic/main.py",
        "aws_lambda_powertools/utilities/batch/base.py",
        "pyarrow/parquet/core.py",
        f"pyarrow/_s3fs{LAMBDA_TAG}",
        f"pyarrow/_dataset_parquet{LAMBDA_TAG}",
        "pyarrow/libarrow_s3.so.2600",
        "pyarrow/libparquet.so.2600",
        "pyarrow/libarrow_python.so.2600",
        "pyarrow/libarrow_substrait.so.2600",
        "pyiceberg/catalog/glue.py",
        "pyiceberg/io/pyarrow.py",
        "pyiceberg/table/__init__.py",
        "rich/console.py",
        "strictyaml/__init__.py",
        f"zstandard/backend_c{LAMBDA_TAG}",
        f"pyroaring{LAMBDA_TAG}",
        f"mmh3{LAMBDA_TAG}",
    } <= needed


def test_what_the_archiver_never_loads_is_left_out(asset: set[str]) -> None:
    for gone in (
        "pyarrow/libarrow_flight.so.2600",
        f"pyarrow/_flight{LAMBDA_TAG}",
        f"pyarrow/_substrait{LAMBDA_TAG}",
        f"pyarrow/_orc{LAMBDA_TAG}",
        f"pyarrow/_gcsfs{LAMBDA_TAG}",
        f"pyarrow/_azurefs{LAMBDA_TAG}",
        f"pyarrow/_pyarrow_cpp_tests{LAMBDA_TAG}",
        "pyarrow/libarrow_python.so",  # a copy of libarrow_python.so.2600
        "pyarrow/libarrow_python.so.2600.1.0",
        f"zstandard/_cffi{LAMBDA_TAG}",
        "zstandard/backend_cffi.py",
        "pyiceberg/cli/console.py",
    ):
        assert gone not in asset, gone
    tops = {name.split("/")[0] for name in asset}
    unused = {"hive_metastore", "fb303", "click", "requests", "charset_normalizer", "idna"}
    assert not tops & (unused | {"fsspec", "pygments", "markdown_it", "mdurl"})
    assert not [f for f in asset if f.startswith("pyarrow/src/")]
    assert not [f for f in asset if f.startswith("aws_lambda_powertools/event_handler/")]
    # Of botocore's service models, those the functions call and those its credential
    # providers may call; of boto3's resource models, DynamoDB's (the ledger's Table).
    services = {
        f.split("/")[2] for f in asset if f.startswith("botocore/data/") and f.count("/") > 2
    }
    assert services == {*SERVICE_MODELS, "sts", "sso", "sso-oidc", "signin"}
    assert "botocore/data/endpoints.json" in asset
    assert {name.split("/")[2] for name in asset if name.startswith("boto3/data/")} == {"dynamodb"}
