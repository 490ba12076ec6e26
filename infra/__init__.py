"""CDK constructs of the IVS Stage Archive stack (one module per concern)."""

from __future__ import annotations

import os
import sys
from pathlib import Path

REPO_ROOT = Path(__file__).resolve().parent.parent
LAMBDAS_DIR = REPO_ROOT / "lambdas"
QUERIES_DIR = REPO_ROOT / "queries"

# The stack imports the Lambda package's schema and settings (one definition, never re-typed).
if str(LAMBDAS_DIR) not in sys.path:
    sys.path.insert(0, str(LAMBDAS_DIR))

# jsii starts node on the first aws_cdk import: keep its banners out of every synth and test.
os.environ.setdefault("JSII_SILENCE_WARNING_END_OF_LIFE_NODE_VERSION", "20")
