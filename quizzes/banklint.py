"""Lint a question bank for test-wiseness cues, thin objectives and unsupported links.

The thresholds and the allow-list are documented in docs/authoring-questions.md; the
figures are what a test-wise student could learn from the bank as a whole.
"""

from __future__ import annotations

import re
from collections import Counter, defaultdict
from dataclasses import dataclass, field
from pathlib import Path

from courseware.models import Module
from courseware.modules import ModuleSpec, module_links
from quizzes.loading import QuestionSpec, QuizSpec
from quizzes.proofs import proof_missing

MAX_PATTERN_SHARE = 35  # % of multiple-choice questions one (correct, options) pair may cover
MAX_LONGEST_KEY_SHARE = 30  # % of single-choice questions whose key is the longest option
MIN_QUESTIONS = 100
MIN_PER_OBJECTIVE = 18

# Sources a `source:` link may point into, besides the module's own resources and the
# site's pages (`/…`). Primary texts and well-kept references only: a question's key has
# to be checkable against the page it links.
ALLOWED_SOURCES = (
    "https://www.rfc-editor.org/rfc/",
    "https://websockets.spec.whatwg.org/",
    "https://html.spec.whatwg.org/",
    "https://fetch.spec.whatwg.org/",
    "https://developer.mozilla.org/",
    "https://javascript.info/",
    "https://cheatsheetseries.owasp.org/",
    "https://www.iana.org/assignments/websocket/",
    "https://github.com/rolling-scopes-school/fun-chat-server",
)

# Words that make a statement easy to rule out; reported, not limited.
ABSOLUTE_WORDS = re.compile(r"\b(always|never|only|every|all|none|nothing|any)\b", re.I)


@dataclass(frozen=True)
class BankModule:
    """What the lint needs to know of the bank's module: objectives and resource links."""

    objectives: tuple[str, ...]
    resources: frozenset[str] = frozenset()


def bank_module_from_spec(spec: ModuleSpec) -> BankModule:
    return BankModule(tuple(o.key for o in spec.objectives), frozenset(module_links(spec)))


def bank_module_from_db(slug: str) -> BankModule | None:
    module = Module.objects.filter(slug=slug).first()
    if module is None:
        return None
    objectives = tuple(module.objectives.order_by("position").values_list("key", flat=True))
    return BankModule(objectives, frozenset(module.resources.values_list("url", flat=True)))


@dataclass
class BankReport:
    """The lint's figures, one line each, and the thresholds the bank broke."""

    slug: str
    figures: list[str] = field(default_factory=list)
    failures: list[str] = field(default_factory=list)

    def __str__(self) -> str:
        lines = [f"{self.slug}:", *(f"  {line}" for line in self.figures)]
        lines += [f"  FAIL: {failure}" for failure in self.failures]
        return "\n".join(lines)


def _questions(count: int) -> str:
    return f"{count} question" if count == 1 else f"{count} questions"


def _share(part: int, whole: int) -> int:
    return round(100 * part / whole) if whole else 0


def _under(url: str, base: str) -> bool:
    """`url` is `base` or a page below it; `https://a.org/x` does not cover `/x-other`."""
    base = base.rstrip("/")
    return url == base or (url.startswith(base) and url[len(base)] in "/#?")


def link_allowed(url: str, resources: frozenset[str] = frozenset()) -> bool:
    """A site path, a page under an allowed source, or one of the module's resources."""
    if url.startswith("/"):
        return True
    page = url.split("#", 1)[0]
    return any(_under(page, base) for base in ALLOWED_SOURCES) or any(
        _under(page, resource.split("#", 1)[0]) for resource in resources
    )


def _correct(question: QuestionSpec) -> int:
    return sum(option.correct for option in question.options)


def _answer_counts(report: BankReport, multiple: list[QuestionSpec]) -> None:
    if not multiple:
        report.figures.append("multiple choice: none")
        return
    patterns = Counter((_correct(q), len(q.options)) for q in multiple)
    shares = ", ".join(
        f"{c} of {n}: {count} ({_share(count, len(multiple))}%)"
        for (c, n), count in sorted(patterns.items(), key=lambda item: (item[0][1], item[0][0]))
    )
    report.figures.append(f"multiple choice, correct of options: {shares}")
    for (correct, options), count in sorted(patterns.items()):
        share = _share(count, len(multiple))
        if share > MAX_PATTERN_SHARE:
            report.failures.append(
                f"{correct} correct of {options} options in {share}% of multiple-choice "
                f"questions (at most {MAX_PATTERN_SHARE}%)"
            )
    by_size: defaultdict[int, set[int]] = defaultdict(set)
    for question in multiple:
        by_size[len(question.options)].add(_correct(question))
    for options in sorted(by_size):
        asked = sum(len(q.options) == options for q in multiple)
        # One question alone is no pattern; two or more with one count are a rule to learn.
        if asked > 1 and len(by_size[options]) == 1:
            (only,) = by_size[options]
            report.failures.append(
                f"all {asked} multiple-choice questions with {options} options have exactly "
                f"{only} correct: vary it"
            )


def _longest_keys(report: BankReport, single: list[QuestionSpec]) -> None:
    longest = []
    for question in single:
        key = max(len(o.text.strip()) for o in question.options if o.correct)
        others = [len(o.text.strip()) for o in question.options if not o.correct]
        if key > max(others):
            longest.append(question.key)
    share = _share(len(longest), len(single))
    report.figures.append(
        f"key is the longest option: {len(longest)} of {len(single)} single-choice ({share}%)"
    )
    if share > MAX_LONGEST_KEY_SHARE:
        report.failures.append(
            f"the key is the longest option in {share}% of single-choice questions "
            f"(at most {MAX_LONGEST_KEY_SHARE}%): {', '.join(longest)}"
        )


def _absolute_words(report: BankReport, questions: list[QuestionSpec]) -> None:
    keys = [o for q in questions for o in q.options if o.correct]
    distractors = [o for q in questions for o in q.options if not o.correct]
    in_keys = sum(bool(ABSOLUTE_WORDS.search(o.text)) for o in keys)
    in_distractors = sum(bool(ABSOLUTE_WORDS.search(o.text)) for o in distractors)
    report.figures.append(
        f"absolute words: {_share(in_keys, len(keys))}% of keys, "
        f"{_share(in_distractors, len(distractors))}% of distractors (reported, no limit)"
    )


def _coverage(
    report: BankReport, spec: QuizSpec, module: BankModule | None, min_questions: int, min_each: int
) -> None:
    per_objective = Counter(q.objective for q in spec.questions)
    objectives = list(module.objectives) if module else sorted(per_objective)
    counts = ", ".join(f"{key} {per_objective[key]}" for key in objectives)
    report.figures.append(f"questions per objective: {counts}")
    if module is None:
        report.figures.append("(module not given: objectives without questions are not seen)")
    if len(spec.questions) < min_questions:
        report.failures.append(f"{_questions(len(spec.questions))} (at least {min_questions})")
    for key in objectives:
        if per_objective[key] < min_each:
            report.failures.append(
                f"objective {key!r} has {_questions(per_objective[key])} (at least {min_each})"
            )


def _links_and_proofs(
    report: BankReport, spec: QuizSpec, module: BankModule | None, root: Path
) -> None:
    resources = module.resources if module else frozenset()
    outside = [q for q in spec.questions if not link_allowed(q.source, resources)]
    report.figures.append(f"links outside the allow-list: {len(outside)}")
    for question in outside:
        report.failures.append(f"{question.key}: source {question.source} is not allowed")
    proved = [q for q in spec.questions if q.proof]
    report.figures.append(f"questions with a browser proof: {len(proved)}")
    for question in proved:
        for proof in question.proof:
            missing = proof_missing(proof, root=root)
            if missing:
                report.failures.append(f"{question.key}: {missing}")


def bank_lint(
    spec: QuizSpec,
    *,
    module: BankModule | None,
    root: Path,
    min_questions: int = MIN_QUESTIONS,
    min_per_objective: int = MIN_PER_OBJECTIVE,
) -> BankReport:
    """Figures and threshold failures for one validated bank; `root` holds `tests/`."""
    report = BankReport(spec.slug)
    single = [q for q in spec.questions if q.kind == "single"]
    multiple = [q for q in spec.questions if q.kind == "multiple"]
    report.figures.append(
        f"{len(spec.questions)} questions: {len(single)} single, {len(multiple)} multiple choice"
    )
    _answer_counts(report, multiple)
    if single:
        _longest_keys(report, single)
    _absolute_words(report, spec.questions)
    _coverage(report, spec, module, min_questions, min_per_objective)
    _links_and_proofs(report, spec, module, root)
    return report
