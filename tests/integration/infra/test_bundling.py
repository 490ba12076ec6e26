"""The Lambda bundle, built the way `cdk synth` builds it (pip for Lambda arm64, no Docker).

The first run downloads the aarch64 wheels from PyPI; later runs reuse the pip cache in
cdk.out/.lambda-deps, shared with `make synth`.
"""

from __future__ import annotations

import importlib.util
import marshal
import shutil
import subprocess
from pathlib import Path

import botocore.loaders
import pytest
from botocore.model import ServiceModel

from archiver.apimodel import SERVICE, missing_members
from infra.bundling import (
    COMPILES_BYTE_CODE,
    DEFAULT_CACHE_DIR,
    ELF_STRIPPER,
    build_bundle,
    dependencies_hash,
    has_debug_info,
    source_hash,
)
from tests.helpers import ROOT

REQUIREMENTS = ROOT / "requirements.txt"
PACKAGE = ROOT / "lambdas" / "archiver"
LAMBDA_UNZIPPED_LIMIT = 200 * 1024 * 1024  # ours; Lambda's own limit is 250 MB
ELF_MACHINE_AARCH64 = 0xB7
PYC_UNCHECKED_HASH = 0b01  # PEP 552 flags: hash-based, source not checked


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


@pytest.mark.skipif(not COMPILES_BYTE_CODE, reason="only Python 3.13 compiles the runtime's")
def test_every_module_ships_byte_code_lambda_can_use(bundle: Path) -> None:
    """/var/task is read-only: without byte code in the asset, every cold start compiles every
    module it imports. Hash-based and unchecked, so the asset's file times do not matter."""
    sources = list(bundle.rglob("*.py"))
    assert len(sources) > 500
    for source in sources:
        header = (source.parent / "__pycache__" / f"{source.stem}.cpython-313.pyc").read_bytes()
        assert header[:4] == importlib.util.MAGIC_NUMBER, source
        assert int.from_bytes(header[4:8], "little") == PYC_UNCHECKED_HASH, source
    assert all(p.name.endswith(".cpython-313.pyc") for p in bundle.rglob("*.pyc"))
    pyc = bundle / "archiver" / "handlers" / "__pycache__" / "archive.cpython-313.pyc"
    code = marshal.loads(pyc.read_bytes()[16:])
    assert code.co_filename == "/var/task/archiver/handlers/archive.py"  # what tracebacks name


def test_native_code_is_for_lambda_arm64_python_3_13(bundle: Path) -> None:
    extensions = list(bundle.glob("pyarrow/*.so")) + list(bundle.glob("pydantic_core/*.so"))
    assert extensions
    for extension in extensions:
        assert "x86_64" not in extension.name
        assert elf_machine(extension) == ELF_MACHINE_AARCH64, extension
    assert list(bundle.glob("pyarrow/lib.cpython-313-aarch64-linux-gnu.so"))


@pytest.mark.skipif(ELF_STRIPPER is None, reason="llvm-strip removes debug information")
def test_native_libraries_carry_no_debug_information(bundle: Path) -> None:
    """pyroaring's and zstandard's wheels ship ~16 MB of DWARF that nothing reads at run time."""
    libraries = [p for p in bundle.rglob("*.so*") if p.is_file()]
    assert len(libraries) > 20
    assert [str(p.relative_to(bundle)) for p in libraries if has_debug_info(p)] == []
    assert (bundle / "pyroaring.cpython-313-aarch64-linux-gnu.so").stat().st_size < 3 * 2**20


@pytest.mark.skipif(shutil.which("cc") is None, reason="needs a C compiler to build a witness")
def test_debug_information_is_recognised(tmp_path: Path) -> None:
    source = tmp_path / "witness.c"
    source.write_text("int witness(int x) { return x + 1; }\n")
    for flags, debug in ((["-g"], True), ([], False)):
        library = tmp_path / f"libwitness{len(flags)}.so"
        subprocess.run(["cc", *flags, "-shared", "-o", str(library), str(source)], check=True)
        assert has_debug_info(library) is debug
    assert not has_debug_info(source)


def _pins() -> dict[str, str]:
    lines = [line.split("#")[0].strip() for line in REQUIREMENTS.read_text().splitlines()]
    return dict(line.split("==") for line in lines if "==" in line)


def test_the_pinned_sdk_is_bundled_not_the_runtimes(bundle: Path) -> None:
    """The runtime's boto3/botocore lag the service: the asset brings the pinned ones, with
    the packages they need (a copy of the runtime's would mix versions)."""
    pins = _pins()
    for dist in ("boto3", "botocore"):
        assert (bundle / dist / "__init__.py").is_file(), dist
        assert list(bundle.glob(f"{dist}-{pins[dist]}.dist-info")), f"{dist} {pins[dist]}"
    for module in ("s3transfer", "jmespath", "urllib3", "dateutil"):
        assert (bundle / module / "__init__.py").is_file(), module
    assert (bundle / "six.py").is_file()


def test_the_bundled_botocore_declares_every_member_a_column_is_read_from(bundle: Path) -> None:
    loader = botocore.loaders.Loader(
        extra_search_paths=[str(bundle / "botocore" / "data")], include_default_search_paths=False
    )
    model = ServiceModel(loader.load_service_model(SERVICE, "service-2"), service_name=SERVICE)
    assert missing_members(model) == []


def test_no_pydantic_plugin_in_the_asset(bundle: Path) -> None:
    """The functions run with PYDANTIC_DISABLE_PLUGINS=__all__ (infra/archiver.py), which
    spares pydantic's search for plugins: there is none to miss."""
    entry_points = list(bundle.glob("*.dist-info/entry_points.txt"))
    assert entry_points  # the search has something to read
    assert not [p.parent.name for p in entry_points if "[pydantic]" in p.read_text()]


def test_no_xray_sdk_in_the_asset(bundle: Path) -> None:
    """Lambda's active tracing needs no SDK in the function; Powertools Tracer needed the
    X-Ray SDK (maintenance mode, end of support 2027-02-25)."""
    assert not list(bundle.glob("aws_xray_sdk*"))
    assert "[tracer" not in REQUIREMENTS.read_text() and ",tracer" not in REQUIREMENTS.read_text()


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
