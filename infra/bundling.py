"""Bundles the Lambda code without Docker: the `archiver` package plus its requirements, installed
by pip as manylinux aarch64 wheels for CPython 3.13 (what the functions run on). The Python 3.13
runtime is Amazon Linux 2023 (glibc 2.34), so manylinux_2_28 wheels run there; pyarrow publishes
no manylinux2014 wheel since version 21.

Everything the functions import is bundled, boto3 and botocore included: the runtime's own SDK
lags the service, and an older `ivs-realtime` model would drop new API members without a word.
What the functions never load is left out (`UNUSED`, `ONLY`): most of pyarrow's optional
modules, every AWS service model but those of the services called, what pyiceberg's Hive catalog
and CLI need; tests/integration/infra/test_asset_files.py proves a local archive loads nothing
the bundle lacks.

The pip result is cached by a hash of requirements.txt and the pip arguments, so a repeated
synth only copies files. The asset hash is computed from the same inputs (CUSTOM), so CDK skips
bundling altogether when an identical asset is already staged in cdk.out. Without that cache,
pip needs a package index: `prepare` builds it before jsii asks for the bundle, so that a synth
without one ends in one line naming the fix instead of a jsii traceback.
"""

from __future__ import annotations

import compileall
import hashlib
import os
import py_compile
import re
import shutil
import subprocess
import sys
import tempfile
from fnmatch import fnmatch
from pathlib import Path
from typing import Any

import aws_cdk as cdk
import jsii
from aws_cdk import aws_lambda as lambda_

from infra import LAMBDAS_DIR, REPO_ROOT

PACKAGE = "archiver"
PYTHON_VERSION = "3.13"
PIP_PLATFORM_ARGS = (
    "--platform",
    "manylinux2014_aarch64",
    "--platform",
    "manylinux_2_28_aarch64",
    "--only-binary=:all:",
    "--python-version",
    PYTHON_VERSION,
    "--implementation",
    "cp",
)
# What the functions never load, as globs under the bundle's root.
# tests/integration/infra/test_asset_files.py proves it: a local archive, with its Iceberg
# commit through the Glue catalog, loads none of it.
UNUSED = (
    # pyarrow: Arrow Flight, the Substrait and ORC modules, Gandiva, the GCS, Azure and HDFS
    # filesystems, its C++ test module and sources. libarrow_substrait stays: libarrow_python links
    # against it. The S3 filesystem stays (`_s3fs`, libarrow_s3): pyiceberg's PyArrow FileIO reads
    # and writes s3:// through it.
    "pyarrow/_flight.*",
    "pyarrow/flight.py",
    "pyarrow/libarrow_flight.so*",
    "pyarrow/libarrow_python_flight.so*",
    "pyarrow/_substrait.*",
    "pyarrow/substrait.py",
    "pyarrow/_orc.*",
    "pyarrow/_dataset_orc.*",
    "pyarrow/orc.py",
    "pyarrow/gandiva.*",
    "pyarrow/libgandiva.so*",
    "pyarrow/_gcsfs.*",
    "pyarrow/_azurefs.*",
    "pyarrow/_hdfs.*",
    "pyarrow/_pyarrow_cpp_tests.*",
    "pyarrow/conftest.py",
    "pyarrow/src",
    # pyiceberg: its Hive catalog's Thrift client (vendored as top-level packages) and its CLI; of
    # its dependencies, the CLI's (click), the REST catalog's and the fsspec FileIO's (requests,
    # with charset_normalizer and idna; fsspec: our catalogs name PyArrow's FileIO), and what only
    # rich's syntax highlighting and Markdown load (rich draws pyiceberg's schema mismatch table,
    # which needs neither).
    "hive_metastore",
    "fb303",
    "pyiceberg/cli",
    "click",
    "requests",
    "charset_normalizer",
    "idna",
    "fsspec",
    "pygments",
    "markdown_it",
    "mdurl",
    # zstandard (pyiceberg's Avro and Puffin codecs): the CFFI backend; the C backend loads first.
    "zstandard/_cffi.*",
    "zstandard/backend_cffi.py",
    # Powertools' event handler (REST, GraphQL and Bedrock agent routers).
    "aws_lambda_powertools/event_handler",
)
# Folders of one subfolder per service or utility, and the subfolders kept; the others go.
ONLY = {
    # botocore's service models (~22 MB): the services the functions call (IVS, S3, SQS, DynamoDB,
    # CloudWatch for the collector's report, CloudWatch Logs for the optimizers' log groups'
    # retention; Glue and S3 from pyiceberg's Glue catalog, which writes files through pyarrow,
    # not botocore),
    # and those botocore's credential providers may call for a configured profile (STS, SSO,
    # SSO OIDC, sign-in). Lambda gives the functions credentials in the environment.
    "botocore/data": (
        "ivs-realtime",
        "s3",
        "sqs",
        "dynamodb",
        "cloudwatch",
        "logs",
        "glue",
        "sts",
        "sso",
        "sso-oidc",
        "signin",
    ),
    # boto3's resource models: the ledger's DynamoDB Table.
    "boto3/data": ("dynamodb",),
    # Powertools' utilities: batch processing (and the event data classes it reads records with),
    # Parser models, the Lambda context's type, and the JMESPath functions Logger imports.
    "aws_lambda_powertools/utilities": (
        "batch",
        "data_classes",
        "jmespath_utils",
        "parser",
        "typing",
    ),
}
# Debug information in native libraries is never read at run time (pyroaring's and zstandard's
# wheels carry ~16 MB of it). llvm-strip removes it from ELF files of any architecture; a host
# without it (the asset is built for aarch64 wherever synth runs) bundles the libraries as they are.
ELF_STRIPPER = shutil.which("llvm-strip")
# Never needed at run time: C headers, Cython sources, test suites, byte code of the build host.
STRIP_DIRS = ("__pycache__", "tests", "include")
STRIP_SUFFIXES = (".pyx", ".pxd", ".pxi", ".h", ".hpp", ".pyc")
# Lambda's /var/task is read-only: without byte code in the asset, every cold start would compile
# every module it imports (the archive handler's imports: ~0.5 s of CPU). The bundle carries it,
# compiled by this Python when it is the runtime's 3.13 (byte code is per minor version). Hash-
# based and unchecked: the files' times in the asset mean nothing, and nothing edits /var/task.
TASK_ROOT = "/var/task"
COMPILES_BYTE_CODE = sys.version_info[:2] == tuple(int(n) for n in PYTHON_VERSION.split("."))
DEFAULT_CACHE_DIR = REPO_ROOT / "cdk.out" / ".lambda-deps"
BUNDLING_STACKS = "aws:cdk:bundling-stacks"


def _digest(*parts: bytes) -> str:
    h = hashlib.sha256()
    for part in parts:
        h.update(len(part).to_bytes(8, "big"))
        h.update(part)
    return h.hexdigest()


def dependencies_hash(requirements: Path) -> str:
    """Changes with the requirements, the pip arguments or what is stripped after pip."""
    rules = (
        PIP_PLATFORM_ARGS,
        UNUSED,
        ONLY,
        STRIP_DIRS,
        STRIP_SUFFIXES,
        COMPILES_BYTE_CODE,
        ELF_STRIPPER is not None,
    )
    return _digest(requirements.read_bytes(), repr(rules).encode())[:24]


def source_hash(requirements: Path, package_dir: Path) -> str:
    """Changes whenever the bundle's content would: requirements or any package file."""
    parts = [dependencies_hash(requirements).encode()]
    for path in sorted(package_dir.rglob("*")):
        if path.is_file() and "__pycache__" not in path.parts and path.suffix != ".pyc":
            parts += [path.relative_to(package_dir).as_posix().encode(), path.read_bytes()]
    return _digest(*parts)


class BundlingError(Exception):
    """The bundle cannot be built; the message is one line naming the cause and the fix."""


_VERSIONED_LIBRARY = re.compile(r"^(lib.+\.so)((?:\.\d+)*)$")


def _drop_duplicate_libraries(directory: Path) -> None:
    """Wheels hold no symlinks, so `libx.so`, `libx.so.N` and `libx.so.N.M.P` are three copies
    of one library. The loader asks for the SONAME, `libx.so.N`: keep that one alone."""
    copies: dict[str, list[tuple[int, Path]]] = {}
    for path in directory.iterdir():
        match = _VERSIONED_LIBRARY.match(path.name)
        if match and path.is_file():
            copies.setdefault(match.group(1), []).append((match.group(2).count("."), path))
    for found in copies.values():
        if [parts for parts, _ in found].count(1) == 1:
            for parts, path in found:
                if parts != 1:
                    path.unlink()


def _strip(root: Path) -> None:
    for path in sorted(root.rglob("*"), key=lambda p: len(p.parts), reverse=True):
        if path.is_dir() and path.name in STRIP_DIRS:
            shutil.rmtree(path, ignore_errors=True)
        elif path.is_file() and path.suffix in STRIP_SUFFIXES:
            path.unlink()
    shutil.rmtree(root / "bin", ignore_errors=True)
    unused = [path for pattern in UNUSED for path in root.glob(pattern)]
    for folder, kept in ONLY.items():
        if (root / folder).is_dir():
            unused += [p for p in (root / folder).iterdir() if p.is_dir() and p.name not in kept]
    for path in unused:
        shutil.rmtree(path) if path.is_dir() else path.unlink()
    if (root / "pyarrow").is_dir():
        _drop_duplicate_libraries(root / "pyarrow")
    if ELF_STRIPPER is not None:
        debug = [p for p in root.rglob("*.so*") if p.is_file() and has_debug_info(p)]
        if debug:
            subprocess.run([ELF_STRIPPER, "--strip-debug", *map(str, debug)], check=True)


def has_debug_info(path: Path) -> bool:
    """Whether `path` is a 64-bit little-endian ELF file with DWARF sections (`.debug_*`)."""
    with path.open("rb") as elf:
        header = elf.read(64)
        if header[:6] != b"\x7fELF\x02\x01":
            return False
        section_headers = int.from_bytes(header[0x28:0x30], "little")
        entry_size = int.from_bytes(header[0x3A:0x3C], "little")
        names_index = int.from_bytes(header[0x3E:0x40], "little")
        elf.seek(section_headers + names_index * entry_size)
        names = elf.read(entry_size)
        elf.seek(int.from_bytes(names[0x18:0x20], "little"))
        return b".debug_" in elf.read(int.from_bytes(names[0x20:0x28], "little"))


def compile_byte_code(directory: Path, root: Path) -> None:
    """Byte code for every module under `directory`, a part of the bundle at `root`, as Lambda
    finds it under /var/task (tracebacks name those paths). Nothing when this Python is not the
    runtime's."""
    if not COMPILES_BYTE_CODE:
        return
    compileall.compile_dir(
        directory,
        quiet=2,
        stripdir=str(root),
        prependdir=TASK_ROOT,
        invalidation_mode=py_compile.PycInvalidationMode.UNCHECKED_HASH,
    )


def _pip_failure(stderr: str, requirements: Path, cache_dir: Path) -> str:
    """pip's many lines -> one: what was missing, and what fixes it."""
    stderr = re.sub(r"\x1b\[[0-9;]*m", "", stderr)  # colours, if pip used them all the same
    missing = re.search(r"No matching distribution found for (\S+)", stderr)
    if missing:
        return (
            f"cannot bundle the Lambda dependencies: pip found no {missing.group(1)} wheel for "
            f"Lambda arm64 (no package index reachable, or none has it) and {_shown(cache_dir)} "
            f"holds no build of this {requirements.name} yet; run `make synth` once with access "
            "to PyPI (or a mirror set in PIP_INDEX_URL): later synths reuse the cache offline"
        )
    errors = [line.removeprefix("ERROR: ") for line in stderr.splitlines() if "ERROR:" in line]
    detail = errors[-1] if errors else (stderr.strip().splitlines() or ["no output"])[-1]
    return f"cannot bundle the Lambda dependencies: pip failed: {detail}"


def _shown(path: Path) -> str:
    try:
        return str(path.relative_to(REPO_ROOT))
    except ValueError:
        return str(path)


def install_dependencies(requirements: Path, cache_dir: Path) -> Path:
    """pip-installs the requirements for Lambda arm64 once per requirements hash."""
    target = cache_dir / dependencies_hash(requirements)
    if target.is_dir():
        return target
    cache_dir.mkdir(parents=True, exist_ok=True)
    work = Path(tempfile.mkdtemp(prefix="deps-", dir=cache_dir))
    command = [sys.executable, "-m", "pip", "install", "--quiet", "--no-color"]
    command += ["--disable-pip-version-check"]
    command += ["--no-compile", "--target", str(work), "-r", str(requirements)]
    command += PIP_PLATFORM_ARGS
    result = subprocess.run(command, capture_output=True, text=True, check=False)
    if result.returncode != 0:
        shutil.rmtree(work, ignore_errors=True)
        raise BundlingError(_pip_failure(result.stderr, requirements, cache_dir))
    _strip(work)
    compile_byte_code(work, work)
    try:
        os.replace(work, target)  # atomic: a concurrent synth may have won the race
    except OSError:
        shutil.rmtree(work, ignore_errors=True)
    return target


def build_bundle(output_dir: Path, requirements: Path, package_dir: Path, cache_dir: Path) -> None:
    """Writes the deployable tree: dependencies, then the package (not the byte code of this
    checkout: the package's is compiled afresh, as the dependencies' was)."""
    shutil.copytree(install_dependencies(requirements, cache_dir), output_dir, dirs_exist_ok=True)
    shutil.copytree(
        package_dir,
        output_dir / package_dir.name,
        dirs_exist_ok=True,
        ignore=shutil.ignore_patterns("__pycache__", "*.pyc"),
    )
    compile_byte_code(output_dir / package_dir.name, output_dir)


@jsii.implements(cdk.ILocalBundling)
class LocalPipBundling:
    """CDK's local bundling hook: runs on the host, so no Docker image is ever pulled."""

    def __init__(self, requirements: Path, package_dir: Path, cache_dir: Path) -> None:
        self.requirements = requirements
        self.package_dir = package_dir
        self.cache_dir = cache_dir

    def try_bundle(self, output_dir: str, *_options: Any, **_keywords: Any) -> bool:
        # jsii passes the BundlingOptions struct positionally; none of its fields apply here.
        build_bundle(Path(output_dir), self.requirements, self.package_dir, self.cache_dir)
        return True


def prepare(
    app: cdk.App,
    stack_name: str,
    requirements: Path = REPO_ROOT / "requirements.txt",
    cache_dir: Path = DEFAULT_CACHE_DIR,
) -> None:
    """Builds the bundle's dependencies before the stack is defined, when this synth bundles the
    stack at all (the CLI's `aws:cdk:bundling-stacks`; `cdk ls` or `cdk destroy` bundle none).
    A failure is then a `BundlingError` in Python, not one raised inside a jsii callback."""
    patterns = app.node.try_get_context(BUNDLING_STACKS)
    if patterns is None or any(fnmatch(stack_name, pattern) for pattern in patterns):
        install_dependencies(requirements, cache_dir)


def lambda_code(
    requirements: Path = REPO_ROOT / "requirements.txt",
    package_dir: Path = LAMBDAS_DIR / PACKAGE,
    cache_dir: Path = DEFAULT_CACHE_DIR,
) -> lambda_.Code:
    """The one asset both functions run."""
    return lambda_.Code.from_asset(
        str(package_dir.parent),
        asset_hash=source_hash(requirements, package_dir),
        asset_hash_type=cdk.AssetHashType.CUSTOM,
        bundling=cdk.BundlingOptions(
            image=cdk.DockerImage.from_registry("unused-local-bundling-only"),
            local=LocalPipBundling(requirements, package_dir, cache_dir),
        ),
    )
