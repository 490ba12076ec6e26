"""The README and docs/: generated parts current, every relative link going somewhere, and a
README short enough to read in five minutes."""

from __future__ import annotations

import re
from pathlib import Path

import pytest

from local.readme import DOCS, GENERATED, README, ROOT, Generated

PAGES = [README, *sorted(DOCS.glob("*.md"))]
MOST_README_LINES = 250

_FENCE = re.compile(r"^```.*?^```", re.DOTALL | re.MULTILINE)
_CODE = re.compile(r"`[^`\n]*`")
_LINK = re.compile(r"!?\[[^\]]*\]\(([^)\s]+)\)")
_HEADING = re.compile(r"^#{1,6}\s+(.+?)\s*$", re.MULTILINE)


def _prose(text: str) -> str:
    """The text outside code blocks and code spans, where links are links."""
    return _CODE.sub("", _FENCE.sub("", text))


def _anchors(text: str) -> set[str]:
    """The anchors GitHub makes of a page's headings: lower case, punctuation dropped, spaces
    as hyphens, and -1, -2, ... after a repeated one."""
    seen: dict[str, int] = {}
    anchors = set()
    for heading in _HEADING.findall(_FENCE.sub("", text)):
        slug = re.sub(r"[^\w\- ]", "", heading.lower()).replace(" ", "-")
        count = seen.get(slug, 0)
        seen[slug] = count + 1
        anchors.add(slug if count == 0 else f"{slug}-{count}")
    return anchors


def _links(page: Path) -> list[str]:
    return _LINK.findall(_prose(page.read_text()))


@pytest.mark.parametrize("part", GENERATED, ids=lambda p: f"{p.path.name}:{p.marker}")
def test_generated_parts_are_current(part: Generated) -> None:
    assert part.path.exists(), f"{part.path.relative_to(ROOT)} is missing: run `make docs`"
    text = part.current()
    assert part.filled(text) == text, f"stale {part.path.relative_to(ROOT)}: run `make docs`"


def test_the_column_reference_is_in_the_tables_page() -> None:
    assert "| event_time | `timestamp` |" in (DOCS / "tables.md").read_text()


@pytest.mark.parametrize("page", PAGES, ids=lambda p: str(p.relative_to(ROOT)))
def test_relative_links_point_to_files_and_headings_that_exist(page: Path) -> None:
    broken = []
    for link in _links(page):
        if re.match(r"[a-z][a-z0-9+.-]*:", link):  # https:, mailto:
            continue
        path, _, anchor = link.partition("#")
        target = (page.parent / path).resolve() if path else page
        if not target.exists():
            broken.append(f"{link}: no such file")
        elif anchor and target.suffix == ".md" and anchor not in _anchors(target.read_text()):
            broken.append(f"{link}: no such heading")
    assert not broken, f"{page.relative_to(ROOT)}: " + "; ".join(broken)


def test_the_link_check_finds_links() -> None:
    """A guard on the check itself: the README links each page of docs/."""
    linked = {(ROOT / link.partition("#")[0]).resolve() for link in _links(README)}
    assert set(DOCS.glob("*.md")) <= linked


def test_anchors_are_githubs() -> None:
    text = "# The operator's console: `ivs-archive`\n## Local, embedded mode — how `run` works\n"
    text += "## Notes\n## Notes\n"
    assert _anchors(text) == {
        "the-operators-console-ivs-archive",
        "local-embedded-mode--how-run-works",
        "notes",
        "notes-1",
    }


def test_the_readme_is_short_and_starts_with_the_two_commands() -> None:
    lines = README.read_text().splitlines()
    assert len(lines) < MOST_README_LINES, f"README.md has {len(lines)} lines"
    top = "\n".join(lines[:40])
    assert "make demo   #" in top
    assert "make test   #" in top
