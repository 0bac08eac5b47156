"""The grading engine: RS App's rules exactly, the `best` alternative, and the receipts."""

from __future__ import annotations

import math
from datetime import UTC, datetime, timedelta

import pytest

from quizzes.grading import (
    AttemptRefused,
    PastAttempt,
    Response,
    Rules,
    accuracy_percent,
    attempt_deadline,
    counted_score,
    grade_attempt,
    js_round,
    may_start,
    review_access,
    whole_hours_between,
)

T0 = datetime(2026, 12, 1, 9, 0, tzinfo=UTC)


def rules(**changes) -> Rules:
    base = {
        "max_attempts": 2,
        "questions_per_attempt": 10,
        "threshold_percent": 70,
        "strict_attempts": False,
        "cooldown_hours": 0,
        "max_score": 100,
    }
    return Rules(**{**base, **changes})


def responses(correct: int, total: int) -> list[Response]:
    right = Response(correct=frozenset({1}), chosen=frozenset({1}))
    wrong = Response(correct=frozenset({1}), chosen=frozenset({2}))
    return [right] * correct + [wrong] * (total - correct)


GRADES = [
    # (id, rule changes, attempt number, correct, total, accuracy, score, halved, receipt)
    (
        "pass-at-threshold",
        {},
        1,
        7,
        10,
        70,
        70,
        False,
        "7 of 10 correct = 70% ≥ 70% threshold → 70 of 100",
    ),
    (
        "just-below-threshold-is-zero",
        {},
        1,
        6,
        10,
        60,
        0,
        False,
        "6 of 10 correct = 60% < 70% threshold → 0 of 100",
    ),
    (
        "cliff-65-percent",
        {"questions_per_attempt": 20},
        1,
        13,
        20,
        65,
        0,
        False,
        "13 of 20 correct = 65% < 70% threshold → 0 of 100",
    ),
    (
        "all-right",
        {},
        1,
        10,
        10,
        100,
        100,
        False,
        "10 of 10 correct = 100% ≥ 70% threshold → 100 of 100",
    ),
    ("all-wrong", {}, 1, 0, 10, 0, 0, False, "0 of 10 correct = 0% < 70% threshold → 0 of 100"),
    (
        "half-rounds-up-like-js",
        {"threshold_percent": 0},
        1,
        5,
        8,
        63,  # 62.5: JavaScript's Math.round gives 63, Python's round() would give 62
        63,
        False,
        "5 of 8 correct = 63% ≥ 0% threshold → 63 of 100",
    ),
    (
        "score-rounds-down",
        {"max_score": 50, "threshold_percent": 60},
        1,
        2,
        3,
        67,
        33,
        False,
        "2 of 3 correct = 67% ≥ 60% threshold → 33 of 50 (67% of 50 = 33.5, rounded down)",
    ),
    (
        "over-the-cap-is-halved",
        {},
        3,
        7,
        10,
        70,
        35,
        True,
        "7 of 10 correct = 70% ≥ 70% threshold → 70 of 100; "
        "attempt 3 is over the cap of 2 → halved to 35",
    ),
    (
        "halving-rounds-down",
        {"max_score": 75},
        4,
        9,
        10,
        90,
        33,
        True,
        "9 of 10 correct = 90% ≥ 70% threshold → 67 of 75 (90% of 75 = 67.5, rounded down); "
        "attempt 4 is over the cap of 2 → halved to 33 (rounded down)",
    ),
    (
        "at-the-cap-is-not-halved",
        {},
        2,
        8,
        10,
        80,
        80,
        False,
        "8 of 10 correct = 80% ≥ 70% threshold → 80 of 100",
    ),
    (
        "zero-halved-stays-zero",
        {},
        3,
        1,
        10,
        10,
        0,
        True,
        "1 of 10 correct = 10% < 70% threshold → 0 of 100; "
        "attempt 3 is over the cap of 2 → halved to 0",
    ),
    (
        "threshold-zero-passes-everything",
        {"threshold_percent": 0},
        1,
        0,
        10,
        0,
        0,
        False,
        "0 of 10 correct = 0% ≥ 0% threshold → 0 of 100",
    ),
    (
        "threshold-100-needs-every-answer",
        {"threshold_percent": 100},
        1,
        9,
        10,
        90,
        0,
        False,
        "9 of 10 correct = 90% < 100% threshold → 0 of 100",
    ),
    (
        "strict-within-cap",
        {"strict_attempts": True},
        2,
        10,
        10,
        100,
        100,
        False,
        "10 of 10 correct = 100% ≥ 70% threshold → 100 of 100",
    ),
]


@pytest.mark.parametrize(
    ("changes", "number", "correct", "total", "accuracy", "score", "halved", "receipt"),
    [case[1:] for case in GRADES],
    ids=[case[0] for case in GRADES],
)
def test_the_grading_table(changes, number, correct, total, accuracy, score, halved, receipt):
    grade = grade_attempt(
        rules=rules(**changes), attempt_number=number, responses=responses(correct, total)
    )
    assert (grade.correct_count, grade.question_count) == (correct, total)
    assert grade.accuracy == accuracy
    assert grade.score == score
    assert grade.halved is halved
    assert grade.passed is (accuracy >= rules(**changes).threshold_percent)
    assert grade.receipt == receipt


def test_strict_mode_refuses_an_attempt_past_the_cap():
    with pytest.raises(AttemptRefused, match="Attempt 3 is over the cap of 2 in strict mode"):
        grade_attempt(
            rules=rules(strict_attempts=True), attempt_number=3, responses=responses(10, 10)
        )


@pytest.mark.parametrize(
    ("correct", "chosen", "right"),
    [
        ({1}, {1}, True),
        ({1, 3}, {3, 1}, True),
        ({1, 3}, {1}, False),  # a missing option: no partial credit
        ({1, 3}, {1, 2, 3}, False),  # an extra option
        ({1}, set(), False),  # unanswered
        ({1}, {2}, False),
    ],
)
def test_each_question_is_all_or_nothing(correct, chosen, right):
    assert Response(frozenset(correct), frozenset(chosen)).is_correct is right


def test_integer_accuracy_matches_rs_apps_floating_point_expression():
    # RS App: Math.round((100 / numberOfQuestions) * correctAnswersCount)
    for n in range(1, 201):
        for c in range(n + 1):
            assert accuracy_percent(c, n) == js_round((100 / n) * c), (c, n)


def test_integer_score_matches_rs_apps_floating_point_expression():
    # RS App: Math.floor(maxScore * correctAnswersPercent * 0.01)
    for max_score in range(1, 1001):
        for accuracy in range(101):
            assert max_score * accuracy // 100 == math.floor(max_score * accuracy * 0.01)


@pytest.mark.parametrize(
    ("x", "rounded"),
    [
        (0.5, 1),
        (1.5, 2),
        (2.5, 3),
        (12.5, 13),
        (62.5, 63),
        (0.49999999999999994, 0),
        (-0.5, 0),
        (-1.5, -1),
        (66.6, 67),
    ],
)
def test_js_round_rounds_halves_up_like_math_round(x, rounded):
    assert js_round(x) == rounded


@pytest.mark.parametrize(
    ("delta", "hours"),
    [
        (timedelta(minutes=59, seconds=59), 0),
        (timedelta(hours=1), 1),
        (timedelta(hours=1, minutes=59), 1),
        (timedelta(hours=25), 25),
        (timedelta(minutes=-30), 0),  # truncated toward zero, as date-fns does
        (timedelta(hours=-1, minutes=-30), -1),
    ],
)
def test_whole_hours_truncate_like_date_fns_difference_in_hours(delta, hours):
    assert whole_hours_between(T0 + delta, T0) == hours


def test_the_last_attempt_counts_even_when_lower():
    counted = counted_score(counting="last", scores=[(2, 35), (1, 70)])
    assert (counted.score, counted.attempt_number) == (35, 2)
    assert counted.note == "the last attempt counts → 35"


def test_the_best_attempt_counts_with_ties_going_to_the_earlier():
    counted = counted_score(counting="best", scores=[(1, 70), (2, 90), (3, 90), (4, 10)])
    assert (counted.score, counted.attempt_number) == (90, 2)
    assert counted.note == "the best of 4 attempts counts: attempt 2 → 90"


def test_no_finished_attempt_counts_nothing():
    assert counted_score(counting="best", scores=[]) is None


def test_the_lead_example_receipt_reads_end_to_end():
    grade = grade_attempt(rules=rules(), attempt_number=3, responses=responses(7, 10))
    counted = counted_score(counting="last", scores=[(1, 50), (2, 0), (3, grade.score)])
    assert f"{grade.receipt}; {counted.note}" == (
        "7 of 10 correct = 70% ≥ 70% threshold → 70 of 100; "
        "attempt 3 is over the cap of 2 → halved to 35; the last attempt counts → 35"
    )


def past(*starts: datetime, finished: bool = True) -> list[PastAttempt]:
    return [PastAttempt(i, s, finished) for i, s in enumerate(starts, start=1)]


START_CASES = [
    # (id, rule changes, earlier attempt starts, now, allowed, reason, available_at)
    ("first-attempt", {}, [], T0, True, "Attempt 1 of 2.", T0),
    (
        "last-free-attempt",
        {},
        [T0],
        T0 + timedelta(days=1),
        True,
        "Attempt 2 of 2: this is your last attempt.",
        T0 + timedelta(days=1),
    ),
    (
        "strict-cap-reached",
        {"strict_attempts": True},
        [T0, T0],
        T0 + timedelta(days=1),
        False,
        "You have used all 2 attempts.",
        None,
    ),
    (
        "non-strict-past-cap-warns",
        {},
        [T0, T0],
        T0 + timedelta(days=1),
        True,
        "Attempt 3 is over the cap of 2: its score will be halved.",
        T0 + timedelta(days=1),
    ),
    (
        "before-the-window",
        {"opens_at": T0},
        [],
        T0 - timedelta(seconds=1),
        False,
        "The test opens at 2026-12-01 09:00 UTC.",
        T0,
    ),
    ("window-opens-exactly", {"opens_at": T0}, [], T0, True, "Attempt 1 of 2.", T0),
    (
        "after-the-window",
        {"closes_at": T0},
        [],
        T0,
        False,
        "The test closed at 2026-12-01 09:00 UTC.",
        None,
    ),
    (
        "cooldown-one-second-short",
        {"cooldown_hours": 1},
        [T0],
        T0 + timedelta(minutes=59, seconds=59),
        False,
        "One attempt per 1 hour: the next attempt can start at 2026-12-01 10:00 UTC.",
        T0 + timedelta(hours=1),
    ),
    (
        "cooldown-over",
        {"cooldown_hours": 1},
        [T0],
        T0 + timedelta(hours=1),
        True,
        "Attempt 2 of 2: this is your last attempt.",
        T0 + timedelta(hours=1),
    ),
    (
        "cooldown-from-the-latest-start",
        {"cooldown_hours": 8, "max_attempts": 5},
        [T0 + timedelta(hours=5), T0],
        T0 + timedelta(hours=12),
        False,
        "One attempt per 8 hours: the next attempt can start at 2026-12-01 22:00 UTC.",
        T0 + timedelta(hours=13),
    ),
    (
        "cooldown-ends-after-close",
        {"cooldown_hours": 8, "closes_at": T0 + timedelta(hours=4)},
        [T0],
        T0 + timedelta(hours=1),
        False,
        "One attempt per 8 hours: the next would start at 2026-12-01 17:00 UTC, "
        "but the test closes at 2026-12-01 13:00 UTC.",
        None,
    ),
    (
        "pool-too-small",
        {"questions_per_attempt": 30},
        [],
        T0,
        False,
        "The test is not ready: it draws 30 questions but has only 20 active.",
        None,
    ),
]


@pytest.mark.parametrize(
    ("changes", "starts", "now", "allowed", "reason", "available_at"),
    [case[1:] for case in START_CASES],
    ids=[case[0] for case in START_CASES],
)
def test_who_may_start_and_why_not(changes, starts, now, allowed, reason, available_at):
    decision = may_start(rules=rules(**changes), attempts=past(*starts), now=now, pool_size=20)
    assert decision.allowed is allowed
    assert decision.reason == reason
    assert decision.available_at == available_at
    assert decision.next_number == len(starts) + 1


def test_an_attempt_in_progress_must_be_continued_not_restarted():
    decision = may_start(rules=rules(), attempts=past(T0, finished=False), now=T0, pool_size=20)
    assert not decision.allowed
    assert decision.reason == "Attempt 1 is in progress: continue it."


def test_reasons_show_times_in_the_zone_of_now():
    from zoneinfo import ZoneInfo

    now = (T0 - timedelta(hours=1)).astimezone(ZoneInfo("Europe/Minsk"))
    decision = may_start(rules=rules(opens_at=T0), attempts=[], now=now, pool_size=20)
    assert decision.reason == "The test opens at 2026-12-01 12:00 +03."


def test_free_attempts_left_and_over_cap_flags():
    decision = may_start(rules=rules(), attempts=past(T0, T0), now=T0, pool_size=20)
    assert (decision.free_attempts_left, decision.over_cap) == (0, True)
    decision = may_start(rules=rules(), attempts=past(T0), now=T0, pool_size=20)
    assert (decision.free_attempts_left, decision.over_cap) == (1, False)


@pytest.mark.parametrize(
    ("changes", "deadline"),
    [
        ({}, None),
        ({"time_limit_minutes": 30}, T0 + timedelta(minutes=30)),
        ({"closes_at": T0 + timedelta(minutes=10)}, T0 + timedelta(minutes=10)),
        (
            {"time_limit_minutes": 30, "closes_at": T0 + timedelta(hours=2)},
            T0 + timedelta(minutes=30),
        ),
        (
            {"time_limit_minutes": 30, "closes_at": T0 + timedelta(minutes=20)},
            T0 + timedelta(minutes=20),
        ),
    ],
)
def test_an_attempt_ends_at_its_time_limit_or_the_close_whichever_is_first(changes, deadline):
    assert attempt_deadline(rules=rules(**changes), started_at=T0) == deadline


REVIEW_CASES = [
    # (id, rule changes, finished, now, allowed, reason, key shown, explanations shown)
    (
        "not-submitted",
        {"review_when": "after_submit"},
        False,
        T0,
        False,
        "Review opens after the attempt is submitted.",
        False,
        False,
    ),
    (
        "never",
        {"review_when": "never"},
        True,
        T0,
        False,
        "This test has no review of answers.",
        False,
        False,
    ),
    (
        "after-submit",
        {"review_when": "after_submit", "review_show_key": True},
        True,
        T0,
        True,
        "Review of wrong answers is open.",
        True,
        False,
    ),
    (
        "after-close-without-close",
        {},
        True,
        T0,
        False,
        "Review opens when the test closes; no closing time is set.",
        False,
        False,
    ),
    (
        "after-close-too-early",
        {"closes_at": T0 + timedelta(hours=1), "review_show_key": True},
        True,
        T0,
        False,
        "Review opens when the test closes, at 2026-12-01 10:00 UTC.",
        False,
        False,
    ),
    (
        "after-close-rs-app-default",
        {"closes_at": T0},
        True,
        T0,
        True,
        "Review of wrong answers is open.",
        False,
        False,
    ),
    (
        "all-with-explanations",
        {
            "review_when": "after_submit",
            "review_questions": "all",
            "review_show_explanations": True,
        },
        True,
        T0,
        True,
        "Review of all questions is open.",
        False,
        True,
    ),
]


@pytest.mark.parametrize(
    ("changes", "finished", "now", "allowed", "reason", "key", "explanations"),
    [case[1:] for case in REVIEW_CASES],
    ids=[case[0] for case in REVIEW_CASES],
)
def test_the_review_policy(changes, finished, now, allowed, reason, key, explanations):
    access = review_access(rules=rules(**changes), finished=finished, now=now)
    assert access.allowed is allowed
    assert access.reason == reason
    assert access.show_key is key
    assert access.show_explanations is explanations
