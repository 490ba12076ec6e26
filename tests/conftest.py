"""Shared fixtures: fake AWS credentials for every test, the IVS simulator and its clients.

The tests are grouped by kind, and inside by the package and module they test:
- tests/unit: in-process, no server and no subprocess (`pytest tests/unit` takes seconds);
- tests/integration: one module against real components on loopback (moto, the simulator,
  DuckDB, pyiceberg's SQL catalog) or a synthesized stack;
- tests/e2e: the whole archiver (the embedded pipeline, `local run`, the console on it);
- tests/perf: the benchmarks' own tests (bench/).
Each test is marked with its kind (`-m unit`, `-m "not perf"`). What they share that is not a
fixture is in tests/helpers."""

from __future__ import annotations

import os
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import boto3
import pytest
from botocore.config import Config

from local.simulator import Simulator
from tests.helpers.scenario import build_scenario

# jsii starts node on the first aws_cdk import: keep its end-of-life banner out of the tests.
os.environ.setdefault("JSII_SILENCE_WARNING_END_OF_LIFE_NODE_VERSION", "20")

_FAKE_ENV = {
    "AWS_ACCESS_KEY_ID": "testing",
    "AWS_SECRET_ACCESS_KEY": "testing",
    "AWS_SECURITY_TOKEN": "testing",
    "AWS_SESSION_TOKEN": "testing",
    "AWS_DEFAULT_REGION": "us-east-1",
    "AWS_REGION": "us-east-1",
    "AWS_EC2_METADATA_DISABLED": "true",
    "AWS_CONFIG_FILE": os.devnull,
    "AWS_SHARED_CREDENTIALS_FILE": os.devnull,
}


@pytest.fixture(autouse=True)
def fake_aws(monkeypatch: pytest.MonkeyPatch) -> None:
    """Never reach real AWS: fake credentials, us-east-1, no profile, no endpoint overrides."""
    for name in list(os.environ):
        if name == "AWS_PROFILE" or name.startswith("AWS_ENDPOINT_URL"):
            monkeypatch.delenv(name)
    for name, value in _FAKE_ENV.items():
        monkeypatch.setenv(name, value)


@pytest.fixture
def simulator_factory() -> Iterator[Callable[..., Simulator]]:
    """`simulator_factory(scenario, tps=5, latency_ms=0, fault_rate=0, seed=0)` -> a running
    Simulator on a free port, stopped at teardown."""
    started: list[Simulator] = []

    def start(scenario: dict[str, Any], **options: Any) -> Simulator:
        simulator = Simulator(scenario, **options).start()
        started.append(simulator)
        return simulator

    yield start
    for simulator in started:
        simulator.stop()


@pytest.fixture
def ivs_client_factory() -> Callable[..., Any]:
    """`ivs_client_factory(endpoint_url, **config)` -> a boto3 ivs-realtime client; `config`
    goes to botocore's Config (e.g. retries={"mode": "adaptive"}, parameter_validation=False)."""

    def make(endpoint_url: str, **config: Any) -> Any:
        return boto3.client(
            "ivs-realtime",
            endpoint_url=endpoint_url,
            region_name="us-east-1",
            config=Config(**config),
        )

    return make


@pytest.fixture
def scenario_builder() -> Callable[..., dict[str, Any]]:
    """`scenario_builder(stages=1, sessions=1, participants=3, events=2, active=False)`."""
    return build_scenario


KINDS = ("unit", "integration", "e2e", "perf")


def pytest_collection_modifyitems(items: list[pytest.Item]) -> None:
    """Marks each test with its kind, the folder under tests/ it is in."""
    root = Path(__file__).resolve().parent
    for item in items:
        kind = item.path.resolve().relative_to(root).parts[0]
        if kind in KINDS:
            item.add_marker(kind)
