"""Nothing the archiver loads is missing from the Lambda asset.

infra/bundling.py leaves out parts of the dependencies (most of them pyarrow's) that the archiver
never loads. To prove that nothing needed went with them, a local archive runs in a fresh process
of the venv's Python (the simulator, moto and both Lambda handlers, then a read of the archive
through pyarrow's S3 filesystem and datasets, as pyiceberg's PyArrow FileIO will read and write
s3://), and every module file and shared library it loaded that belongs to the Lambda package or
to a distribution requirements.txt pulls in must have its counterpart in the asset's file list.
The asset holds aarch64 builds for CPython 3.13, so names are compared modulo the platform tag.

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

import infra  # noqa: F401 - puts lambdas/ on sys.path and quiets jsii before aws_cdk loads
from bench.coldstart import requirement_closure
from infra.bundling import DEFAULT_CACHE_DIR, build_bundle

ROOT = Path(__file__).resolve().parent.parent
REQUIREMENTS = ROOT / "requirements.txt"
PACKAGE = ROOT / "lambdas" / "archiver"
EXTENSION_TAG = re.compile(r"\.cpython-3\d+-[a-z0-9_]+-linux-gnu\.so$")
LAMBDA_TAG = ".cpython-313-aarch64-linux-gnu.so"

# Run in a fresh process: a local archive, then the archive read back the way pyiceberg's
# PyArrow FileIO reads s3://. Modules whose file the asset lacks cannot be imported there, as on
# Lambda (pyarrow imports some only if present). argv: the files the asset lacks (JSON), where
# to write what the process loaded and what it was refused.
LOCAL_ARCHIVE = """
import json, sys
from importlib.machinery import PathFinder

with open(sys.argv[1]) as lacking:
    ABSENT = set(json.load(lacking))
refused = []


class NotInTheAsset:
    @staticmethod
    def find_spec(name, path=None, target=None):
        spec = PathFinder.find_spec(name, path, target)
        if spec is not None and spec.origin in ABSENT:
            refused.append(name)
            raise ModuleNotFoundError(f"{name} is not in the Lambda asset", name=name)
        return None


sys.meta_path.insert(0, NotInTheAsset)

from local.generator import generate_scenario
from local.pipeline import EmbeddedPipeline, Options

scenario = generate_scenario(stages=1, sessions=2, participants=6, seed=3)
with EmbeddedPipeline(scenario, Options(tps=200.0, participant_details="on")) as pipeline:
    pipeline.run()
    import pyarrow.dataset as ds
    from pyarrow.fs import S3FileSystem

    s3 = S3FileSystem(
        access_key="testing", secret_key="testing", region="us-east-1", scheme="http",
        endpoint_override=pipeline.moto_url.removeprefix("http://"),
    )
    events = ds.dataset(
        f"{pipeline.bucket}/participant_events", filesystem=s3, format="parquet"
    ).count_rows()
    archived = [s["status"] for s in pipeline.ledger_sessions()]
modules = [getattr(m, "__file__", None) for m in list(sys.modules.values())]
with open("/proc/self/maps") as maps:
    mapped = [line.split()[5] for line in maps if len(line.split()) > 5]
libraries = [path for path in mapped if ".so" in path.rsplit("/", 1)[-1]]
with open(sys.argv[2], "w") as out:
    json.dump(
        {
            "modules": [m for m in modules if m],
            "libraries": libraries,
            "refused": refused,
            "events": events,
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
        [sys.executable, "-c", LOCAL_ARCHIVE, str(work / "absent.json"), str(work / "out.json")],
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
    # events each) and reads back through pyarrow's S3 filesystem.
    assert loaded["statuses"] == ["ARCHIVED", "ARCHIVED"]
    assert loaded["events"] == 360
    # pyarrow imports these only if present: the asset lacks them and pyarrow did without.
    assert {"pyarrow._gcsfs", "pyarrow._azurefs", "pyarrow.substrait"} <= set(loaded["refused"])
    expected = bundled_files()
    used = {Path(p).resolve() for p in loaded["modules"] + loaded["libraries"]}
    needed = {expected[path] for path in used if path in expected}
    missing = sorted(needed - asset)
    assert not missing, f"loaded by a local archive but not in the asset: {missing}"
    # The check covers what it should: the handlers, the SDK, pyarrow's Parquet and S3 code
    # and the native libraries behind them.
    assert {
        "archiver/handlers/archive.py",
        "archiver/handlers/discover.py",
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
    ):
        assert gone not in asset, gone
    assert not [f for f in asset if f.startswith("pyarrow/src/")]
