"""The Lambda bundle, built the way `cdk synth` builds it (pip for Lambda arm64, no Docker).

The first run downloads the wheels from PyPI (about 60 MB); later runs reuse the pip cache in
cdk.out/.lambda-deps, shared with `make synth`.
"""

from __future__ import annotations

import shutil
from pathlib import Path

import pytest

import infra  # noqa: F401 - puts lambdas/ on sys.path and quiets jsii before aws_cdk loads
from infra.bundling import (
    DEFAULT_CACHE_DIR,
    RUNTIME_PROVIDED,
    build_bundle,
    dependencies_hash,
    source_hash,
)

ROOT = Path(__file__).resolve().parent.parent
REQUIREMENTS = ROOT / "requirements.txt"
PACKAGE = ROOT / "lambdas" / "archiver"
LAMBDA_UNZIPPED_LIMIT = 200 * 1024 * 1024  # ours; Lambda's own limit is 250 MB
ELF_MACHINE_AARCH64 = 0xB7


@pytest.fixture(scope="module")
def bundle(tmp_path_factory: pytest.TempPathFactory) -> Path:
    out = tmp_path_factory.mktemp("bundle")
    build_bundle(out, REQUIREMENTS, PACKAGE, DEFAULT_CACHE_DIR)
    return out


def elf_machine(path: Path) -> int:
    header = path.read_bytes()[:20]
    assert header[:4] == b"\x7fELF", path
    return int.from_bytes(header[18:20], "little")


def test_unzipped_bundle_is_under_200_mb(bundle: Path) -> None:
    size = sum(p.stat().st_size for p in bundle.rglob("*") if p.is_file())
    assert 10 * 1024 * 1024 < size < LAMBDA_UNZIPPED_LIMIT, f"{size / 2**20:.0f} MiB"


def test_bundle_holds_the_handlers_and_the_requirements(bundle: Path) -> None:
    for handler in ("discover", "archive"):
        assert (bundle / "archiver" / "handlers" / f"{handler}.py").is_file()
    for module in ("schema", "settings"):
        assert (bundle / "archiver" / f"{module}.py").read_bytes() == (
            PACKAGE / f"{module}.py"
        ).read_bytes()
    for dependency in ("aws_lambda_powertools", "pyarrow", "pydantic", "pydantic_core"):
        assert (bundle / dependency / "__init__.py").is_file(), dependency
    assert not list(bundle.rglob("__pycache__"))
    assert not list(bundle.rglob("*.pyc"))


def test_native_code_is_for_lambda_arm64_python_3_13(bundle: Path) -> None:
    extensions = list(bundle.glob("pyarrow/*.so")) + list(bundle.glob("pydantic_core/*.so"))
    assert extensions
    for extension in extensions:
        assert "x86_64" not in extension.name
        assert elf_machine(extension) == ELF_MACHINE_AARCH64, extension
    assert list(bundle.glob("pyarrow/lib.cpython-313-aarch64-linux-gnu.so"))


def test_what_the_runtime_provides_is_not_bundled(bundle: Path) -> None:
    for module, dist in RUNTIME_PROVIDED.items():
        assert not (bundle / module).exists() and not (bundle / f"{module}.py").exists()
        assert not list(bundle.glob(f"{dist}-*.dist-info")), dist


def test_asset_hash_follows_the_package_and_the_requirements(tmp_path: Path) -> None:
    package = tmp_path / "archiver"
    shutil.copytree(PACKAGE, package, ignore=shutil.ignore_patterns("__pycache__"))
    requirements = tmp_path / "requirements.txt"
    requirements.write_bytes(REQUIREMENTS.read_bytes())
    before = source_hash(requirements, package)
    assert source_hash(REQUIREMENTS, PACKAGE) == before
    (package / "__pycache__").mkdir(exist_ok=True)
    (package / "__pycache__" / "x.cpython-311.pyc").write_bytes(b"noise")
    assert source_hash(requirements, package) == before
    (package / "handlers" / "discover.py").write_text("# changed\n", encoding="utf-8")
    assert source_hash(requirements, package) != before
    deps = dependencies_hash(requirements)
    requirements.write_text(REQUIREMENTS.read_text() + "six==1.17.0\n")
    assert dependencies_hash(requirements) != deps
