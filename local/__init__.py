"""Embedded stand-ins that run the whole archiver on a laptop: IVS simulator, moto, DuckDB."""

import sys
from pathlib import Path

# The Lambda package lives in lambdas/ (the Lambda asset root), importable as `archiver`.
_LAMBDAS = str(Path(__file__).resolve().parent.parent / "lambdas")
if _LAMBDAS not in sys.path:
    sys.path.insert(0, _LAMBDAS)
