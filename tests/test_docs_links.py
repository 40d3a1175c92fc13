"""The README and docs/ point at files and sections that exist.

Issue 20 moved most of the README into docs/ by reader; a link to a section that moved (or was renamed)
would otherwise go on pointing at nothing, and nobody reads every link by hand.
"""

import re
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parent.parent
DOCS = sorted([ROOT / "README.md", *(ROOT / "docs").glob("*.md")])
# Screenshots are committed: keep each small (a PNG per page would otherwise grow the repository).
MAX_IMAGE_BYTES = 150 * 1024

# [text](target) and ![alt](target); the target has no spaces in these files.
LINK = re.compile(r"!?\[[^\]]*\]\(([^)\s]+)\)")
FENCE = "```"


def _prose(text: str) -> str:
    """The text outside fenced code blocks and inline code, where a link is a link."""
    kept, fenced = [], False
    for line in text.splitlines():
        if line.startswith(FENCE):
            fenced = not fenced
            continue
        if not fenced:
            kept.append(re.sub(r"`[^`]*`", "", line))
    return "\n".join(kept)


def _slug(heading: str) -> str:
    """GitHub's anchor for a heading: lower case, punctuation dropped, spaces to hyphens."""
    text = heading.strip().lower().replace("`", "")
    text = re.sub(r"[^\w\- ]", "", text)
    return text.replace(" ", "-")


def _anchors(path: Path) -> set[str]:
    anchors: set[str] = set()
    fenced = False
    for line in path.read_text(encoding="utf-8").splitlines():
        if line.startswith(FENCE):
            fenced = not fenced
        elif not fenced and line.startswith("#"):
            base = _slug(line.lstrip("#"))
            slug, n = base, 0
            while slug in anchors:  # GitHub numbers repeated headings: x, x-1, x-2
                n += 1
                slug = f"{base}-{n}"
            anchors.add(slug)
    return anchors


def _broken_links(path: Path) -> list[str]:
    broken = []
    for target in LINK.findall(_prose(path.read_text(encoding="utf-8"))):
        if re.match(r"[a-z]+:", target):  # http:, https:, mailto:
            continue
        file_part, _, anchor = target.partition("#")
        dest = (path.parent / file_part).resolve() if file_part else path
        if not dest.exists():
            broken.append(f"{target}: no such file")
        elif anchor and dest.suffix == ".md" and anchor not in _anchors(dest):
            broken.append(f"{target}: no such section in {dest.name}")
    return broken


@pytest.mark.parametrize("path", DOCS, ids=lambda p: str(p.relative_to(ROOT)))
def test_every_relative_link_and_section_exists(path: Path) -> None:
    assert _broken_links(path) == []


def test_the_readme_contents_list_every_section() -> None:
    text = (ROOT / "README.md").read_text(encoding="utf-8")
    headings = [line[3:] for line in _prose(text).splitlines() if line.startswith("## ")]
    contents = text.split("## Contents", 1)[1].split("\n## ", 1)[0]
    listed = re.findall(r"^- \[[^\]]+\]\(#([^)]+)\)", contents, flags=re.MULTILINE)
    assert listed == [_slug(h) for h in headings if h != "Contents"]


def test_committed_screenshots_are_small_and_used() -> None:
    images = sorted((ROOT / "docs" / "img").glob("*.png"))
    assert images, "docs/img/ holds the console screenshots the README shows"
    used = "\n".join(p.read_text(encoding="utf-8") for p in DOCS)
    for image in images:
        assert image.stat().st_size < MAX_IMAGE_BYTES, image.name
        assert f"img/{image.name}" in used, f"{image.name} is not shown anywhere"


def test_the_link_check_finds_a_missing_section(tmp_path: Path) -> None:
    page = tmp_path / "page.md"
    page.write_text(
        "# Page\n\n## `make validate`: zero warnings\n\n"
        "[ok](#make-validate-zero-warnings) [gone](#privacy) [nofile](other.md)\n"
        "```\n[in code](#not-checked)\n```\n",
        encoding="utf-8",
    )
    assert _broken_links(page) == ["#privacy: no such section in page.md", "other.md: no such file"]
