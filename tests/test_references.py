"""Every Markdown file the code, tests and docs cite must ship with the project.

The team's internal notes are not shipped, so a citation of one is a dead end for a user; the
facts they hold are in docs/references.md, and citations point at its headings. Two checks:

- every cited upper-case note name ending in ``.md`` (optionally with a path in front), every
  page named by its path under docs/ and every relative Markdown link to a ``.md`` names a
  file that exists in the repository, resolved as a reader would: beside the citing file,
  from the repository root, or in docs/ (a Markdown link: beside the citing file only);
- every ``references.md`` anchor used anywhere (and every in-page link of the page itself)
  is a heading of docs/references.md under GitHub's slug rules, or an explicit ``<a id>``.
"""

from __future__ import annotations

import re
from collections.abc import Iterator
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
REFERENCES = ROOT / "docs" / "references.md"
SCANNED = ("merprep", "mertrain", "tests", "docs", "benchmarks", "README.md")
SKIP_DIRS = {"__pycache__", ".pytest_cache", ".mypy_cache", ".ruff_cache"}
#: the sections the code's citations point at (issue 17 item 13)
SECTIONS = (
    "dataset-formats",
    "long-video-formats",
    "spotting-protocol",
    "model-architectures",
    "reference-audit",
    "photo-and-software-sources",
)

_PATH_PREFIX = r"(?:[A-Za-z0-9_.\-]+/)*"
#: an upper-case note name such as the team's notes use, with any path in front of it
UPPER_NOTE = re.compile(r"(?<![A-Za-z0-9_.\-/])(" + _PATH_PREFIX + r"[A-Z][A-Z0-9_]+\.md)\b")
#: a lower-case page of the documentation named by its path
DOCS_PAGE = re.compile(r"(?<![A-Za-z0-9_.\-/])((?:\.\./)*docs/[a-z0-9_\-]+\.md)\b")
#: a relative Markdown link to a page: [text](page.md) or [text](page.md#anchor)
MD_LINK = re.compile(r"\]\(([^)\s#:]+\.md)(?:#[^)\s]*)?\)")
ANCHOR_USE = re.compile(r"references\.md#([A-Za-z0-9_\-]+)")
LOCAL_ANCHOR = re.compile(r"\]\(#([A-Za-z0-9_\-]+)\)")
EXPLICIT_ID = re.compile(r"<a\s+(?:id|name)=\"([^\"]+)\"")
HEADING = re.compile(r"^(#{1,6})\s+(.*?)\s*#*\s*$")


def _scanned_files() -> Iterator[Path]:
    for name in SCANNED:
        top = ROOT / name
        if top.is_file():
            yield top
            continue
        for path in sorted(top.rglob("*")):
            if path.is_file() and not SKIP_DIRS.intersection(path.relative_to(ROOT).parts):
                yield path


def _text_lines(path: Path) -> list[str] | None:
    """The file's lines, or None for a binary file (workbooks, images, stores)."""
    data = path.read_bytes()
    if b"\0" in data[:8192]:
        return None
    try:
        return data.decode("utf-8").splitlines()
    except UnicodeDecodeError:
        return None


def _in_url(line: str, start: int) -> bool:
    """True when the match at ``start`` is part of a whitespace-delimited token with a URL."""
    token_start = max(line.rfind(" ", 0, start), line.rfind("(", 0, start)) + 1
    return "://" in line[token_start:start]


def _exists(target: str, citing: Path, *, bare_in_docs: bool) -> bool:
    bases = [citing.parent, ROOT]
    if bare_in_docs and "/" not in target:
        bases.append(ROOT / "docs")
    for base in bases:
        candidate = (base / target).resolve()
        if candidate.is_file() and candidate.is_relative_to(ROOT):
            return True
    return False


def _citations(path: Path, lines: list[str]) -> Iterator[tuple[int, str, bool]]:
    """(line number, cited path, whether it exists) for each citation in the file."""
    for number, line in enumerate(lines, 1):
        for pattern in (UPPER_NOTE, DOCS_PAGE):
            for match in pattern.finditer(line):
                if _in_url(line, match.start(1)):
                    continue
                target = match.group(1)
                yield number, target, _exists(target, path, bare_in_docs=True)
        if path.suffix == ".md":
            for match in MD_LINK.finditer(line):
                target = match.group(1)
                found = (path.parent / target).resolve()
                yield number, target, found.is_file() and found.is_relative_to(ROOT)


def github_slug(heading: str) -> str:
    """GitHub's anchor for a heading: rendered text, lower case, punctuation dropped (letters,
    digits, '_', '-' and spaces kept), each space a '-'."""
    text = re.sub(r"\[([^\]]*)\]\([^)]*\)", r"\1", heading)  # a link renders as its text
    text = re.sub(r"<[^>]+>", "", text)
    text = "".join(ch for ch in text.lower() if ch.isalnum() or ch in "_- ")
    return text.replace(" ", "-")


def _anchors(lines: list[str]) -> list[str]:
    """Every anchor of the page in order: heading slugs (with GitHub's -1, -2 suffixes for
    repeats) and explicit ``<a id>`` targets."""
    anchors: list[str] = []
    seen: dict[str, int] = {}
    fenced = False
    for line in lines:
        if line.lstrip().startswith("```"):
            fenced = not fenced
            continue
        if fenced:
            continue
        anchors.extend(EXPLICIT_ID.findall(line))
        match = HEADING.match(line)
        if match:
            slug = github_slug(match.group(2))
            count = seen.get(slug, 0)
            seen[slug] = count + 1
            anchors.append(slug if count == 0 else f"{slug}-{count}")
    return anchors


def test_github_slug_follows_githubs_rules():
    assert github_slug("Dataset formats") == "dataset-formats"
    assert github_slug("§1 CAS(ME)^2") == "1-casme2"
    assert github_slug("Audit 1.1-4: frame selection") == "audit-11-4-frame-selection"
    assert github_slug("`ststnet` (FG 2019 / MEGC2019)") == "ststnet-fg-2019--megc2019"
    assert _anchors(["# A", "## A", '<a id="x"></a>', "```", "# not a heading", "```"]) == [
        "a",
        "a-1",
        "x",
    ]


def test_references_page_has_the_cited_sections_and_unique_anchors():
    anchors = _anchors(REFERENCES.read_text(encoding="utf-8").splitlines())
    missing = [a for a in SECTIONS if a not in anchors]
    assert not missing, f"docs/references.md lacks the sections {missing}"
    repeated = sorted({a for a in anchors if anchors.count(a) > 1})
    assert not repeated, f"docs/references.md: anchors defined twice: {repeated}"


def test_every_cited_markdown_file_ships_with_the_project():
    offenders = []
    for path in _scanned_files():
        lines = _text_lines(path)
        if lines is None:
            continue
        for number, target, exists in _citations(path, lines):
            if not exists:
                offenders.append(f"{path.relative_to(ROOT)}:{number}: {target}")
    assert not offenders, (
        f"{len(offenders)} citations name a Markdown file that is not in the repository "
        "(the team's notes are summarised in docs/references.md; cite its anchors):\n"
        + "\n".join(offenders)
    )


def test_every_references_anchor_resolves():
    page = REFERENCES.read_text(encoding="utf-8").splitlines()
    anchors = set(_anchors(page))
    broken = []
    for path in _scanned_files():
        lines = _text_lines(path)
        if lines is None:
            continue
        for number, line in enumerate(lines, 1):
            uses = ANCHOR_USE.findall(line)
            if path == REFERENCES:
                uses += LOCAL_ANCHOR.findall(line)
            broken += [f"{path.relative_to(ROOT)}:{number}: #{a}" for a in uses if a not in anchors]
    assert not broken, "anchors missing from docs/references.md:\n" + "\n".join(broken)
