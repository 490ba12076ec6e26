"""What each handler's import loads at cold start, and what it leaves to the code that needs it.

Lambda imports the handler's module before the first invocation. It should load what every
invocation of that function uses (so that a lazy import does not merely move that cost into the
first invocation) and nothing that only the other function, or only some invocations, use:
pyiceberg only on the commit path, the EventBridge models and discovery only in the discover
function, the archive worker's modules only in the archive function, the tables' creation and
evolution only in the tables custom resource. And never a tracing SDK: Lambda's active tracing
needs none, and the X-Ray SDK (which Powertools Tracer needed) must not load although the dev
venv has it (moto pulls it in). Each handler is imported in a fresh process of the venv's
Python, which has all of these installed.
"""

from __future__ import annotations

import json
import subprocess
import sys
from typing import Any

import pytest

from tests.helpers import ROOT

PROBE = """
import importlib, json, sys
importlib.import_module(sys.argv[1])
print(json.dumps(sorted(sys.modules)))
"""
# The Iceberg commit's library and what only it brings in.
ICEBERG = ("pyiceberg", "pyroaring", "strictyaml", "rich", "zstandard", "mmh3")
# Only the discover function parses EventBridge events and runs discovery.
DISCOVERY = (
    "archiver.eventbridge",
    "aws_lambda_powertools.utilities.parser.models",
    "archiver.discovery",
    "archiver.discovery_state",
)
# Only the archive function runs the worker and Powertools' batch processing.
ARCHIVING = (
    "archiver.archiving",
    "archiver.invocation",
    "archiver.fetching",
    "archiver.admission",
    "aws_lambda_powertools.utilities.batch",
)
# What every invocation of each function uses: loaded at import, not on the first call.
BOTH = (
    "pydantic",
    "archiver.messages",
    "archiver.settings",
    "archiver.ledger",
    "archiver.apimodel",
    "archiver.observability",
)
EVERY_CALL = {
    "archiver.handlers.archive": (*BOTH, *ARCHIVING),
    "archiver.handlers.discover": (*BOTH, *DISCOVERY),
}
# Only the tables custom resource creates and evolves the query tables.
TABLE_DDL = ("archiver.tables",)
NEVER = {
    "archiver.handlers.archive": ICEBERG + DISCOVERY + TABLE_DDL,
    "archiver.handlers.discover": ICEBERG + ARCHIVING + TABLE_DDL,
}


def _probe(code: str, module: str) -> Any:
    """What `code` prints (JSON, last line) in a fresh process, given `module` to import."""
    result = subprocess.run(
        [sys.executable, "-c", code, module],
        cwd=ROOT / "lambdas",
        capture_output=True,
        text=True,
        check=False,
    )
    assert result.returncode == 0, result.stderr
    return json.loads(result.stdout.splitlines()[-1])


def _modules_after_import(module: str) -> set[str]:
    return set(_probe(PROBE, module))


def _loaded(modules: set[str], name: str) -> bool:
    return any(m == name or m.startswith(name + ".") for m in modules)


@pytest.mark.parametrize("handler", sorted(NEVER))
def test_a_handler_loads_what_every_call_uses_and_nothing_it_may_never_use(handler: str) -> None:
    import importlib.util

    for name in ("pyiceberg", "pyroaring", "strictyaml", "rich"):
        assert importlib.util.find_spec(name) is not None, f"the probe needs {name} installed"
    modules = _modules_after_import(handler)
    assert handler in modules
    assert [name for name in EVERY_CALL[handler] if not _loaded(modules, name)] == []
    assert [name for name in NEVER[handler] if _loaded(modules, name)] == []


@pytest.mark.parametrize("handler", sorted(NEVER))
def test_no_tracing_sdk_is_loaded(handler: str) -> None:
    import importlib.util

    assert importlib.util.find_spec("aws_xray_sdk") is not None, "the probe needs it installed"
    modules = _modules_after_import(handler)
    assert handler in modules
    assert not {m for m in modules if m.startswith(("aws_xray_sdk", "opentelemetry"))}


# Collections are counted from the handler's first statement (`from archiver import compat`;
# the next pauses the collector), after its package and archiver.compat have loaded.
GC_PROBE = """
import gc, importlib, json, sys
importlib.import_module(sys.argv[1].rpartition(".")[0])
importlib.import_module("archiver.compat")
before = [s["collections"] for s in gc.get_stats()]
importlib.import_module(sys.argv[1])
after = [s["collections"] for s in gc.get_stats()]
print(json.dumps({"collections": sum(after) - sum(before), "young": after[0] - before[0],
                  "enabled": gc.isenabled(),
                  "frozen": gc.get_freeze_count()}))
"""


def _gc_during_import(module: str) -> dict[str, Any]:
    outcome: dict[str, Any] = _probe(GC_PROBE, module)
    return outcome


def test_loading_the_libraries_alone_runs_the_garbage_collector() -> None:
    # What the handlers spare: the same libraries, imported outside a handler, are collected.
    outcome = _gc_during_import("archiver.archiving")
    assert outcome["collections"] > 10
    assert outcome["frozen"] == 0


@pytest.mark.parametrize("handler", [*sorted(NEVER), "archiver.handlers.custom_resources"])
def test_a_handler_loads_without_collections_and_freezes_what_it_built(handler: str) -> None:
    outcome = _gc_during_import(handler)
    # None while the module builds; one young collection may fall due on its first statement,
    # before the pause, when the heap holds none of what the module builds.
    assert outcome["collections"] == outcome["young"] <= 1
    assert outcome["enabled"] is True
    # Every module, class and validator loaded is out of the collector's way for good.
    assert outcome["frozen"] > 20_000
