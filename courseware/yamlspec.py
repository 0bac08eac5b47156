"""Read a YAML file into a pydantic model, reporting errors by file, line and field.

PyYAML forgets where values came from and pydantic only knows field paths, so the
document's node tree is walked once to map every field path to its line.

Every file is read defensively, because a module or test file may come from a pull request:
size and nesting are capped, aliases are refused (a few hundred bytes of nested aliases
expand to gigabytes), and control characters are refused (PostgreSQL rejects NUL in text).
Each of these becomes a `file:line: message` problem, never a traceback.
"""

from __future__ import annotations

import os
import re
from dataclasses import dataclass
from pathlib import Path
from typing import Any, TypeVar

import yaml
from pydantic import BaseModel, ValidationError
from yaml.composer import ComposerError
from yaml.constructor import ConstructorError
from yaml.parser import ParserError
from yaml.scanner import ScannerError

M = TypeVar("M", bound=BaseModel)
Loc = tuple[str | int, ...]

# The question bank is about 150 kB; ten times that is still a plausible hand-written file.
MAX_BYTES = 2_000_000
# The formats nest six levels deep; the cap only has to stop pathological input early.
MAX_DEPTH = 20
# C0 controls but tab and line breaks, DEL, C1 controls, lone surrogates and non-characters:
# nothing an author types, and NUL or a surrogate would fail deep inside the database driver.
_RAW_BAD = re.compile(r"[\x00-\x08\x0b\x0c\x0e-\x1f\x7f-\x84\x86-\x9f\ud800-\udfff\ufffe\uffff]")
# In a parsed value a carriage return can only come from a "\r" escape; the database keeps LF.
_VALUE_BAD = re.compile(r"[\x00-\x08\x0b-\x1f\x7f-\x84\x86-\x9f\ud800-\udfff\ufffe\uffff]")


@dataclass(frozen=True)
class Problem:
    """One thing wrong with a file, located by line and field path."""

    path: str
    line: int
    field: str
    message: str

    def __str__(self) -> str:
        field = f" {self.field}:" if self.field else ""
        return f"{self.path}:{self.line}:{field} {self.message}"


class SpecError(Exception):
    """A file failed validation; `problems` says where and why."""

    def __init__(self, problems: list[Problem]) -> None:
        self.problems = problems
        super().__init__("\n".join(str(p) for p in problems))


def field_name(loc: Loc) -> str:
    """Render a field path as `questions[3].options[0].correct`."""
    out = ""
    for part in loc:
        out += f"[{part}]" if isinstance(part, int) else (f".{part}" if out else part)
    return out


def _character(char: str) -> str:
    name = "a NUL byte" if char == "\0" else f"control character U+{ord(char):04X}"
    return f"{name} is not allowed; remove it or write the text without it"


class _Loader(yaml.SafeLoader):
    """SafeLoader that refuses aliases and deep nesting, and locates bad values."""

    depth = 0

    def _event_mark(self) -> Any:
        """Where the next event starts: peek_event, typed (its stubs leave it untyped)."""
        self.check_event()  # reads the next event into current_event, as peek_event does
        event: yaml.Event = self.current_event
        return event.start_mark

    def compose_node(self, parent: Any, index: Any) -> Any:
        # Refused while composing, before anything is expanded: memory stays bounded.
        if self.check_event(yaml.AliasEvent):
            mark = self._event_mark()
            raise ComposerError(
                None, None, "aliases (*name) are not allowed: write the value out", mark
            )
        self.depth += 1
        try:
            if self.depth > MAX_DEPTH:
                mark = self._event_mark()
                raise ComposerError(None, None, f"nested deeper than {MAX_DEPTH} levels", mark)
            return super().compose_node(parent, index)
        finally:
            self.depth -= 1

    def construct_object(self, node: yaml.Node, deep: bool = False) -> Any:
        try:
            return super().construct_object(node, deep)
        except (ValueError, OverflowError) as exc:
            # An impossible date (2026-02-30) or an int of 5000 digits.
            raise ConstructorError(
                None, None, f"cannot read this value: {exc}", node.start_mark
            ) from None


def _runaway_quote(text: str, line: int) -> int | None:
    """The line of a quoted value that ran on until `line`: its closing quote is missing.

    A quote left open swallows the lines after it up to the next quote character, and
    YAML only complains there, far below the real mistake.
    """
    last = None
    try:
        # Only as far as the error: the first parse got there, so this costs no more.
        for token in yaml.scan(text, Loader=yaml.SafeLoader):
            if token.start_mark.line > line:
                break
            last = token
    except yaml.YAMLError:
        pass
    if (
        isinstance(last, yaml.ScalarToken)
        and last.style in ('"', "'")
        and last.start_mark.line < last.end_mark.line == line
    ):
        opened: int = last.start_mark.line
        return opened
    return None


def _syntax_problem(exc: yaml.MarkedYAMLError, text: str) -> tuple[int, str]:
    """The line an author has to fix, and the message, for a YAML syntax error."""
    problem, context = exc.problem_mark, exc.context_mark
    syntax = isinstance(exc, ScannerError | ParserError)
    start = _runaway_quote(text, problem.line) if problem and syntax else None
    if start is not None and problem is not None:
        return start + 1, (
            f"invalid YAML: the quoted value that starts here runs on to line "
            f"{problem.line + 1}, where {exc.problem}: is its closing quote missing?"
        )
    at_end = problem is None or not text[problem.index :].strip()
    # A scanner's context is where the broken token starts (an unclosed quote) while its
    # problem mark may be the end of the file; a parser's context is the enclosing block.
    if context is not None and (at_end or isinstance(exc, ScannerError)):
        where = f" on line {problem.line + 1}" if problem and problem.line != context.line else ""
        return (
            context.line + 1,
            f"invalid YAML: {exc.context} that starts here: {exc.problem}{where}",
        )
    mark = problem or context
    message = f"invalid YAML: {exc.problem}"
    if exc.context and context is not None and mark is not None and context.line != mark.line:
        message += f" ({exc.context} on line {context.line + 1})"
    return (mark.line + 1 if mark else 1), message


class Located:
    """A parsed document plus the line of every field path in it."""

    def __init__(self, path: Path | str, text: str) -> None:
        self.path = str(path)
        self.lines: dict[Loc, int] = {}
        self.problems: list[Problem] = []
        self.data: Any = None
        if len(text) > MAX_BYTES:
            self.problems.append(Problem(self.path, 1, "", _too_big(len(text))))
            return
        bad = _RAW_BAD.search(text)
        if bad:
            line = text.count("\n", 0, bad.start()) + 1
            self.problems.append(Problem(self.path, line, "", _character(bad.group())))
            return
        loader = _Loader(text)
        try:
            node = loader.get_single_node()
            if node is None:
                self.lines[()] = 1
                return
            self._walk(node, ())
            if not self.problems:
                self.data = loader.construct_document(node)
        except yaml.MarkedYAMLError as exc:
            self.data = None
            line, message = _syntax_problem(exc, text)
            self.problems.append(Problem(self.path, line, "", message))
        except yaml.YAMLError as exc:
            # Reader errors are caught by the character check above; this is a fallback.
            self.data = None
            self.problems.append(Problem(self.path, 1, "", f"invalid YAML: {exc}"))
        finally:
            loader.dispose()

    def _walk(self, node: yaml.Node, loc: Loc) -> None:
        self.lines[loc] = node.start_mark.line + 1
        if isinstance(node, yaml.ScalarNode):
            self._check_characters(node, loc)
        elif isinstance(node, yaml.MappingNode):
            seen: set[Any] = set()
            for key_node, value_node in node.value:
                if not isinstance(key_node, yaml.ScalarNode):
                    self.problem(loc, "mapping keys must be plain strings")
                    continue
                key = key_node.value
                sub = (*loc, key)
                self._check_characters(key_node, loc)
                if key in seen:
                    # PyYAML keeps the last duplicate silently; an author never means that.
                    self.problem(sub, "duplicate key", line=key_node.start_mark.line + 1)
                seen.add(key)
                self._walk(value_node, sub)
                self.lines[sub] = key_node.start_mark.line + 1
        elif isinstance(node, yaml.SequenceNode):
            for index, item in enumerate(node.value):
                self._walk(item, (*loc, index))

    def _check_characters(self, node: yaml.ScalarNode, loc: Loc) -> None:
        # Escapes such as "\0" pass the raw-text check; their decoded value is checked here.
        bad = _VALUE_BAD.search(node.value)
        if bad:
            self.problem(loc, _character(bad.group()), line=node.start_mark.line + 1)

    def line_of(self, loc: Loc) -> int:
        """The line of the deepest known prefix of `loc` (a missing key: its parent)."""
        for end in range(len(loc), -1, -1):
            if loc[:end] in self.lines:
                return self.lines[loc[:end]]
        return 1

    def problem(self, loc: Loc, message: str, *, line: int | None = None) -> None:
        line = line or self.line_of(loc)
        self.problems.append(Problem(self.path, line, field_name(loc), message))

    def validate(self, model: type[M]) -> M | None:
        """Validate the data with `model`, recording each error at its line."""
        if self.problems:
            return None
        try:
            return model.model_validate(self.data)
        except ValidationError as exc:
            for error in exc.errors():
                loc = tuple(error["loc"])
                self.problem(loc, error["msg"].removeprefix("Value error, "))
            return None

    def raise_problems(self) -> None:
        if self.problems:
            self.problems.sort(key=lambda p: p.line)
            raise SpecError(self.problems)


def _too_big(size: int) -> str:
    return f"the file is {size:,} bytes; the limit is {MAX_BYTES:,}: split it"


def read_text(path: Path | str) -> tuple[str | None, Problem | None]:
    """The file's text, or the problem that stops it being read (too big, not UTF-8)."""
    try:
        size = os.stat(path).st_size
        if size > MAX_BYTES:
            return None, Problem(str(path), 1, "", _too_big(size))
        data = Path(path).read_bytes()
    except OSError as exc:
        return None, Problem(str(path), 1, "", f"cannot read file: {exc}")
    try:
        return data.decode("utf-8"), None
    except UnicodeDecodeError as exc:
        line = data.count(b"\n", 0, exc.start) + 1
        return None, Problem(str(path), line, "", f"not UTF-8 text: {exc.reason}")


def read_located(path: Path | str) -> Located:
    """Parse one YAML file; a file that cannot be read becomes a problem too."""
    text, problem = read_text(path)
    if text is None:
        located = Located(path, "")
        located.problems.append(problem)  # type: ignore[arg-type]
        return located
    return Located(path, text)
