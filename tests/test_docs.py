"""README is the front door: short, one link to every docs page, and every link of README and the
docs pages leads to a file (and a heading or anchor) that exists."""

from __future__ import annotations

import re
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
README = ROOT / "README.md"
DOCS = ROOT / "docs"
README_MAX_LINES = 300  # issue 22: a front door of about 250 lines; the rest lives in docs/

_FENCE = re.compile(r"^[ \t]*```.*?^[ \t]*```", re.M | re.S)
_SPAN = re.compile(r"`[^`\n]*`")
_LINK = re.compile(r"\[(?:[^\]\n]|`[^`\n]*`)*\]\(([^)\s]+)\)")
_HEADING = re.compile(r"^#{1,6} +(.+?) *#*$", re.M)
_NAMED = re.compile(r'<a name="([^"]+)"></a>')


def slug(heading: str) -> str:
    """GitHub's anchor of a heading: lower case, punctuation dropped (not - or _), spaces -> -."""
    return re.sub(r"[^\w\- ]", "", heading.strip().lower()).replace(" ", "-")


def anchors(markdown: str) -> set[str]:
    """Every anchor a Markdown page has: its headings' (GitHub numbers repeats -1, -2...) and its
    `<a name>` anchors."""
    seen: dict[str, int] = {}
    found = set(_NAMED.findall(markdown))
    for heading in _HEADING.findall(_FENCE.sub("", markdown)):
        base = slug(heading)
        n = seen.get(base, 0)
        seen[base] = n + 1
        found.add(base if n == 0 else f"{base}-{n}")
    return found


def links(markdown: str) -> list[str]:
    """The link targets of a Markdown text, outside code blocks."""
    return _LINK.findall(_FENCE.sub("", markdown).replace("\\|", "|"))


def pages() -> list[Path]:
    return [README, *sorted(DOCS.glob("*.md"))]


def broken_links(page: Path) -> list[str]:
    """The relative links of `page` whose file, or whose anchor in that file, does not exist."""
    broken = []
    for target in links(page.read_text()):
        if re.match(r"[a-z]+:", target):  # http(s), mailto: not checked offline
            continue
        path, _, anchor = target.partition("#")
        dest = (page.parent / path).resolve() if path else page
        if not dest.exists():
            broken.append(f"{target} (no such file)")
        elif anchor and dest.suffix == ".md" and anchor not in anchors(dest.read_text()):
            broken.append(f"{target} (no such heading or anchor in {dest.name})")
    return broken


def test_the_anchors_are_githubs():
    text = ("# From `pipeline.py submit` to a canary\n## Hardening checks: `make fuzz`, `make soak`\n"
            "## The offline encoder (`--lora-base-model offline-multilingual`)\n## Notes\n## Notes\n"
            '```\n# not a heading\n```\n<a name="seed"></a>\n')
    assert anchors(text) == {"from-pipelinepy-submit-to-a-canary",
                             "hardening-checks-make-fuzz-make-soak",
                             "the-offline-encoder---lora-base-model-offline-multilingual",
                             "notes", "notes-1", "seed"}


def test_readme_is_a_front_door_under_the_line_limit():
    lines = README.read_text().count("\n")
    assert lines < README_MAX_LINES, (
        f"README.md has {lines} lines (limit {README_MAX_LINES}): move the detail to a docs/ "
        "page and link it from README")


def test_readme_links_every_docs_page():
    linked = {(ROOT / t.partition("#")[0]).resolve() for t in links(README.read_text())}
    unlinked = [p.name for p in sorted(DOCS.glob("*.md")) if p.resolve() not in linked]
    assert not unlinked, f"docs pages README does not link (one click from README): {unlinked}"


def test_every_link_of_readme_and_the_docs_leads_somewhere():
    broken = {p.relative_to(ROOT).as_posix(): b for p in pages() if (b := broken_links(p))}
    assert not broken, f"links to files or headings that do not exist: {broken}"


def test_every_code_block_is_closed():
    """An unclosed ``` turns the rest of a page into code (a moved section cut at the wrong line)."""
    open_blocks = [p.name for p in pages()
                   if len(re.findall(r"^[ \t]*```", p.read_text(), re.M)) % 2]
    assert not open_blocks, f"pages with an unclosed code block: {open_blocks}"


def test_a_broken_link_is_caught(tmp_path):
    (tmp_path / "a.md").write_text("# Title\n## Part one\n")
    page = tmp_path / "b.md"
    page.write_text("[ok](a.md#part-one) [gone](a.md#part-two) [none](c.md) [web](https://x.y)\n"
                    "```\n[in code](nowhere.md)\n```\n[here](#local)\n")
    assert broken_links(page) == ["a.md#part-two (no such heading or anchor in a.md)",
                                  "c.md (no such file)",
                                  "#local (no such heading or anchor in b.md)"]
