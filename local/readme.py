"""`make docs`: rewrite the README's column reference from the schema module."""

from __future__ import annotations

import re
from pathlib import Path

from archiver.schema import markdown_reference

README = Path(__file__).resolve().parent.parent / "README.md"
_BLOCK = re.compile(r"(<!-- columns:start -->\n).*?(<!-- columns:end -->)", re.DOTALL)


def with_reference(text: str) -> str:
    return _BLOCK.sub(lambda m: m.group(1) + markdown_reference() + m.group(2), text, count=1)


if __name__ == "__main__":
    README.write_text(with_reference(README.read_text()))
