"""The documentation holds together: README.md stays short, and every relative link in
it and in docs/ leads to a file of this repository, and every ``#anchor`` to a heading
of its page, by GitHub's anchor rules. External links are not fetched."""

import re
from functools import cache

import pytest

from tests.conftest import ROOT

README = ROOT / "README.md"
README_MAX_LINES = 250
PAGES = [README, *sorted((ROOT / "docs").rglob("*.md"))]

FENCE = re.compile(r"^\s*(```|~~~)")
CODE_SPAN = re.compile(r"(`+)(?:(?!\1).)+?\1")
# [text](target) and ![alt](target), with an optional "title"; [name]: target definitions.
INLINE_LINK = re.compile(r"!?\[(?:[^\[\]]|\[[^\]]*\])*\]\(\s*<?([^)\s>]*)>?(?:\s+\"[^\"]*\")?\s*\)")
DEFINITION = re.compile(r"^\s{0,3}\[[^\]]+\]:\s*<?(\S+?)>?(?:\s+.*)?$")
HEADING = re.compile(r"^\s{0,3}(#{1,6})\s+(.*?)(?:\s+#+)?\s*$")
EXTERNAL = re.compile(r"^[a-z][a-z0-9+.-]*:", re.IGNORECASE)  # http:, https:, mailto:...


def prose_lines(text):
    """``(number, line)`` of ``text`` outside fenced code blocks, code spans blanked."""
    fenced = None
    for number, line in enumerate(text.splitlines(), 1):
        match = FENCE.match(line)
        if match:
            if fenced is None:
                fenced = match.group(1)
            elif match.group(1) == fenced:
                fenced = None
            continue
        if fenced is None:
            yield number, CODE_SPAN.sub(lambda span: " " * len(span.group(0)), line)


def slug(heading):
    """GitHub's anchor of a heading's text: the rendered text lowercased, punctuation
    dropped except hyphens and underscores, each space a hyphen."""
    text = re.sub(r"!?\[([^\]]*)\]\([^)]*\)", r"\1", heading)  # a link reads as its text
    text = re.sub(r"<[^>]+>", "", text)  # inline HTML
    text = text.lower()
    text = "".join(char for char in text if char.isalnum() or char in " -_")
    return text.replace(" ", "-")


@cache
def anchors(path):
    """Every anchor of ``path``'s headings; a repeated one gets -1, -2..."""
    found = []
    seen = {}
    fenced = None
    for line in path.read_text().splitlines():
        match = FENCE.match(line)
        if match:
            fenced = match.group(1) if fenced is None else (None if match.group(1) == fenced else fenced)
            continue
        heading = HEADING.match(line) if fenced is None else None
        if heading:
            base = slug(heading.group(2))
            count = seen.get(base, 0)
            seen[base] = count + 1
            found.append(base if count == 0 else f"{base}-{count}")
    return frozenset(found)


def links(path):
    """``(line number, target)`` of every link in ``path``, outside code."""
    for number, line in prose_lines(path.read_text()):
        for match in INLINE_LINK.finditer(line):
            yield number, match.group(1)
        definition = DEFINITION.match(line)
        if definition:
            yield number, definition.group(1)


def broken(path, target, root=ROOT):
    """Why ``target``, linked from ``path``, leads nowhere; None when it resolves."""
    if not target or EXTERNAL.match(target):
        return None
    file_part, _, anchor = target.partition("#")
    linked = (path.parent / file_part).resolve() if file_part else path
    if not linked.exists():
        return f"no file {file_part}"
    if root not in linked.parents and linked != root:
        return f"{file_part} is outside the repository"
    if anchor:
        if linked.suffix != ".md" or linked.is_dir():
            return f"#{anchor} in {file_part}, which is no Markdown page"
        if anchor not in anchors(linked):
            return f"no heading of {linked.relative_to(root)} has the anchor #{anchor}"
    return None


def test_readme_is_at_most_250_lines():
    lines = len(README.read_text().splitlines())
    assert lines <= README_MAX_LINES, f"README.md has {lines} lines: move the detail into docs/"


def test_readme_names_the_two_commands():
    text = README.read_text()
    assert "make demo" in text
    assert "make test" in text


@pytest.mark.parametrize("page", PAGES, ids=[str(page.relative_to(ROOT)) for page in PAGES])
def test_every_relative_link_and_anchor_resolves(page):
    problems = [
        f"{page.relative_to(ROOT)}:{number}: ({target}) {why}"
        for number, target in links(page)
        if (why := broken(page, target))
    ]
    assert problems == []


@pytest.mark.parametrize(
    ("heading", "anchor"),
    [
        ("Growing past one server", "growing-past-one-server"),
        ("Day-2 operations", "day-2-operations"),
        ("The stand-in Harbor (tests only)", "the-stand-in-harbor-tests-only"),
        ("`make test`: what it touches", "make-test-what-it-touches"),
        ("harbor_deploy.lib, the library", "harbor_deploylib-the-library"),
        ("See [Secrets](secrets.md)", "see-secrets"),
    ],
)
def test_anchors_follow_githubs_rules(heading, anchor):
    assert slug(heading) == anchor


def test_a_repeated_heading_gets_a_numbered_anchor(tmp_path):
    page = tmp_path / "page.md"
    page.write_text("# Notes\n\n## Notes\n\n```\n# not a heading\n```\n\n### Notes\n")
    assert anchors(page) == {"notes", "notes-1", "notes-2"}


def test_broken_links_and_anchors_are_found(tmp_path):
    page = tmp_path / "page.md"
    page.write_text("# Top\n\n[ok](#top) [bad](#nowhere) [gone](missing.md) `[code](missing.md)`\n")
    found = {target: broken(page, target, root=tmp_path) for _, target in links(page)}
    assert found == {
        "#top": None,
        "#nowhere": "no heading of page.md has the anchor #nowhere",
        "missing.md": "no file missing.md",
    }
