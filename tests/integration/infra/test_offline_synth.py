"""`make synth` without a package index: one line naming the problem and the fix, exit 1.

The Lambda bundle's dependencies come from pip (PyPI) the first time and from the wheel cache in
cdk.out/.lambda-deps afterwards. With neither, pip fails; inside jsii's bundling callback that
failure used to end in a 78-line jsii traceback. Here pip is pointed at an index on a closed
loopback port with an empty cache, as on a machine offline before its first synth.
"""

from __future__ import annotations

import re
import shutil
import subprocess
import sys
from pathlib import Path

import aws_cdk as cdk
import pytest

from infra.bundling import BUNDLING_STACKS, BundlingError, install_dependencies, prepare
from tests.helpers import ROOT

REQUIREMENTS = ROOT / "requirements.txt"


def _offline(tmp_path: Path) -> dict[str, str]:
    """pip settings that reach no index and find no wheel: a closed port, no retries, no
    configuration files (this machine's point at local mirrors)."""
    empty = tmp_path / "no-wheels"
    empty.mkdir(exist_ok=True)
    return {
        "PIP_CONFIG_FILE": "/dev/null",
        "PIP_INDEX_URL": "http://127.0.0.1:9/simple/",
        "PIP_EXTRA_INDEX_URL": "",
        "PIP_FIND_LINKS": str(empty),
        "PIP_RETRIES": "0",
        "PIP_TIMEOUT": "2",
        "PIP_NO_CACHE_DIR": "1",
    }


@pytest.fixture
def offline(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    for key, value in _offline(tmp_path).items():
        monkeypatch.setenv(key, value)


@pytest.mark.usefixtures("offline")
def test_pip_with_neither_index_nor_cache_fails_in_one_line(tmp_path: Path) -> None:
    cache = tmp_path / "cache"
    with pytest.raises(BundlingError) as raised:
        install_dependencies(REQUIREMENTS, cache)
    message = str(raised.value)
    assert "\n" not in message
    assert re.search(r"pip found no aws-lambda-powertools==\S+ wheel for Lambda arm64", message)
    assert str(cache) in message and "make synth" in message and "offline" in message
    assert not list(cache.iterdir()), "a failed pip run leaves nothing in the cache"


@pytest.mark.usefixtures("offline")
def test_a_synth_that_bundles_nothing_needs_no_wheels(tmp_path: Path) -> None:
    """`cdk ls` and `cdk destroy` bundle no stack: they work offline without the cache."""
    cache = tmp_path / "cache"
    prepare(cdk.App(context={BUNDLING_STACKS: []}), "IvsStageArchive", REQUIREMENTS, cache)
    with pytest.raises(BundlingError):
        prepare(
            cdk.App(context={BUNDLING_STACKS: ["IvsStageArchive"]}),
            "IvsStageArchive",
            REQUIREMENTS,
            cache,
        )


def test_app_py_offline_prints_one_line_and_exits_1(tmp_path: Path) -> None:
    """The real app.py, in a copy of the repository whose wheel cache is empty."""
    copy = tmp_path / "repo"
    copy.mkdir()
    for name in ("app.py", "cdk.json", "requirements.txt"):
        shutil.copy(ROOT / name, copy / name)
    ignore = shutil.ignore_patterns("__pycache__")
    for folder in ("infra", "lambdas", "queries"):
        shutil.copytree(ROOT / folder, copy / folder, ignore=ignore)
    env = {
        "PATH": str(Path(sys.executable).parent) + ":/usr/local/bin:/usr/bin:/bin",
        "HOME": str(tmp_path),
        "CDK_OUTDIR": str(tmp_path / "cdk.out"),
        "JSII_SILENCE_WARNING_END_OF_LIFE_NODE_VERSION": "20",  # as the Makefile sets it
        **_offline(tmp_path),
    }
    result = subprocess.run(
        [sys.executable, "app.py"],
        cwd=copy,
        env=env,
        capture_output=True,
        text=True,
        check=False,
        timeout=300,
    )
    assert result.returncode == 1, result.stderr
    lines = result.stderr.strip().splitlines()
    assert len(lines) == 1, result.stderr
    assert lines[0].startswith("error: cannot bundle the Lambda dependencies: pip found no ")
    assert "cdk.out/.lambda-deps" in lines[0] and "make synth" in lines[0]
    assert not (copy / "cdk.out" / ".lambda-deps").exists() or not list(
        (copy / "cdk.out" / ".lambda-deps").iterdir()
    )
