"""Per-student overrides: the pure rule, the mentor's form, and the server honouring each grant."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

import pytest
from django.contrib.auth.models import User
from django.test import Client
from django.urls import reverse
from django.utils import timezone

from quizzes import grading, live
from quizzes.attempts import StartRefused, attempt_start, quiz_may_start
from quizzes.models import Attempt, Override
from quizzes.overrides import override_grant
from quizzes.review import attempt_review_access
from tests.quizkit import client_for, finished_attempt

T0 = datetime(2026, 12, 1, 12, 0, tzinfo=UTC)
BASE = grading.Rules(
    max_attempts=2,
    questions_per_attempt=4,
    threshold_percent=50,
    strict_attempts=True,
    cooldown_hours=1,
    max_score=10,
    closes_at=T0 + timedelta(days=1),
    time_limit_minutes=20,
)


def test_an_override_only_relaxes_the_rules_and_never_tightens_them():
    """Extra attempts add up, a longer limit and a later close replace the test's; a shorter
    limit, an earlier close, or a limit or close on a test without one change nothing."""
    relaxed = grading.rules_with_override(
        BASE,
        grading.overrides_combined(
            [
                grading.Override(extra_attempts=1, time_limit_minutes=45),
                grading.Override(extra_attempts=2, waive_cooldown=True),
                grading.Override(closes_at=T0 + timedelta(days=3), time_limit_minutes=30),
            ]
        ),
    )
    assert relaxed.max_attempts == 5
    assert relaxed.cooldown_hours == 0
    assert relaxed.time_limit_minutes == 45
    assert relaxed.closes_at == T0 + timedelta(days=3)
    tighter = grading.Override(time_limit_minutes=5, closes_at=T0)
    assert grading.rules_with_override(BASE, tighter) == BASE
    open_ended = grading.Rules(**{**BASE.__dict__, "closes_at": None, "time_limit_minutes": None})
    assert grading.rules_with_override(open_ended, tighter) == open_ended
    assert grading.rules_with_override(BASE, grading.Override()) == BASE


def test_a_granted_extra_attempt_is_numbered_within_the_cap_and_not_halved():
    """Under a lifted cap the third attempt is a normal one: no refusal in strict mode."""
    rules = grading.rules_with_override(BASE, grading.Override(extra_attempts=1))
    responses = [grading.Response(frozenset({1}), frozenset({1}))] * 4
    grade = grading.grade_attempt(rules=rules, attempt_number=3, responses=responses)
    assert (grade.score, grade.halved) == (10, False)
    with pytest.raises(grading.AttemptRefused):
        grading.grade_attempt(rules=BASE, attempt_number=3, responses=responses)


@pytest.fixture
def world(people):
    """The shared cast around the demo test, which allows two attempts."""
    return people


def grant_url(user: User) -> str:
    return reverse("mentor:grant_override", args=[user.pk])


def grant_form(world, **fields) -> dict:
    return {"quiz": world.quiz.pk, "extra_attempts": 0, "reason": "Lost one to Wi-Fi", **fields}


def start(client: Client, world) -> Attempt | None:
    """Press Start on the test page, as a browser without JavaScript does."""
    client.post(reverse("quizzes:start", args=[world.quiz.slug]), {"replace": "confirmed"})
    return Attempt.objects.filter(quiz=world.quiz).order_by("-started_at").first()


def test_a_mentor_grants_an_extra_attempt_and_a_longer_time_limit_and_the_server_honours_both(
    world,
):
    """The issue's "done when": the student sees both grants, starts a third attempt that is
    not halved, and that attempt's deadline follows the longer limit through the sweep."""
    world.quiz.time_limit_minutes = 20
    world.quiz.save(update_fields=["time_limit_minutes"])
    finished_attempt(world.quiz, world.alice, right=4)
    finished_attempt(world.quiz, world.alice, right=4)
    alice = client_for(world.alice)
    assert not quiz_may_start(quiz=world.quiz, user=world.alice).allowed
    assert start(alice, world).number == 2  # refused: nothing new started

    mentor = client_for(world.mentor)
    response = mentor.post(
        grant_url(world.alice), grant_form(world, extra_attempts=1, time_limit_minutes=45)
    )
    assert response.status_code == 302
    (grant,) = Override.objects.all()
    assert (grant.granted_by, grant.user, grant.reason) == (
        world.mentor,
        world.alice,
        "Lost one to Wi-Fi",
    )
    page = mentor.get(reverse("mentor:student", args=[world.alice.pk])).content.decode()
    assert "1 extra attempt, a time limit of 45 minutes" in page and "Lost one to Wi-Fi" in page

    detail = alice.get(reverse("quizzes:quiz", args=[world.quiz.slug])).content.decode()
    day = f"{timezone.localtime(grant.granted_at):%Y-%m-%d}"
    assert "You have 1 extra attempt and a time limit of 45 minutes, granted on" in detail
    assert day in detail
    assert "<strong>2 of 3</strong>" in detail
    assert "Lost one to Wi-Fi" not in detail  # the reason is for mentors

    third = start(alice, world)
    assert third.number == 3 and third.status == Attempt.Status.OPEN
    assert third.deadline == third.started_at + timedelta(minutes=45)
    # The sweep leaves it alone past the test's own 20 minutes, and ends it after 45.
    live.expire_overdue(now=third.started_at + timedelta(minutes=30))
    third.refresh_from_db()
    assert third.status == Attempt.Status.OPEN
    live.expire_overdue(now=third.started_at + timedelta(minutes=46))
    third.refresh_from_db()
    assert third.status == Attempt.Status.EXPIRED
    assert not third.halved and "over the cap" not in third.receipt


def test_a_longer_time_limit_granted_mid_attempt_moves_that_attempts_deadline(world):
    """A student already in an attempt gets the extra time at once, not next attempt."""
    world.quiz.time_limit_minutes = 20
    world.quiz.save(update_fields=["time_limit_minutes"])
    attempt = attempt_start(quiz=world.quiz, user=world.alice, now=T0)
    grant = Override(quiz=world.quiz, user=world.alice, time_limit_minutes=60, reason="Needs time")
    override_grant(override=grant, granted_by=world.mentor, now=T0 + timedelta(minutes=5))
    attempt.refresh_from_db()
    assert attempt.deadline == T0 + timedelta(minutes=60)
    assert live.expire_overdue(now=T0 + timedelta(minutes=30)) == []
    attempt.refresh_from_db()
    assert attempt.status == Attempt.Status.OPEN


def test_a_waived_cooldown_lets_the_student_start_again_at_once(world):
    world.quiz.cooldown_hours = 24
    world.quiz.save(update_fields=["cooldown_hours"])
    finished_attempt(world.quiz, world.alice, right=1)
    refused = quiz_may_start(quiz=world.quiz, user=world.alice)
    assert not refused.allowed and "One attempt per 24 hours" in refused.reason
    grant = Override(quiz=world.quiz, user=world.alice, waive_cooldown=True, reason="Crash")
    override_grant(override=grant, granted_by=world.admin)
    assert quiz_may_start(quiz=world.quiz, user=world.alice).allowed
    assert start(client_for(world.alice), world).number == 2


def test_a_later_close_lets_one_student_start_and_delays_their_review(world):
    """After the test closed, only the student with a later close may start; their attempt
    ends at their close, and their review waits for it while others' review is open."""
    now = timezone.now()
    world.quiz.closes_at = now - timedelta(hours=1)
    world.quiz.review_when = "after_close"
    world.quiz.save(update_fields=["closes_at", "review_when"])
    with pytest.raises(StartRefused):
        attempt_start(quiz=world.quiz, user=world.alice)
    later = now + timedelta(days=2)
    grant = Override(quiz=world.quiz, user=world.alice, closes_at=later, reason="Was ill")
    override_grant(override=grant, granted_by=world.mentor)
    attempt = start(client_for(world.alice), world)
    assert attempt is not None and attempt.user == world.alice
    assert attempt.deadline == later
    with pytest.raises(StartRefused):
        attempt_start(quiz=world.quiz, user=world.bob)
    attempt.status = Attempt.Status.SUBMITTED  # review rules only ask whether it is finished
    assert not attempt_review_access(attempt=attempt).allowed
    assert attempt_review_access(attempt=attempt, now=later + timedelta(minutes=1)).allowed


@pytest.mark.parametrize(
    ("fields", "problem"),
    [
        ({"time_limit_minutes": 45}, "This test has no time limit to lengthen."),
        ({"closes_at": "2030-01-01T10:00"}, "This test never closes"),
        ({}, "Grant at least one exception."),
        ({"extra_attempts": 50}, "Grant at most 10 extra attempts at a time."),
        ({"extra_attempts": 1, "reason": ""}, "This field is required."),
    ],
)
def test_a_grant_that_changes_nothing_or_lacks_a_reason_is_refused_with_a_clear_error(
    world, fields, problem
):
    response = client_for(world.mentor).post(grant_url(world.alice), grant_form(world, **fields))
    assert response.status_code == 400
    assert problem in response.content.decode()
    assert not Override.objects.exists()


def test_a_shorter_time_limit_than_the_tests_is_refused(world):
    world.quiz.time_limit_minutes = 30
    world.quiz.save(update_fields=["time_limit_minutes"])
    response = client_for(world.mentor).post(
        grant_url(world.alice), grant_form(world, time_limit_minutes=20)
    )
    assert response.status_code == 400
    assert "Give more than the test&#x27;s 30 minutes." in response.content.decode()


def test_a_mentor_grants_only_to_their_own_students_and_staff_to_anyone(world):
    """Another mentor's student is a 404 (not revealed), a student gets 403, staff may."""
    mentor = client_for(world.mentor)
    assert mentor.post(grant_url(world.bob), grant_form(world, extra_attempts=1)).status_code == 404
    alice = client_for(world.alice)
    assert (
        alice.post(grant_url(world.alice), grant_form(world, extra_attempts=1)).status_code == 403
    )
    assert not Override.objects.exists()
    admin = client_for(world.admin)
    assert admin.post(grant_url(world.bob), grant_form(world, extra_attempts=1)).status_code == 302
    assert Override.objects.get().user == world.bob


def test_the_grant_form_needs_a_csrf_token(world):
    client = Client(enforce_csrf_checks=True)
    client.force_login(world.mentor)
    response = client.post(grant_url(world.alice), grant_form(world, extra_attempts=1))
    assert response.status_code == 403
    assert not Override.objects.exists()
    page = client.get(reverse("mentor:student", args=[world.alice.pk])).content.decode()
    assert 'name="csrfmiddlewaretoken"' in page


def test_staff_grant_in_the_admin_with_who_and_when_recorded_and_never_edit_a_grant(world):
    admin = client_for(world.admin)
    form = admin.get(reverse("admin:quizzes_override_add")).content.decode()
    assert 'name="reason"' in form and 'name="granted_by"' not in form
    response = admin.post(
        reverse("admin:quizzes_override_add"),
        {
            "quiz": world.quiz.pk,
            "user": world.alice.pk,
            "extra_attempts": 2,
            "reason": "Exam board decision",
        },
    )
    assert response.status_code == 302, response.content.decode()[:2000]
    grant = Override.objects.get()
    assert grant.granted_by == world.admin and grant.granted_at is not None
    assert quiz_may_start(quiz=world.quiz, user=world.alice).free_attempts_left == 4
    listing = admin.get(reverse("admin:quizzes_override_changelist")).content.decode()
    assert "2 extra attempts" in listing
    change = reverse("admin:quizzes_override_change", args=[grant.pk])
    admin.post(change, {"quiz": world.quiz.pk, "user": world.alice.pk, "extra_attempts": 9})
    grant.refresh_from_db()
    assert grant.extra_attempts == 2


def test_the_mentors_scores_table_counts_granted_attempts_in_the_cap(world):
    finished_attempt(world.quiz, world.alice, right=4)
    for extra in (1, 2):
        grant = Override(quiz=world.quiz, user=world.alice, extra_attempts=extra, reason="r")
        override_grant(override=grant, granted_by=world.mentor)
    page = client_for(world.mentor).get(reverse("mentor:scores")).content.decode()
    assert "1 of 5" in page
