"""Bundles the Lambda code without Docker: the `archiver` package plus its requirements, installed
by pip as manylinux aarch64 wheels for CPython 3.13 (what the functions run on). The Python 3.13
runtime is Amazon Linux 2023 (glibc 2.34), so manylinux_2_28 wheels run there; pyarrow publishes
no manylinux2014 wheel since version 21.

The pip result is cached by a hash of requirements.txt and the pip arguments, so a repeated
synth only copies files. The asset hash is computed from the same inputs (CUSTOM), so CDK skips
bundling altogether when an identical asset is already staged in cdk.out.
"""

from __future__ import annotations

import hashlib
import os
import shutil
import subprocess
import sys
import tempfile
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
# The Lambda runtime provides these; a bundled copy would only add weight (and drift).
# Import name -> distribution name.
RUNTIME_PROVIDED = {
    "boto3": "boto3",
    "botocore": "botocore",
    "s3transfer": "s3transfer",
    "jmespath": "jmespath",
    "urllib3": "urllib3",
    "dateutil": "python_dateutil",
    "six": "six",
}
# Never needed at run time: C headers, Cython sources, test suites, byte code of the build host.
STRIP_DIRS = ("__pycache__", "tests", "include")
STRIP_SUFFIXES = (".pyx", ".pxd", ".pxi", ".h", ".hpp", ".pyc")
DEFAULT_CACHE_DIR = REPO_ROOT / "cdk.out" / ".lambda-deps"


def _digest(*parts: bytes) -> str:
    h = hashlib.sha256()
    for part in parts:
        h.update(len(part).to_bytes(8, "big"))
        h.update(part)
    return h.hexdigest()


def dependencies_hash(requirements: Path) -> str:
    return _digest(requirements.read_bytes(), " ".join(PIP_PLATFORM_ARGS).encode())[:24]


def source_hash(requirements: Path, package_dir: Path) -> str:
    """Changes whenever the bundle's content would: requirements or any package file."""
    parts = [dependencies_hash(requirements).encode()]
    for path in sorted(package_dir.rglob("*")):
        if path.is_file() and "__pycache__" not in path.parts and path.suffix != ".pyc":
            parts += [path.relative_to(package_dir).as_posix().encode(), path.read_bytes()]
    return _digest(*parts)


def _strip(root: Path) -> None:
    for module, dist in RUNTIME_PROVIDED.items():
        (root / f"{module}.py").unlink(missing_ok=True)
        for path in [root / module, *root.glob(f"{dist}-*.dist-info")]:
            shutil.rmtree(path, ignore_errors=True)
    for path in sorted(root.rglob("*"), key=lambda p: len(p.parts), reverse=True):
        if path.is_dir() and path.name in STRIP_DIRS:
            shutil.rmtree(path, ignore_errors=True)
        elif path.is_file() and path.suffix in STRIP_SUFFIXES:
            path.unlink()
    shutil.rmtree(root / "bin", ignore_errors=True)


def install_dependencies(requirements: Path, cache_dir: Path) -> Path:
    """pip-installs the requirements for Lambda arm64 once per requirements hash."""
    target = cache_dir / dependencies_hash(requirements)
    if target.is_dir():
        return target
    cache_dir.mkdir(parents=True, exist_ok=True)
    work = Path(tempfile.mkdtemp(prefix="deps-", dir=cache_dir))
    command = [sys.executable, "-m", "pip", "install", "--quiet", "--disable-pip-version-check"]
    command += ["--no-compile", "--target", str(work), "-r", str(requirements)]
    command += PIP_PLATFORM_ARGS
    result = subprocess.run(command, capture_output=True, text=True, check=False)
    if result.returncode != 0:
        shutil.rmtree(work, ignore_errors=True)
        raise RuntimeError(
            f"bundling the Lambda dependencies failed (pip needs PyPI or a cache in {cache_dir}):"
            f"\n{result.stderr.strip()}"
        )
    _strip(work)
    try:
        os.replace(work, target)  # atomic: a concurrent synth may have won the race
    except OSError:
        shutil.rmtree(work, ignore_errors=True)
    return target


def build_bundle(output_dir: Path, requirements: Path, package_dir: Path, cache_dir: Path) -> None:
    """Writes the deployable tree: dependencies, then the package (never its byte code)."""
    shutil.copytree(install_dependencies(requirements, cache_dir), output_dir, dirs_exist_ok=True)
    shutil.copytree(
        package_dir,
        output_dir / package_dir.name,
        dirs_exist_ok=True,
        ignore=shutil.ignore_patterns("__pycache__", "*.pyc"),
    )


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
