"""The named Athena queries: one `<name>.sql` file each in this folder, shipped as package data.

The stack makes each one an Athena named query (infra/queries.py), the local runner transpiles
it for DuckDB (local/query.py), and `ivs-archive smoke` runs it in a deployment's workgroup.
Every file starts with `-- <its name>: <what it answers>`.
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from pathlib import Path

FOLDER = Path(__file__).resolve().parent
_HEADER = re.compile(r"^--\s*(?P<name>[A-Za-z0-9_]+):\s*(?P<description>\S.*)$")
# Athena's limit on a named query's description.
DESCRIPTION_MAX = 1024


@dataclass(frozen=True)
class NamedQuery:
    name: str
    description: str  # what it answers: the rest of its first line
    sql: str


class QueryFileError(ValueError):
    """A query file does not start with its `-- <name>: <what it answers>` line."""


def load(folder: Path = FOLDER) -> dict[str, NamedQuery]:
    """Every `*.sql` file of `folder`, by name (sorted)."""
    queries = {}
    for path in sorted(folder.glob("*.sql")):
        sql = path.read_text(encoding="utf-8")
        header = _HEADER.match(sql.splitlines()[0] if sql else "")
        if not header or header["name"] != path.stem:
            raise QueryFileError(
                f"{path}: the first line must be '-- {path.stem}: <what it answers>'"
            )
        description = header["description"].strip()[:DESCRIPTION_MAX]
        queries[path.stem] = NamedQuery(path.stem, description, sql)
    return queries
