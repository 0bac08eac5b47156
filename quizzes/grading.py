"""RS App's auto-test rules as pure functions: grades, who may start, what review shows.

No database here: the service layer (quizzes/attempts.py) turns rows into these
dataclasses and stores what comes back. Every grade carries a receipt, its
arithmetic in plain words, because RS App's users mostly complained about rules
they could not see (rsschool-app #862, #1500, support #961).
"""

from __future__ import annotations

import math
from collections.abc import Sequence
from dataclasses import dataclass, replace
from datetime import datetime, timedelta
from typing import Literal

Counting = Literal["last", "best"]
ReviewWhen = Literal["never", "after_submit", "after_close"]
ReviewQuestions = Literal["wrong", "all"]


class AttemptRefused(Exception):
    """The rules forbid this attempt (RS App answers 403 in the same cases)."""


@dataclass(frozen=True)
class Rules:
    """A test's settings, as the grading engine needs them."""

    max_attempts: int
    questions_per_attempt: int
    threshold_percent: int
    strict_attempts: bool
    cooldown_hours: int
    max_score: int
    opens_at: datetime | None = None
    closes_at: datetime | None = None
    time_limit_minutes: int | None = None
    counting: Counting = "last"
    review_when: ReviewWhen = "after_close"
    review_questions: ReviewQuestions = "wrong"
    review_show_key: bool = False
    review_show_explanations: bool = False


@dataclass(frozen=True)
class Override:
    """One student's exception to a test's rules, as a mentor granted it (Moodle's user override).

    Zero or None leaves the test's own setting: a grant can only add attempts, waive the
    cooldown, lengthen the time limit or move the close later for that student.
    """

    extra_attempts: int = 0
    waive_cooldown: bool = False
    time_limit_minutes: int | None = None
    closes_at: datetime | None = None


def overrides_combined(overrides: Sequence[Override]) -> Override:
    """Several grants for one student and test as one: attempts add up, the rest take the most."""
    limits = [o.time_limit_minutes for o in overrides if o.time_limit_minutes]
    closes = [o.closes_at for o in overrides if o.closes_at]
    return Override(
        extra_attempts=sum(o.extra_attempts for o in overrides),
        waive_cooldown=any(o.waive_cooldown for o in overrides),
        time_limit_minutes=max(limits) if limits else None,
        closes_at=max(closes) if closes else None,
    )


def rules_with_override(rules: Rules, override: Override) -> Rules:
    """The rules for one student: the test's, relaxed by their override and never tightened.

    A longer limit replaces the test's, but a test without a limit stays without one; a
    later close replaces the test's close, and an earlier one is ignored.
    """
    time_limit = rules.time_limit_minutes
    if time_limit and override.time_limit_minutes:
        time_limit = max(time_limit, override.time_limit_minutes)
    closes_at = rules.closes_at
    if closes_at and override.closes_at:
        closes_at = max(closes_at, override.closes_at)
    return replace(
        rules,
        max_attempts=rules.max_attempts + max(override.extra_attempts, 0),
        cooldown_hours=0 if override.waive_cooldown else rules.cooldown_hours,
        time_limit_minutes=time_limit,
        closes_at=closes_at,
    )


@dataclass(frozen=True)
class Response:
    """One drawn question: the option ids that are correct and the ones the student chose."""

    correct: frozenset[int]
    chosen: frozenset[int]

    @property
    def is_correct(self) -> bool:
        # All or nothing, as RS App compares the sorted lists: a missing or extra
        # option makes the whole question wrong. An unanswered question is wrong.
        return self.correct == self.chosen


@dataclass(frozen=True)
class Grade:
    """The outcome of one attempt and the receipt that explains it."""

    correct_count: int
    question_count: int
    accuracy: int
    passed: bool
    raw_score: int
    halved: bool
    score: int
    max_score: int
    receipt: str


@dataclass(frozen=True)
class Counted:
    """The score that counts for the course, and which attempt it came from."""

    score: int
    attempt_number: int
    note: str


@dataclass(frozen=True)
class PastAttempt:
    """An attempt already started, as far as the start rules care."""

    number: int
    started_at: datetime
    finished: bool


@dataclass(frozen=True)
class StartDecision:
    """Whether a student may start an attempt now; if not, why and from when."""

    allowed: bool
    reason: str
    available_at: datetime | None
    next_number: int
    over_cap: bool
    free_attempts_left: int


@dataclass(frozen=True)
class ReviewAccess:
    """What a student may see of one of their submitted attempts."""

    allowed: bool
    reason: str
    available_at: datetime | None
    questions: ReviewQuestions
    show_key: bool
    show_explanations: bool


def js_round(x: float) -> int:
    """JavaScript's Math.round: the nearest integer, halves upwards (Python rounds to even)."""
    floor = math.floor(x)
    return floor + 1 if x - floor >= 0.5 else floor


def accuracy_percent(correct: int, questions: int) -> int:
    """round(100 * correct / questions) with halves rounded up, in exact integer arithmetic.

    RS App computes Math.round(100 / n * correct) in floating point; for every n up to
    200 the two agree (tests/test_quiz_grading.py checks it), and this one cannot drift.
    """
    if questions < 1:
        raise ValueError("questions must be at least 1")
    return (200 * correct + questions) // (2 * questions)


def whole_hours_between(later: datetime, earlier: datetime) -> int:
    """date-fns differenceInHours: whole hours, the fraction truncated toward zero."""
    return math.trunc((later - earlier) / timedelta(hours=1))


def _plural(n: int, word: str) -> str:
    return f"{n} {word}" if n == 1 else f"{n} {word}s"


def _when(moment: datetime, tz_of: datetime) -> str:
    local = moment.astimezone(tz_of.tzinfo)
    return f"{local:%Y-%m-%d %H:%M} {local.tzname() or ''}".rstrip()


def grade_attempt(*, rules: Rules, attempt_number: int, responses: Sequence[Response]) -> Grade:
    """Grade one attempt by RS App's rules; the receipt spells out every step."""
    if attempt_number < 1:
        raise ValueError("attempt numbers start at 1")
    over_cap = attempt_number > rules.max_attempts
    if over_cap and rules.strict_attempts:
        raise AttemptRefused(
            f"Attempt {attempt_number} is over the cap of {rules.max_attempts} in strict mode."
        )
    questions = len(responses)
    if questions < 1:
        raise ValueError("an attempt has at least one question")
    correct = sum(1 for r in responses if r.is_correct)
    accuracy = accuracy_percent(correct, questions)
    passed = accuracy >= rules.threshold_percent
    receipt = f"{correct} of {questions} correct = {accuracy}%"
    if passed:
        raw = rules.max_score * accuracy // 100
        receipt += f" ≥ {rules.threshold_percent}% threshold → {raw} of {rules.max_score}"
        if rules.max_score * accuracy % 100:
            exact = rules.max_score * accuracy / 100
            receipt += f" ({accuracy}% of {rules.max_score} = {exact:g}, rounded down)"
    else:
        raw = 0
        receipt += f" < {rules.threshold_percent}% threshold → 0 of {rules.max_score}"
    score = raw
    if over_cap:
        score = raw // 2
        receipt += (
            f"; attempt {attempt_number} is over the cap of {rules.max_attempts}"
            f" → halved to {score}"
        )
        if raw % 2:
            receipt += " (rounded down)"
    return Grade(
        correct_count=correct,
        question_count=questions,
        accuracy=accuracy,
        passed=passed,
        raw_score=raw,
        halved=over_cap,
        score=score,
        max_score=rules.max_score,
        receipt=receipt,
    )


def counted_score(*, counting: Counting, scores: Sequence[tuple[int, int]]) -> Counted | None:
    """The course score from finished attempts given as (number, score); None if none."""
    if not scores:
        return None
    ordered = sorted(scores)
    if counting == "last":
        number, score = ordered[-1]
        return Counted(score, number, f"the last attempt counts → {score}")
    # Ties go to the earlier attempt: it reached the score first.
    number, score = max(ordered, key=lambda pair: (pair[1], -pair[0]))
    return Counted(
        score,
        number,
        f"the best of {_plural(len(ordered), 'attempt')} counts: attempt {number} → {score}",
    )


def attempt_deadline(*, rules: Rules, started_at: datetime) -> datetime | None:
    """When an attempt started now must end: its time limit or the close, whichever is first."""
    ends = []
    if rules.time_limit_minutes:
        ends.append(started_at + timedelta(minutes=rules.time_limit_minutes))
    if rules.closes_at:
        ends.append(rules.closes_at)
    return min(ends) if ends else None


def may_start(
    *,
    rules: Rules,
    attempts: Sequence[PastAttempt],
    now: datetime,
    pool_size: int,
) -> StartDecision:
    """Decide whether a new attempt may start at `now`, in RS App's order of checks.

    `attempts` are the student's earlier attempts of this test; an unfinished one
    blocks a new start (it should be resumed). Times in the reason are shown in the
    time zone of `now`.
    """
    used = len(attempts)
    number = max((a.number for a in attempts), default=0) + 1
    over_cap = number > rules.max_attempts
    left = max(rules.max_attempts - used, 0)

    def refuse(reason: str, available_at: datetime | None = None) -> StartDecision:
        return StartDecision(False, reason, available_at, number, over_cap, left)

    if pool_size < rules.questions_per_attempt:
        return refuse(
            f"The test is not ready: it draws {rules.questions_per_attempt} questions "
            f"but has only {pool_size} active."
        )
    unfinished = [a for a in attempts if not a.finished]
    if unfinished:
        return refuse(f"Attempt {unfinished[0].number} is in progress: continue it.")
    if rules.opens_at and now < rules.opens_at:
        return refuse(f"The test opens at {_when(rules.opens_at, now)}.", rules.opens_at)
    if rules.closes_at and now >= rules.closes_at:
        return refuse(f"The test closed at {_when(rules.closes_at, now)}.")
    if over_cap and rules.strict_attempts:
        return refuse(f"You have used all {_plural(rules.max_attempts, 'attempt')}.")
    if rules.cooldown_hours and attempts:
        last = max(a.started_at for a in attempts)
        if whole_hours_between(now, last) < rules.cooldown_hours:
            at = last + timedelta(hours=rules.cooldown_hours)
            rule = f"One attempt per {_plural(rules.cooldown_hours, 'hour')}"
            if rules.closes_at and at >= rules.closes_at:
                return refuse(
                    f"{rule}: the next would start at {_when(at, now)}, "
                    f"but the test closes at {_when(rules.closes_at, now)}."
                )
            return refuse(f"{rule}: the next attempt can start at {_when(at, now)}.", at)

    if over_cap:
        note = (
            f"Attempt {number} is over the cap of {rules.max_attempts}: its score will be halved."
        )
    elif left == 1:
        note = f"Attempt {number} of {rules.max_attempts}: this is your last attempt."
    else:
        note = f"Attempt {number} of {rules.max_attempts}."
    return StartDecision(True, note, now, number, over_cap, left)


def review_access(*, rules: Rules, finished: bool, now: datetime) -> ReviewAccess:
    """What the review policy lets a student see of an attempt at `now`."""

    def result(allowed: bool, reason: str, at: datetime | None = None) -> ReviewAccess:
        return ReviewAccess(
            allowed,
            reason,
            at,
            rules.review_questions,
            allowed and rules.review_show_key,
            allowed and rules.review_show_explanations,
        )

    if not finished:
        return result(False, "Review opens after the attempt is submitted.")
    if rules.review_when == "never":
        return result(False, "This test has no review of answers.")
    if rules.review_when == "after_close":
        if rules.closes_at is None:
            return result(False, "Review opens when the test closes; no closing time is set.")
        if now < rules.closes_at:
            return result(
                False,
                f"Review opens when the test closes, at {_when(rules.closes_at, now)}.",
                rules.closes_at,
            )
    shown = "wrong answers" if rules.review_questions == "wrong" else "all questions"
    return result(True, f"Review of {shown} is open.")


def review_never_opens(rules: Rules) -> str | None:
    """Why this review policy can never open for anyone, or None if it can."""
    if rules.review_when == "after_close" and rules.closes_at is None:
        return (
            "Review opens after the test closes, but the test has no closing time: no "
            "student will ever see which questions they missed. Set a closing time, or "
            "let review open right after each submission."
        )
    return None


def score_at_risk(*, rules: Rules, counted: int | None) -> int | None:
    """The counted score a new attempt would replace whatever it scores, or None.

    Under "last attempt counts" (RS App's rule, rsschool-app #1500) the next attempt's
    score replaces the current one even when it is lower, so any score above 0 can be
    lost. Under "best attempt counts" nothing can be lost.
    """
    if rules.counting == "last" and counted:
        return counted
    return None
