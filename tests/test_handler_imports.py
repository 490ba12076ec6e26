"""What a cold container loads when Lambda imports a handler module.

The functions are traced by Lambda's active tracing, which needs no SDK in the function: the
X-Ray SDK (which Powertools Tracer needed) must never load, although the dev venv has it (moto
pulls it in). Each handler is imported in a fresh process of the venv's Python.
"""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parent.parent
PROBE = """
import importlib, json, sys
importlib.import_module(sys.argv[1])
print(json.dumps(sorted(sys.modules)))
"""


def _modules_after_import(module: str) -> set[str]:
    result = subprocess.run(
        [sys.executable, "-c", PROBE, module],
        cwd=ROOT / "lambdas",
        capture_output=True,
        text=True,
        check=False,
    )
    assert result.returncode == 0, result.stderr
    return set(json.loads(result.stdout.splitlines()[-1]))


@pytest.mark.parametrize("handler", ["archiver.handlers.archive", "archiver.handlers.discover"])
def test_no_tracing_sdk_is_loaded(handler: str) -> None:
    import importlib.util

    assert importlib.util.find_spec("aws_xray_sdk") is not None, "the probe needs it installed"
    modules = _modules_after_import(handler)
    assert handler in modules
    assert not {m for m in modules if m.startswith(("aws_xray_sdk", "opentelemetry"))}
