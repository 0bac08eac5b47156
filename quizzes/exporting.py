"""Export a test as YAML, merged into its file so the diff shows only what changed.

The database does not keep a file's comments, quoting, key order or `proof:` lines. So the
export loads the existing file with a round-trip parser (ruamel.yaml) and writes into it
only the values that differ from the database; everything else stays byte for byte.
Without a file to merge into, a fresh document is written in the file's layout.
"""

from __future__ import annotations

import io
from datetime import datetime
from pathlib import Path
from typing import Any

from django.conf import settings
from django.utils import timezone
from ruamel.yaml import YAML
from ruamel.yaml.comments import CommentedMap, CommentedSeq
from ruamel.yaml.representer import RoundTripRepresenter
from ruamel.yaml.scalarstring import (
    DoubleQuotedScalarString,
    LiteralScalarString,
    SingleQuotedScalarString,
)

from courseware.yamlspec import Problem, SpecError, read_text
from quizzes.loading import QuizSpec, quiz_parse
from quizzes.models import Quiz

Document = dict[str, Any]
CONTENT_FIELDS = ("kind", "objective", "text", "options", "explanation", "source")


class _Representer(RoundTripRepresenter):
    """Writes None as `null`, as the hand-written files do (ruamel's default is empty)."""


_Representer.add_representer(
    type(None), lambda r, _: r.represent_scalar("tag:yaml.org,2002:null", "null")
)


def _yaml() -> YAML:
    rt = YAML()
    rt.Representer = _Representer
    rt.preserve_quotes = True
    # Never fold a line the author kept on one line.
    rt.width = 4096
    # `questions:` then `  - key:` then `    kind:`, as in the shipped files.
    rt.indent(mapping=2, sequence=4, offset=2)
    return rt


def quiz_file(slug: str) -> Path:
    """Where a test's file lives in the repository: fixtures/quizzes/<slug>.yaml."""
    return Path(settings.BASE_DIR) / "fixtures" / "quizzes" / f"{slug}.yaml"


def quiz_export(quiz: Quiz) -> str:
    """The test as YAML, merged into its repository file when there is one."""
    base = quiz_file(quiz.slug)
    return quiz_dump(quiz, base=base if base.exists() else None)


def _moment(value: datetime | None) -> datetime | None:
    return timezone.localtime(value) if value else None


def quiz_document(quiz: Quiz) -> Document:
    """The test's stored content as plain values, in the file format's key order."""
    questions = []
    active = (
        quiz.active_questions()
        .select_related("current", "current__objective")
        .prefetch_related("current__options")
        .order_by("position", "key")
    )
    for question in active:
        version = question.current
        assert version is not None
        questions.append(
            {
                "key": question.key,
                "kind": version.kind,
                "objective": version.objective.key,
                "text": version.text,
                "options": [{"text": o.text, "correct": o.correct} for o in version.options.all()],
                "explanation": version.explanation,
                "source": version.source,
            }
        )
    return {
        "slug": quiz.slug,
        "title": quiz.title,
        "module": quiz.module.slug,
        "description": quiz.description,
        "settings": {
            "max_attempts": quiz.max_attempts,
            "questions_per_attempt": quiz.questions_per_attempt,
            "threshold_percent": quiz.threshold_percent,
            "strict_attempts": quiz.strict_attempts,
            "cooldown_hours": quiz.cooldown_hours,
            "max_score": quiz.max_score,
            "opens_at": _moment(quiz.opens_at),
            "closes_at": _moment(quiz.closes_at),
            "time_limit_minutes": quiz.time_limit_minutes,
            "counting_attempt": quiz.counting_attempt,
            "review": {
                "when": quiz.review_when,
                "questions": quiz.review_questions,
                "show_key": quiz.review_show_key,
                "show_explanations": quiz.review_show_explanations,
            },
        },
        "questions": questions,
    }


def _spec_document(spec: QuizSpec) -> Document:
    """A validated file in quiz_document's shape, so the two compare field by field."""
    document = spec.model_dump(exclude={"questions"})
    document["questions"] = [q.model_dump(exclude={"proof"}) for q in spec.questions]
    return document


def _styled(value: Any, old: Any = None) -> Any:
    """`value` ready to write, quoted the way the value it replaces was."""
    if isinstance(value, datetime):
        return value.isoformat()
    if not isinstance(value, str):
        return value
    if "\n" in value:
        return LiteralScalarString(value)
    for style in (DoubleQuotedScalarString, SingleQuotedScalarString):
        if isinstance(old, style):
            return style(value)
    return value


def _option_node(option: Document) -> CommentedMap:
    node = CommentedMap(text=_styled(option["text"]))
    if option["correct"]:
        node["correct"] = True
    return node


def _fresh(value: Any) -> Any:
    """A new node for `value`; options list `correct` only when it is true."""
    if isinstance(value, dict):
        if set(value) == {"text", "correct"}:
            return _option_node(value)
        return CommentedMap((k, _fresh(v)) for k, v in value.items())
    if isinstance(value, list):
        return CommentedSeq(_fresh(v) for v in value)
    return _styled(value)


def _merge_options(seq: CommentedSeq, wanted: list[Document], have: list[Document]) -> None:
    for i, option in enumerate(wanted):
        if i >= len(seq):
            seq.append(_option_node(option))
        elif i >= len(have) or have[i] != option:
            node = seq[i]
            if i >= len(have) or have[i]["text"] != option["text"]:
                node["text"] = _styled(option["text"], node.get("text"))
            if option["correct"]:
                node["correct"] = True
            elif "correct" in node:
                del node["correct"]
    del seq[len(wanted) :]


def _merge_map(node: CommentedMap, wanted: Document, have: Document) -> None:
    """Write into `node` each value of `wanted` that differs from the file's `have`."""
    for name, value in wanted.items():
        if value == have.get(name):
            continue
        if name == "questions":
            _merge_questions(node[name], value, have[name])
        elif name == "options" and isinstance(node.get(name), CommentedSeq):
            _merge_options(node[name], value, have[name])
        elif isinstance(value, dict) and isinstance(node.get(name), CommentedMap):
            _merge_map(node[name], value, have[name])
        else:
            node[name] = (
                _fresh(value) if isinstance(value, dict | list) else _styled(value, node.get(name))
            )


def _merge_questions(seq: CommentedSeq, wanted: list[Document], have: list[Document]) -> None:
    nodes = {node["key"]: node for node in seq}
    had = {question["key"]: question for question in have}
    for question in wanted:
        if question["key"] in nodes:
            _merge_map(nodes[question["key"]], question, had[question["key"]])
    keys = [question["key"] for question in wanted]
    # Deleting and inserting through the sequence keeps each comment with its neighbours.
    for index in reversed(range(len(seq))):
        if seq[index]["key"] not in keys:
            del seq[index]
    kept = [node["key"] for node in seq]
    if kept == [key for key in keys if key in nodes]:
        for index, question in enumerate(wanted):
            if question["key"] not in nodes:
                seq.insert(index, _fresh(question))
    else:
        # Reordered in the admin: comments stay at their positions, questions move.
        seq[:] = [nodes.get(q["key"]) or _fresh(q) for q in wanted]


def quiz_dump(quiz: Quiz, *, base: Path | str | None = None) -> str:
    """The test as YAML that quiz_parse accepts and that loads back to the same content.

    With `base` (the test's file), the export is that file with only the differences
    written in: comments, quoting, order and `proof:` lines stay as they are.
    """
    wanted = quiz_document(quiz)
    rt = _yaml()
    if base is None:
        header = (
            f"# {quiz.title}: exported on {timezone.localdate():%Y-%m-%d}.\n"
            f"# Load with: python manage.py load_quiz {quiz.slug}.yaml\n"
        )
        out = io.StringIO()
        rt.dump(_fresh(wanted), out)
        return header + out.getvalue()
    # The safe reader checks size, aliases, nesting and characters before ruamel sees it.
    spec = quiz_parse(base, database=False)
    if spec.slug != quiz.slug:
        raise SpecError([Problem(str(base), 1, "slug", f"is {spec.slug!r}, not {quiz.slug!r}")])
    text, _ = read_text(base)
    assert text is not None
    tree = rt.load(text)
    _merge_map(tree, wanted, _spec_document(spec))
    out = io.StringIO()
    rt.dump(tree, out)
    return out.getvalue()
