"""Starting, answering and submitting attempts: the rows around quizzes.grading.

Every write that depends on a student's earlier attempts first locks their Result
row for the test (Result.lock), so two requests at once (two tabs, a double click,
a script) run one after the other and the attempt cap holds. RS App read the count
and inserted without a lock (quiz-anchors.md, section 1.7); the unique constraints on Attempt
are the second line of defence. Answer writes also check the deadline and take from the
attempt's allowance (quizzes.pacing) under those locks, on a clock read once they are held.
"""

from __future__ import annotations

import math
import random
import secrets
from collections.abc import Callable, Mapping, Sequence
from datetime import datetime

from django.conf import settings
from django.db import transaction
from django.db.models import Model
from django.utils import timezone
from django.utils.safestring import SafeString, mark_safe

from courseware.markup import render_markdown
from quizzes import grading, pacing
from quizzes.models import (
    Answer,
    Attempt,
    AttemptQuestion,
    QuestionVersion,
    Quiz,
    Result,
)

# Where a start's randomness comes from; tests swap in a seeded random.Random.
draw_random: Callable[[], random.Random] = secrets.SystemRandom


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


class RateLimited(AttemptError):
    """Answers came faster than the attempt's allowance (quizzes.pacing); none was saved."""

    def __init__(self, retry_after: float) -> None:
        self.retry_after = retry_after
        wait = max(1, math.ceil(retry_after))
        super().__init__(f"Too many answers in a short time: wait {wait} s, then save again.")


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
    rng = rng or draw_random()
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
                    attempt=attempt,
                    version_id=version_id,
                    position=position,
                    option_order=order,
                    option_values=new_option_values(len(order), rng),
                )
            )
        AttemptQuestion.objects.bulk_create(rows)
    return attempt


def new_option_values(count: int, rng: random.Random) -> list[str]:
    """`count` distinct random values for a question's options, as its page names them.

    64 random bits each: nothing about an option (its id, its place in the bank, whether
    it is correct) can be read from its value, and sorting the values is a fresh shuffle.
    """
    values: list[str] = []
    while len(values) < count:
        value = f"{rng.getrandbits(64):016x}"
        if value not in values:
            values.append(value)
    return values


def _locked_open(attempt: Attempt) -> Attempt:
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


def _writable(attempt: Attempt, now: datetime | None, *, writes: int) -> Attempt:
    """Lock the open attempt, check its deadline, and take `writes` from its allowance.

    The clock is read once the lock is held: a write that waited for it (another tab's
    save, a grading sweep) past the deadline is refused, not stored late.
    """
    locked = _locked_open(attempt)
    now = _now(now)
    if locked.is_overdue(now):
        raise AttemptClosed("Time is up: answers can no longer be changed.")
    spent = pacing.spend(
        level=locked.allowance,
        filled_at=locked.allowance_at,
        now=now,
        cost=writes,
        size=pacing.capacity(
            burst=settings.QUIZ_ANSWER_BURST, question_count=locked.question_count
        ),
        rate=settings.QUIZ_ANSWER_RATE,
    )
    if not spent.allowed:
        raise RateLimited(spent.retry_after)
    locked.allowance, locked.allowance_at = spent.level, now
    locked.save(update_fields=["allowance", "allowance_at"])
    return locked


def attempt_answers(
    *, attempt: Attempt, answers: Mapping[int, Sequence[int]], now: datetime | None = None
) -> tuple[dict[int, Answer], dict[int, str]]:
    """Save (or replace) several answers {position (0-based): option ids} in one go.

    Each answer is one write from the attempt's allowance; an empty list clears it.
    Returns (the saved answers, the problems of those that did not fit), both by
    position. Raises RateLimited if the allowance cannot cover them all, and
    AttemptClosed once the attempt is over (after grading it if its time ran out):
    then nothing is saved.
    """
    if attempt.is_overdue(_now(now)):
        attempts_expire_overdue(quiz=attempt.quiz, user=attempt.user, now=now)
    saved: dict[int, Answer] = {}
    problems: dict[int, str] = {}
    with transaction.atomic():
        locked = _writable(attempt, now, writes=len(answers))
        questions = {q.position: q for q in locked.questions.select_related("version")}
        for position, option_ids in answers.items():
            try:
                if position not in questions:
                    raise BadAnswer(f"Attempt {locked.number} has no question {position + 1}.")
                saved[position] = _save_answer(questions[position], option_ids)
            except BadAnswer as exc:
                problems[position] = str(exc)
    return saved, problems


def attempt_answer(
    *, attempt: Attempt, position: int, option_ids: Sequence[int], now: datetime | None = None
) -> Answer:
    """Save (or replace) the options chosen for drawn question `position` (0-based).

    One write from the allowance; raises BadAnswer if the options do not fit, and
    otherwise as attempt_answers.
    """
    saved, problems = attempt_answers(attempt=attempt, answers={position: option_ids}, now=now)
    if problems:
        raise BadAnswer(problems[position])
    return saved[position]


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
    with transaction.atomic():
        locked = _locked_open(attempt)
        now = _now(now)  # read once the lock is held, as for any write
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
                locked = _locked_open(attempt)
            except AttemptClosed:
                continue  # someone else finished it meanwhile
            _grade(locked, now, expired=True)
            done += 1
    return done
