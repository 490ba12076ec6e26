"""CDK constructs of the IVS Stage Archive stack (one module per concern)."""

from __future__ import annotations

from pathlib import Path

REPO_ROOT = Path(__file__).resolve().parent.parent
# The Lambda asset's root: the `archiver` package the functions run.
LAMBDAS_DIR = REPO_ROOT / "lambdas"
