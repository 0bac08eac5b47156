"""Starting, answering, submitting and reviewing attempts: the rows around quizzes.grading.

Every write that depends on a student's earlier attempts first locks their Result
row for the test (Result.lock), so two requests at once (two tabs, a double click,
a script) run one after the other and the attempt cap holds. RS App read the count
and inserted without a lock (quiz-anchors.md, section 1.7); the unique constraints on Attempt
are the second line of defence.
"""

from __future__ import annotations

import random
import secrets
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from datetime import datetime

from django.db import transaction
from django.db.models import Model
from django.utils import timezone
from django.utils.safestring import SafeString, mark_safe

from courseware.markup import render_markdown
from quizzes import grading
from quizzes.models import (
    Answer,
    Attempt,
    AttemptQuestion,
    QuestionVersion,
    Quiz,
    Result,
)


class AttemptError(Exception):
    """A request about an attempt that the rules refuse; the message is for the student."""


class StartRefused(AttemptError):
    def __init__(self, decision: grading.StartDecision) -> None:
        self.decision = decision
        super().__init__(decision.reason)


class AttemptClosed(AttemptError):
    """The attempt is no longer open: submitted, or its time ran out."""


class BadAnswer(AttemptError):
    """The chosen options do not fit the question."""


@dataclass(frozen=True)
class PaperOption:
    id: int
    html: SafeString


@dataclass(frozen=True)
class PaperQuestion:
    """A drawn question as the student answers it: never any correct flag."""

    position: int
    kind: str
    html: SafeString
    options: list[PaperOption]
    chosen: frozenset[int]


@dataclass(frozen=True)
class ReviewOption:
    id: int
    html: SafeString
    chosen: bool
    correct: bool | None  # None unless the policy shows the key


@dataclass(frozen=True)
class ReviewQuestion:
    position: int
    kind: str
    html: SafeString
    options: list[ReviewOption]
    is_correct: bool
    explanation_html: SafeString | None  # None unless the policy shows explanations
    source: str
    objective: str


@dataclass(frozen=True)
class Review:
    access: grading.ReviewAccess
    questions: list[ReviewQuestion]


def render_inline(text: str) -> SafeString:
    """Render an option's Markdown without the paragraph around it, to sit in a label."""
    html = str(render_markdown(text)).strip()
    if html.startswith("<p>") and html.endswith("</p>") and html.count("<p>") == 1:
        html = html[3:-4]
    return mark_safe(html)  # noqa: S308 - sanitised by render_markdown


def _now(now: datetime | None) -> datetime:
    return now or timezone.now()


def _history(quiz: Quiz, user: Model, now: datetime) -> list[grading.PastAttempt]:
    # An overdue attempt counts as finished: it is graded before anything new starts.
    return [
        grading.PastAttempt(a.number, a.started_at, a.is_finished or a.is_overdue(now))
        for a in Attempt.objects.for_student(quiz, user)
    ]


def quiz_may_start(
    *, quiz: Quiz, user: Model, now: datetime | None = None
) -> grading.StartDecision:
    """Whether `user` may start an attempt now, why not, and from when (read-only)."""
    now = _now(now)
    return grading.may_start(
        rules=quiz.rules(),
        attempts=_history(quiz, user, now),
        now=timezone.localtime(now),
        pool_size=quiz.active_questions().count(),
    )


def attempt_current(*, quiz: Quiz, user: Model, now: datetime | None = None) -> Attempt | None:
    """The student's attempt in progress, after grading one whose time ran out."""
    attempts_expire_overdue(quiz=quiz, user=user, now=now)
    return Attempt.objects.for_student(quiz, user).open().first()


def attempt_start(
    *, quiz: Quiz, user: Model, now: datetime | None = None, rng: random.Random | None = None
) -> Attempt:
    """Start an attempt (or return the one in progress); draws the questions server-side.

    Raises StartRefused with the reason and the time it becomes possible.
    """
    now = _now(now)
    rng = rng or secrets.SystemRandom()
    attempts_expire_overdue(quiz=quiz, user=user, now=now)
    with transaction.atomic():
        Result.lock(quiz=quiz, user=user)
        current = Attempt.objects.for_student(quiz, user).open().first()
        if current is not None:
            return current
        decision = grading.may_start(
            rules=quiz.rules(),
            attempts=_history(quiz, user, now),
            now=timezone.localtime(now),
            pool_size=quiz.active_questions().count(),
        )
        if not decision.allowed:
            raise StartRefused(decision)
        version_ids = list(quiz.active_questions().values_list("current_id", flat=True))
        drawn = rng.sample(version_ids, quiz.questions_per_attempt)
        # Lock the drawn versions: an admin edit in place must wait, then see them used.
        versions = {
            v.id: v
            for v in QuestionVersion.objects.select_for_update()
            .filter(id__in=drawn)
            .prefetch_related("options")
        }
        attempt = Attempt.objects.create(
            quiz=quiz,
            user=user,
            number=decision.next_number,
            started_at=now,
            deadline=grading.attempt_deadline(rules=quiz.rules(), started_at=now),
            question_count=len(drawn),
        )
        rows = []
        for position, version_id in enumerate(drawn):
            order = [o.id for o in versions[version_id].options.all()]
            rng.shuffle(order)
            rows.append(
                AttemptQuestion(
                    attempt=attempt, version_id=version_id, position=position, option_order=order
                )
            )
        AttemptQuestion.objects.bulk_create(rows)
    return attempt


def _locked_open(attempt: Attempt, now: datetime) -> Attempt:
    """Lock the attempt's rows; raise AttemptClosed if it is no longer open."""
    Result.lock(quiz=attempt.quiz, user=attempt.user)
    locked = Attempt.objects.select_for_update().get(pk=attempt.pk)
    if locked.status == Attempt.Status.SUBMITTED:
        raise AttemptClosed(f"Attempt {locked.number} was already submitted.")
    if locked.status == Attempt.Status.EXPIRED:
        raise AttemptClosed(f"Attempt {locked.number} has ended: its time ran out.")
    return locked


def _save_answer(question: AttemptQuestion, option_ids: Sequence[int]) -> Answer:
    chosen = sorted(set(option_ids))
    if len(chosen) != len(option_ids):
        raise BadAnswer("An option was chosen twice.")
    if not set(chosen) <= set(question.option_order):
        raise BadAnswer(f"Question {question.position + 1} has no such option.")
    if question.version.kind == QuestionVersion.Kind.SINGLE and len(chosen) > 1:
        raise BadAnswer(f"Question {question.position + 1} takes one option.")
    answer, _ = Answer.objects.update_or_create(question=question, defaults={"chosen": chosen})
    return answer


def attempt_answer(
    *, attempt: Attempt, position: int, option_ids: Sequence[int], now: datetime | None = None
) -> Answer:
    """Save (or replace) the options chosen for drawn question `position` (0-based).

    An empty list clears the answer. After the deadline the attempt is graded with
    what was saved before it, and AttemptClosed is raised.
    """
    now = _now(now)
    if attempt.is_overdue(now):
        attempts_expire_overdue(quiz=attempt.quiz, user=attempt.user, now=now)
    with transaction.atomic():
        locked = _locked_open(attempt, now)
        if locked.is_overdue(now):
            raise AttemptClosed("Time is up: answers can no longer be changed.")
        try:
            question = locked.questions.select_related("version").get(position=position)
        except AttemptQuestion.DoesNotExist:
            raise BadAnswer(f"Attempt {locked.number} has no question {position + 1}.") from None
        return _save_answer(question, option_ids)


def _grade(attempt: Attempt, now: datetime, *, expired: bool) -> Attempt:
    """Grade a locked open attempt, store it, and update the student's counted score."""
    quiz = attempt.quiz
    rules = quiz.rules()
    questions = list(
        attempt.questions.select_related("version", "answer").prefetch_related("version__options")
    )
    responses = []
    for question in questions:
        correct = frozenset(o.id for o in question.version.options.all() if o.correct)
        answer = getattr(question, "answer", None)
        chosen = frozenset(answer.chosen) if answer else frozenset()
        response = grading.Response(correct=correct, chosen=chosen)
        question.is_correct = response.is_correct
        responses.append(response)
    AttemptQuestion.objects.bulk_update(questions, ["is_correct"])

    grade = grading.grade_attempt(rules=rules, attempt_number=attempt.number, responses=responses)
    attempt.status = Attempt.Status.EXPIRED if expired else Attempt.Status.SUBMITTED
    # An expired attempt ended at its deadline, however late the sweep noticed it.
    attempt.submitted_at = attempt.deadline if expired and attempt.deadline else now
    attempt.correct_count = grade.correct_count
    attempt.accuracy = grade.accuracy
    attempt.score = grade.score
    attempt.max_score = grade.max_score
    attempt.halved = grade.halved

    finished = Attempt.objects.for_student(quiz, attempt.user).finished().exclude(pk=attempt.pk)
    scores = [(a.number, a.score) for a in finished] + [(attempt.number, grade.score)]
    counted = grading.counted_score(counting=rules.counting, scores=scores)
    assert counted is not None
    receipt = f"{grade.receipt}; {counted.note}"
    if expired:
        receipt = f"Time ran out, so the answers saved before it were graded: {receipt}"
    attempt.receipt = receipt
    attempt.save()

    result = Result.objects.get(quiz=quiz, user=attempt.user)
    result.score = counted.score
    result.attempt = (
        attempt
        if counted.attempt_number == attempt.number
        else finished.get(number=counted.attempt_number)
    )
    result.receipt = f"Attempt {attempt.number}: {receipt}"
    result.save()
    return attempt


def attempt_submit(
    *,
    attempt: Attempt,
    answers: Mapping[int, Sequence[int]] | None = None,
    now: datetime | None = None,
) -> Attempt:
    """Grade the attempt, optionally saving final answers {position: option ids} first.

    Once its deadline has passed, answers sent with the submit are refused and the
    attempt is graded as expired with what was saved in time. Raises AttemptClosed if
    the attempt was already finished (a second click, another tab) and BadAnswer for
    options that do not fit; then nothing is saved.
    """
    now = _now(now)
    with transaction.atomic():
        locked = _locked_open(attempt, now)
        expired = locked.is_overdue(now)
        if answers and not expired:
            questions = {q.position: q for q in locked.questions.select_related("version").all()}
            for position, option_ids in answers.items():
                if position not in questions:
                    raise BadAnswer(f"Attempt {locked.number} has no question {position + 1}.")
                _save_answer(questions[position], option_ids)
        return _grade(locked, now, expired=expired)


def attempts_expire_overdue(
    *, quiz: Quiz | None = None, user: Model | None = None, now: datetime | None = None
) -> int:
    """Grade every open attempt whose deadline has passed; returns how many."""
    now = _now(now)
    overdue = Attempt.objects.overdue(now)
    if quiz is not None:
        overdue = overdue.filter(quiz=quiz)
    if user is not None:
        overdue = overdue.filter(user=user)
    done = 0
    for attempt in overdue.select_related("quiz", "user"):
        with transaction.atomic():
            try:
                locked = _locked_open(attempt, now)
            except AttemptClosed:
                continue  # someone else finished it meanwhile
            _grade(locked, now, expired=True)
            done += 1
    return done


def attempt_paper(attempt: Attempt) -> list[PaperQuestion]:
    """The drawn questions in order, options in the stored shuffled order, with no key."""
    questions = attempt.questions.select_related("version", "answer").prefetch_related(
        "version__options"
    )
    paper = []
    for question in questions:
        answer = getattr(question, "answer", None)
        paper.append(
            PaperQuestion(
                position=question.position,
                kind=question.version.kind,
                html=render_markdown(question.version.text),
                options=[
                    PaperOption(o.id, render_inline(o.text)) for o in question.ordered_options()
                ],
                chosen=frozenset(answer.chosen) if answer else frozenset(),
            )
        )
    return paper


def attempt_review_access(*, attempt: Attempt, now: datetime | None = None) -> grading.ReviewAccess:
    """What the test's review policy lets the student see of this attempt now."""
    return grading.review_access(
        rules=attempt.quiz.rules(),
        finished=attempt.is_finished,
        now=timezone.localtime(_now(now)),
    )


def attempt_review(*, attempt: Attempt, now: datetime | None = None) -> Review:
    """The attempt's questions as the review policy allows (none if it is closed).

    Correct flags and explanations are only filled in when the policy shows them; the
    caller must still check that the attempt belongs to the person asking.
    """
    access = attempt_review_access(attempt=attempt, now=now)
    if not access.allowed:
        return Review(access, [])
    questions = attempt.questions.select_related(
        "version", "version__objective", "answer"
    ).prefetch_related("version__options")
    shown = []
    for question in questions:
        if access.questions == "wrong" and question.is_correct:
            continue
        answer = getattr(question, "answer", None)
        chosen = set(answer.chosen) if answer else set()
        version = question.version
        shown.append(
            ReviewQuestion(
                position=question.position,
                kind=version.kind,
                html=render_markdown(version.text),
                options=[
                    ReviewOption(
                        o.id,
                        render_inline(o.text),
                        o.id in chosen,
                        o.correct if access.show_key else None,
                    )
                    for o in question.ordered_options()
                ],
                is_correct=bool(question.is_correct),
                explanation_html=(
                    render_markdown(version.explanation) if access.show_explanations else None
                ),
                source=version.source,
                objective=version.objective.text,
            )
        )
    return Review(access, shown)
