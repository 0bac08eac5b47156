"""Read a YAML file into a pydantic model, reporting errors by file, line and field.

PyYAML forgets where values came from and pydantic only knows field paths, so the
document's node tree is walked once to map every field path to its line.
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path
from typing import Any, TypeVar

import yaml
from pydantic import BaseModel, ValidationError

M = TypeVar("M", bound=BaseModel)
Loc = tuple[str | int, ...]


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


class Located:
    """A parsed document plus the line of every field path in it."""

    def __init__(self, path: Path | str, text: str) -> None:
        self.path = str(path)
        self.lines: dict[Loc, int] = {}
        self.problems: list[Problem] = []
        loader = yaml.SafeLoader(text)
        try:
            node = loader.get_single_node()
            if node is None:
                self.data: Any = None
                self.lines[()] = 1
                return
            self._walk(node, ())
            self.data = loader.construct_document(node)
        except yaml.MarkedYAMLError as exc:
            mark = exc.problem_mark or exc.context_mark
            line = mark.line + 1 if mark else 1
            self.data = None
            self.problems.append(Problem(self.path, line, "", f"invalid YAML: {exc.problem}"))
        finally:
            loader.dispose()

    def _walk(self, node: yaml.Node, loc: Loc) -> None:
        self.lines[loc] = node.start_mark.line + 1
        if isinstance(node, yaml.MappingNode):
            seen: set[Any] = set()
            for key_node, value_node in node.value:
                if not isinstance(key_node, yaml.ScalarNode):
                    self.problem(loc, "mapping keys must be plain strings")
                    continue
                key = key_node.value
                sub = (*loc, key)
                if key in seen:
                    # PyYAML keeps the last duplicate silently; an author never means that.
                    self.problem(sub, "duplicate key", line=key_node.start_mark.line + 1)
                seen.add(key)
                self._walk(value_node, sub)
                self.lines[sub] = key_node.start_mark.line + 1
        elif isinstance(node, yaml.SequenceNode):
            for index, item in enumerate(node.value):
                self._walk(item, (*loc, index))

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


def read_located(path: Path | str) -> Located:
    """Parse one YAML file; a file that cannot be read becomes a problem too."""
    try:
        text = Path(path).read_text(encoding="utf-8")
    except (OSError, UnicodeDecodeError) as exc:
        located = Located(path, "")
        located.problems.append(Problem(str(path), 1, "", f"cannot read file: {exc}"))
        return located
    return Located(path, text)
