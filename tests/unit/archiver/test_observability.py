"""The one mapping from a deployment's name to Powertools' variables."""

from __future__ import annotations

from archiver import observability
from archiver.settings import DEFAULT_NAME, Settings


def test_the_default_service_is_the_default_deployment_name() -> None:
    # Spelled twice (observability may not import the settings): they must agree, so that a
    # deployment made before names existed keeps its metrics.
    assert observability.DEFAULT_SERVICE == DEFAULT_NAME == Settings.default("name")
    assert observability.powertools_environment(DEFAULT_NAME) == observability.ENVIRONMENT


def test_a_deployment_name_is_its_functions_service() -> None:
    assert observability.powertools_environment("ivs-archive-staging") == {
        "POWERTOOLS_SERVICE_NAME": "ivs-archive-staging",
        "POWERTOOLS_METRICS_NAMESPACE": "IVSStageArchive",
    }
