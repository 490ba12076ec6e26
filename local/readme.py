"""`make docs`: rewrite the generated parts of the documentation from their one definition.

`GENERATED` lists them: a file, the marker of its block (`<!-- columns:start -->` ...
`<!-- columns:end -->` for the marker `columns`; none: the whole file is generated) and the
function that writes what goes there. tests/unit/local/test_readme.py checks that each is
current. To add one, add an entry.
"""

from __future__ import annotations

import re
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path

from archiver import schema, settings

ROOT = Path(__file__).resolve().parent.parent
README = ROOT / "README.md"
DOCS = ROOT / "docs"


@dataclass(frozen=True)
class Generated:
    """One generated part: the block between `marker`'s comments in `path`, or with no marker
    the whole of `path`, written by `make`."""

    path: Path
    marker: str | None
    make: Callable[[], str]

    def filled(self, text: str) -> str:
        """`text` (the file as it is) with this part written afresh."""
        if self.marker is None:
            return self.make()
        start, end = (re.escape(f"<!-- {self.marker}:{side} -->") for side in ("start", "end"))
        block = re.compile(f"({start}\n).*?({end})", re.DOTALL)
        if block.search(text) is None:
            shown = self.path.relative_to(ROOT)
            raise ValueError(f"{shown}: no <!-- {self.marker}:start/end --> block to fill")
        return block.sub(lambda m: m.group(1) + self.make() + m.group(2), text, count=1)

    def current(self) -> str:
        return self.path.read_text() if self.path.exists() else ""


GENERATED: tuple[Generated, ...] = (
    # The column reference, from lambdas/archiver/schema.py.
    Generated(DOCS / "tables.md", "columns", schema.markdown_reference),
    # Every setting, from lambdas/archiver/settings.py.
    Generated(DOCS / "configuration.md", "settings", settings.markdown_reference),
)


def main() -> None:
    for part in GENERATED:
        text = part.current()
        written = part.filled(text)
        if written != text:
            part.path.write_text(written)
            print(f"wrote {part.path.relative_to(ROOT)}")


if __name__ == "__main__":
    main()
