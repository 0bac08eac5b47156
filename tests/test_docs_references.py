"""Every "§" citation in the project names a heading of docs/fun-chat-protocol.md.

Code, tests, bench scripts and docs cite the protocol page as `§6.8`, `§6.11-6.13` or
`§3 step 5` (its §15 gives the rules). A citation with nothing behind it sends a newcomer
nowhere, so these tests read the files and the page, with no database and no server.
"""

from __future__ import annotations

import os
import re
from collections.abc import Iterator
from pathlib import Path

import pytest

from chat import frames
from chat.state import ChatState

ROOT = Path(__file__).resolve().parent.parent
DOC = ROOT / "docs" / "fun-chat-protocol.md"
SCANNED_SUFFIXES = {".py", ".js", ".html", ".md"}
# Not ours (the virtualenv), generated (migrations), or not source at all.
SKIPPED_DIRS = {".venv", "venv", "node_modules", "migrations", "__pycache__", "staticfiles"}

# "RFC 6455 §5.2", "RFC 6455 §5.2 and §5.5": another document's sections, left out.
RFC_CITATION = re.compile(r"RFC\s*\d+\s*§\s*\d[\d.]*(?:\s*(?:,|and|or)\s*§\s*\d[\d.]*)*")
CITATION = re.compile(
    r"§\s*(?P<first>\d+(?:\.\d+)?)(?:\s*[-\u2013]\s*(?P<last>\d+(?:\.\d+)?))?"
    r"(?:\s+steps?\s+(?P<step>\d+)(?:\s*[-\u2013]\s*(?P<step_last>\d+))?)?"
)
HEADING = re.compile(r"^#{2,4}\s+(?P<number>\d+(?:\.\d+)?)\.?\s+(?P<title>.*)$")
LIST_ITEM = re.compile(r"^\s*(\d+)\.\s")
SERVER_ONLY_TYPES = {"USER_EXTERNAL_LOGIN", "USER_EXTERNAL_LOGOUT", "MSG_DELIVER", "ERROR"}


class Page:
    """The protocol page's numbered sections: each one's title and its numbered list items."""

    def __init__(self, text: str) -> None:
        self.titles: dict[str, str] = {}
        self.steps: dict[str, set[int]] = {}
        self.bodies: dict[str, list[str]] = {}
        current: str | None = None
        fenced = False
        for line in text.splitlines():
            if line.startswith("```"):
                fenced = not fenced
            heading = None if fenced else HEADING.match(line)
            if heading:
                current = heading["number"]
                self.titles[current] = heading["title"]
                self.steps[current] = set()
                self.bodies[current] = []
            elif line.startswith("#") and not fenced:
                current = None  # an unnumbered heading ends the numbered section before it
            elif current is not None:
                self.bodies[current].append(line)
                if item := LIST_ITEM.match(line):
                    self.steps[current].add(int(item[1]))

    def unresolved(self, text: str) -> list[str]:
        """The citations in `text` (RFC ones aside) that name no section or list item here."""
        missing = []
        for match in CITATION.finditer(RFC_CITATION.sub("", text)):
            sections = _expand(match["first"], match["last"])
            steps = _expand_steps(match["step"], match["step_last"])
            if any(s not in self.titles for s in sections) or any(
                k not in self.steps[s] for s in sections for k in steps
            ):
                missing.append(" ".join(match[0].split()))
        return missing


def _expand(first: str, last: str | None) -> list[str]:
    """The sections a citation names: `6.11-6.13` is 6.11, 6.12 and 6.13."""
    if last is None:
        return [first]
    head_a, _, tail_a = first.rpartition(".")
    head_b, _, tail_b = last.rpartition(".")
    if head_a != head_b or int(tail_b) < int(tail_a):
        return [first, last]  # an odd range: both ends must exist at least
    prefix = f"{head_a}." if head_a else ""
    return [f"{prefix}{n}" for n in range(int(tail_a), int(tail_b) + 1)]


def _expand_steps(first: str | None, last: str | None) -> list[int]:
    """The list items a citation names: `steps 3-4` is items 3 and 4."""
    if first is None:
        return []
    return list(range(int(first), int(last or first) + 1))


def project_files() -> Iterator[Path]:
    """The project's own source and documentation files."""
    for folder, dirs, files in os.walk(ROOT):
        dirs[:] = [d for d in dirs if d not in SKIPPED_DIRS and not d.startswith(".")]
        for name in files:
            if Path(name).suffix in SCANNED_SUFFIXES:
                yield Path(folder, name)


@pytest.fixture(scope="module")
def page() -> Page:
    return Page(DOC.read_text(encoding="utf-8"))


def test_every_section_citation_in_the_project_names_a_heading_of_the_protocol_page(
    page: Page,
) -> None:
    """Each §N, §N.M, range or `§N step K` in .py/.js/.html/.md files exists on the page."""
    problems = []
    scanned = 0
    for path in project_files():
        text = path.read_text(encoding="utf-8", errors="replace")
        if "§" not in text:
            continue
        scanned += 1
        for number, line in enumerate(text.splitlines(), start=1):
            for citation in page.unresolved(line):
                problems.append(f"{path.relative_to(ROOT)}:{number}: {citation}")
    # The chat core and its tests cite the page; finding none means the scan itself broke.
    assert scanned >= 5
    assert problems == []


def test_it_flags_citations_with_no_heading_and_leaves_rfc_sections_alone(page: Page) -> None:
    """A bogus section, step or range end is reported; RFC 6455 sections are not ours."""
    # Spelled with an escape so that the project scan above does not trip on this sample.
    s = "\N{SECTION SIGN}"
    text = (
        f"see {s}99, {s}6.8, {s}3 step 9, {s}3 steps 3-4, {s}6.14-6.16, {s}11.1 and "
        f"RFC 6455 {s}4.2.2 and {s}5.5 (also RFC 6455 {s}99)"
    )
    assert page.unresolved(text) == [f"{s}99", f"{s}3 step 9", f"{s}6.14-6.16"]


def test_the_pages_sections_run_from_1_to_15_with_the_subsections_code_cites(page: Page) -> None:
    """The chapters, and the subsections of §6, §8 and §11, are all there and in order."""
    chapters = [n for n in page.titles if "." not in n]
    assert chapters == [str(n) for n in range(1, 16)]
    for chapter, count in (("6", 15), ("8", 4), ("11", 11)):
        subsections = [n for n in page.titles if n.startswith(f"{chapter}.")]
        assert subsections == [f"{chapter}.{n}" for n in range(1, count + 1)]
    assert page.steps["3"] == set(range(1, 8))  # the seven processing steps


def test_the_error_catalogue_lists_exactly_the_strings_the_server_sends(page: Page) -> None:
    """§7's table and chat/frames.py hold the same error strings, byte for byte."""
    body = page.bodies["7"]
    rows = body[body.index("|---|---|") + 1 :]  # the table's rows, below its header
    table = {row.split("`")[1] for row in rows if row.startswith("| `")}
    sent = {
        value
        for name, value in vars(frames).items()
        if name.isupper() and isinstance(value, str) and not value.startswith("{")
    }
    assert len(sent) == 18
    assert table == sent


def test_every_message_type_has_its_own_section(page: Page) -> None:
    """Each type the server handles, and each type only it sends, has a §6.N heading."""
    titled = {re.sub(r"^`([A-Z_]+)`.*", r"\1", t) for n, t in page.titles.items() if n[:2] == "6."}
    handled = set(ChatState(clock_ms=lambda: 0, new_uuid=lambda: "u").handlers)
    assert len(handled) == 10
    assert handled | SERVER_ONLY_TYPES <= titled
