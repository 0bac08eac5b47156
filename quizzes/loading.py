"""The test YAML format (docs/quiz-format.md): validate, load all or nothing, dump back."""

from __future__ import annotations

from collections import Counter
from collections.abc import Collection, Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import Annotated, Any, Literal

from django.db import transaction
from pydantic import (
    AfterValidator,
    AwareDatetime,
    BaseModel,
    ConfigDict,
    Field,
    StrictBool,
    StrictInt,
    StrictStr,
)

from courseware.models import Module
from courseware.modules import Link
from courseware.yamlspec import Located, Problem, SpecError, read_located
from quizzes.models import KEY_PATTERN, Question, QuestionContent, QuestionVersion, Quiz
from quizzes.proofs import Proofs

Slug = Annotated[StrictStr, Field(pattern=KEY_PATTERN, max_length=50)]
Key = Annotated[StrictStr, Field(pattern=KEY_PATTERN, max_length=80)]


def _not_blank(value: str) -> str:
    if not value.strip():
        raise ValueError("must not be blank")
    return value


Text = Annotated[StrictStr, AfterValidator(_not_blank)]
# Quiz.title's column size: SQLite would store a longer title, PostgreSQL refuses it.
Title = Annotated[StrictStr, Field(max_length=200), AfterValidator(_not_blank)]

MIN_OPTIONS, MAX_OPTIONS = 3, 6
# Module slug -> its objective keys, from module files when the database is not there yet.
ModuleObjectives = Mapping[str, Collection[str]]


class Strict(BaseModel):
    model_config = ConfigDict(extra="forbid")


class OptionSpec(Strict):
    text: Text
    correct: StrictBool = False


class QuestionSpec(Strict):
    key: Key
    kind: Literal["single", "multiple"]
    objective: Slug
    text: Text
    options: list[OptionSpec] = Field(min_length=MIN_OPTIONS, max_length=MAX_OPTIONS)
    explanation: Text
    source: Link
    # Validated, never stored: an export merged into the file keeps it (quizzes/exporting.py).
    proof: Proofs = []


class ReviewSpec(Strict):
    when: Literal["never", "after_submit", "after_close"] = "after_close"
    questions: Literal["wrong", "all"] = "wrong"
    show_key: StrictBool = False
    show_explanations: StrictBool = False


class SettingsSpec(Strict):
    """Defaults follow RS App (docs/quiz-format.md says why for each)."""

    max_attempts: StrictInt = Field(default=3, ge=1, le=100)
    questions_per_attempt: StrictInt = Field(default=20, ge=1, le=500)
    threshold_percent: StrictInt = Field(default=70, ge=0, le=100)
    strict_attempts: StrictBool = True
    cooldown_hours: StrictInt = Field(default=1, ge=0, le=24 * 365)
    max_score: StrictInt = Field(default=100, ge=1, le=10_000)
    opens_at: AwareDatetime | None = None
    closes_at: AwareDatetime | None = None
    time_limit_minutes: StrictInt | None = Field(default=None, ge=1, le=24 * 60)
    counting_attempt: Literal["last", "best"] = "last"
    review: ReviewSpec = ReviewSpec()


class QuizSpec(Strict):
    slug: Slug
    title: Title
    module: Slug
    description: StrictStr = ""
    settings: SettingsSpec = SettingsSpec()
    questions: list[QuestionSpec] = Field(min_length=1)


def _module_objectives(slug: str) -> dict[str, set[str]]:
    """`{slug: objective keys}` from the database; empty when the module is not loaded."""
    module = Module.objects.filter(slug=slug).first()
    return {slug: set(module.objectives.values_list("key", flat=True))} if module else {}


def _check(doc: Located, spec: QuizSpec, modules: ModuleObjectives | None) -> None:
    """Rules that span fields, and references to the module (skipped when `modules` is None)."""
    s = spec.settings
    if s.opens_at and s.closes_at and s.closes_at <= s.opens_at:
        doc.problem(("settings", "closes_at"), "must be later than opens_at")
    if len(spec.questions) < s.questions_per_attempt:
        doc.problem(
            ("settings", "questions_per_attempt"),
            f"draws {s.questions_per_attempt} questions but the file has only "
            f"{len(spec.questions)}",
        )
    objectives = modules.get(spec.module) if modules is not None else None
    if modules is not None and objectives is None:
        doc.problem(
            ("module",),
            f"unknown module {spec.module!r}: load it first with load_module "
            "(or, for a check, name its file in --modules)",
        )
    seen: set[str] = set()
    for i, question in enumerate(spec.questions):
        loc = ("questions", i)
        if question.key in seen:
            doc.problem((*loc, "key"), f"duplicate question key {question.key!r}")
        seen.add(question.key)
        if objectives is not None and question.objective not in objectives:
            doc.problem(
                (*loc, "objective"),
                f"module {spec.module!r} has no objective {question.objective!r} "
                f"(it has: {', '.join(sorted(objectives))})",
            )
        correct = sum(o.correct for o in question.options)
        if question.kind == "single" and correct != 1:
            doc.problem(
                (*loc, "options"),
                f"a single-choice question needs exactly one correct option, not {correct}",
            )
        if question.kind == "multiple" and correct < 1:
            doc.problem((*loc, "options"), "a multiple-choice question needs a correct option")
        texts = Counter(o.text.strip() for o in question.options)
        for j, option in enumerate(question.options):
            if texts[option.text.strip()] > 1:
                doc.problem((*loc, "options", j, "text"), "the same option text appears twice")


def quiz_parse(
    path: Path | str, *, modules: ModuleObjectives | None = None, database: bool = True
) -> QuizSpec:
    """Validate one test file; raise SpecError naming file, line and field.

    The module and objectives are checked against `modules` when given, else against the
    database; with neither (`database=False`), only the file itself is checked.
    """
    doc = read_located(path)
    spec = doc.validate(QuizSpec)
    if spec is not None:
        if modules is None and database:
            modules = _module_objectives(spec.module)
        _check(doc, spec, modules)
    doc.raise_problems()
    assert spec is not None
    return spec


@dataclass
class Changes:
    """What loading one file did; all zero when the file matched the database."""

    slug: str
    quiz: str = "unchanged"
    counts: Counter[str] = field(default_factory=Counter)
    # Keys of questions whose admin-edited wording the file would have replaced.
    kept: list[str] = field(default_factory=list)

    def __str__(self) -> str:
        parts = [f"test {self.quiz}"]
        parts += [f"{n} question(s) {what}" for what, n in sorted(self.counts.items())]
        if self.kept:
            parts.append(f"{len(self.kept)} admin edit(s) kept")
        return f"{self.slug}: {', '.join(parts)}"

    def notes(self) -> list[str]:
        return [
            f"kept admin edit of `{key}`; use --force to take the file's text" for key in self.kept
        ]


def _settings_fields(spec: QuizSpec) -> dict[str, Any]:
    s = spec.settings
    return {
        "title": spec.title,
        "description": spec.description,
        "max_attempts": s.max_attempts,
        "questions_per_attempt": s.questions_per_attempt,
        "threshold_percent": s.threshold_percent,
        "strict_attempts": s.strict_attempts,
        "cooldown_hours": s.cooldown_hours,
        "max_score": s.max_score,
        "opens_at": s.opens_at,
        "closes_at": s.closes_at,
        "time_limit_minutes": s.time_limit_minutes,
        "counting_attempt": s.counting_attempt,
        "review_when": s.review.when,
        "review_questions": s.review.questions,
        "review_show_key": s.review.show_key,
        "review_show_explanations": s.review.show_explanations,
    }


def _admin_edited(question: Question) -> bool:
    version = question.current
    return version is not None and version.origin == QuestionVersion.Origin.ADMIN


def _matches(question: Question, position: int, content: QuestionContent) -> bool:
    """Whether the question already is what the file says (an admin edit exported into it)."""
    assert question.current is not None
    same_place = question.position == position and question.is_active
    return same_place and question.current.content() == content


@transaction.atomic
def quiz_save(spec: QuizSpec, *, force: bool = False) -> Changes:
    """Create or update a test from a validated spec, writing only what differs.

    Questions absent from the file become inactive, never deleted: attempts refer to
    them. Edited questions get a new version only if an attempt drew the old one.
    A question last edited in the admin (wording, position or activation) is kept as it
    is unless `force`: the file is older than that edit until the edit is exported into it.
    """
    changes = Changes(spec.slug)
    module = Module.objects.get(slug=spec.module)
    wanted = {"module_id": module.id, **_settings_fields(spec)}
    quiz = Quiz.objects.select_for_update().filter(slug=spec.slug).first()
    if quiz is None:
        quiz = Quiz.objects.create(slug=spec.slug, **wanted)
        changes.quiz = "created"
    else:
        changed = [name for name, value in wanted.items() if getattr(quiz, name) != value]
        if changed:
            for name in changed:
                setattr(quiz, name, wanted[name])
            fields = [name.removesuffix("_id") for name in changed]
            quiz.save(update_fields=[*fields, "updated_at"])
            changes.quiz = "updated"

    objective_ids = dict(module.objectives.values_list("key", "id"))
    # Lock the questions only: PostgreSQL cannot lock the nullable side of the version join.
    locked = quiz.questions.select_for_update(of=("self",)).select_related("current")
    existing = {q.key: q for q in locked}
    for position, item in enumerate(spec.questions):
        question = existing.pop(item.key, None)
        content = QuestionContent(
            kind=item.kind,
            objective_id=objective_ids[item.objective],
            text=item.text,
            explanation=item.explanation,
            source=item.source,
            options=tuple((o.text, o.correct) for o in item.options),
        )
        if question is None:
            question = Question.objects.create(quiz=quiz, key=item.key, position=position)
        elif not force and _admin_edited(question) and not _matches(question, position, content):
            changes.kept.append(item.key)
            continue
        elif question.position != position or not question.is_active:
            question.position = position
            question.is_active = True
            question.save(update_fields=["position", "is_active"])
            changes.counts["moved or reactivated"] += 1
        outcome = question.set_content(content)
        if outcome != "unchanged":
            changes.counts[outcome] += 1
    for question in existing.values():
        if question.is_active and not force and _admin_edited(question):
            changes.kept.append(question.key)
        elif question.is_active:
            question.is_active = False
            question.save(update_fields=["is_active"])
            changes.counts["deactivated"] += 1
    return changes


def quizzes_load(
    paths: list[Path | str],
    *,
    check_only: bool = False,
    modules: ModuleObjectives | None = None,
    database: bool = True,
    force: bool = False,
) -> list[Changes]:
    """Validate every file first, then save all of them in one transaction.

    `modules` and `database` are quiz_parse's; only a check may do without the database.
    `force` is quiz_save's: take the files' wording over admin edits.
    """
    if not check_only and (modules is not None or not database):
        raise ValueError("only a check can do without the database; loading needs it")
    specs: list[QuizSpec] = []
    problems: list[Problem] = []
    first_path: dict[str, str] = {}
    for path in paths:
        try:
            spec = quiz_parse(path, modules=modules, database=database)
        except SpecError as exc:
            problems += exc.problems
            continue
        if spec.slug in first_path:
            line = read_located(path).line_of(("slug",))
            problems.append(
                Problem(
                    str(path),
                    line,
                    "slug",
                    f"test {spec.slug!r} is also in {first_path[spec.slug]}",
                )
            )
        first_path.setdefault(spec.slug, str(path))
        specs.append(spec)
    if problems:
        raise SpecError(problems)
    if check_only:
        return [Changes(spec.slug, "valid") for spec in specs]
    with transaction.atomic():
        return [quiz_save(spec, force=force) for spec in specs]
