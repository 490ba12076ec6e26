"""The stack synthesized once per test process, for every test of infra/: with the defaults of
cdk.json, with the variant settings (an existing bucket, KMS, an allow-list, ...), with the
tables' variant (a prefix, KMS, landing objects kept), and as a second deployment of its own
name."""

from __future__ import annotations

import pytest

from tests.helpers.synth import SECOND, TABLES_VARIANT, VARIANT, Built


@pytest.fixture(scope="session")
def default() -> Built:
    return Built({})


@pytest.fixture(scope="session")
def variant() -> Built:
    return Built(VARIANT)


@pytest.fixture(scope="session")
def tables_variant() -> Built:
    return Built(TABLES_VARIANT)


@pytest.fixture(scope="session")
def second() -> Built:
    return Built(SECOND)
