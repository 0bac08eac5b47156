"""Feedback right after submit: the missed questions on the result page, as the policy allows."""

from __future__ import annotations

import io
import re
from datetime import timedelta
from pathlib import Path

import pytest
from django.core.management import call_command
from django.test import Client
from django.urls import reverse
from django.utils import timezone

from courseware.markup import render_markdown
from quizzes.attempts import render_inline
from quizzes.feedback import attempt_feedback
from quizzes.models import Attempt, AttemptQuestion, Quiz
from tests.adminkit import form_of
from tests.conftest import PASSWORD
from tests.leakcheck import FLAG, LeakCheck, plain
from tests.quizkit import DEMO, client_for, drawn, finished_attempt, load_quiz

pytestmark = pytest.mark.django_db


def result_page(client: Client, attempt: Attempt) -> str:
    response = client.get(reverse("quizzes:result", args=[attempt.quiz.slug, attempt.pk]))
    assert response.status_code == 200
    return response.content.decode()


def feedback_sections(html: str) -> dict[int, str]:
    """Each missed question's section on the result page, by its 1-based number."""
    found = re.findall(
        r'<section class="feedback-question" aria-labelledby="missed-(\d+)">(.*?)</section>',
        html,
        re.S,
    )
    return {int(number): body for number, body in found}


def chosen_of(question: AttemptQuestion) -> list[str]:
    chosen = set(question.answer.chosen) if hasattr(question, "answer") else set()
    return [str(render_inline(o.text)) for o in question.ordered_options() if o.id in chosen]


def test_the_shipped_test_lists_every_missed_question_right_after_submit(st2, student):
    """With the shipped "[St2] WebSockets" settings, the result page lists each missed
    question: its stem, the student's own choice (or "not answered"), the objective and
    the module resources for it; the questions answered right are not on the page."""
    assert (st2.review_when, st2.review_show_key, st2.review_show_explanations) == (
        "after_submit",
        False,
        False,
    )
    # Questions 15-18 are answered wrong, 19-20 not at all.
    attempt = finished_attempt(st2, student, right=14, answered=18)
    html = result_page(client_for(student), attempt)
    sections = feedback_sections(html)
    questions = drawn(attempt)
    assert sorted(sections) == list(range(15, 21))
    assert "You missed 6 of 20 questions" in plain(html)
    for question in questions:
        stem = str(render_markdown(question.version.text))
        if question.position < 14:
            assert stem not in html
            continue
        section = sections[question.position + 1]
        assert stem in section
        objective = question.version.objective
        assert f"#objective-{objective.key}" in section and objective.text in plain(section)
        resources = list(objective.resources.all())
        assert resources and all(r.url in section for r in resources)
        mine = chosen_of(question)
        if question.position < 18:
            assert mine and all(f"<li>{text}</li>" in section for text in mine)
        else:
            assert not mine and "Not answered." in section
        # The key stays hidden: no correct option the student did not choose is named.
        for option in question.version.options.all():
            text = str(render_inline(option.text))
            if option.correct and text not in mine and text not in stem:
                assert f"<li>{text}</li>" not in section


def test_the_feedback_gives_away_no_key_explanation_option_id_or_undrawn_question(st2, student):
    """The open feedback is searched like every other page of an attempt (test_quiz_safety)."""
    attempt = finished_attempt(st2, student, right=10)
    html = result_page(client_for(student), attempt)
    assert len(feedback_sections(html)) == 10
    assert LeakCheck(st2, attempt).problems("result", html) == []
    assert not FLAG.search(html)
    # The feedback names options by their text only: no field, value or data attribute
    # that could carry an option id (or, later, a per-attempt option token).
    feedback = html[html.index('id="review-heading"') : html.index('id="objectives-heading"')]
    assert "<input" not in feedback and "value=" not in feedback and "data-" not in feedback


@pytest.mark.parametrize(
    ("policy", "reason"),
    [
        (
            {"review_when": "after_close"},
            "Review opens when the test closes; no closing time is set.",
        ),
        (
            {"review_when": "after_close", "closes_at": timedelta(days=1)},
            "Review opens when the test closes, at",
        ),
        ({"review_when": "never"}, "This test has no review of answers."),
    ],
)
def test_no_missed_question_is_shown_before_the_policy_opens(st2, student, policy, reason):
    """Until the review policy allows it, the result page says why and shows no stem."""
    if "closes_at" in policy:
        policy["closes_at"] = timezone.now() + policy["closes_at"]
    Quiz.objects.filter(pk=st2.pk).update(**policy)
    st2.refresh_from_db()  # the attempt carries this object: it must hold the new policy
    attempt = finished_attempt(st2, student, right=12)
    html = result_page(client_for(student), attempt)
    assert reason in plain(html)
    assert feedback_sections(html) == {}
    # The domain function itself gives nothing away, whatever a template does with it.
    feedback = attempt_feedback(attempt=attempt)
    assert not feedback.access.allowed and feedback.missed == []
    for question in drawn(attempt):
        assert str(render_markdown(question.version.text)) not in html
    assert LeakCheck(st2, attempt).problems("result", html) == []


def test_after_the_close_the_same_attempt_gets_its_feedback(st2, student):
    """An "after close" test opens the feedback on the result page once it has closed."""
    Quiz.objects.filter(pk=st2.pk).update(review_when="after_close")
    attempt = finished_attempt(st2, student, right=16)
    assert feedback_sections(result_page(client_for(student), attempt)) == {}
    Quiz.objects.filter(pk=st2.pk).update(closes_at=timezone.now() - timedelta(seconds=1))
    assert sorted(feedback_sections(result_page(client_for(student), attempt))) == [
        17,
        18,
        19,
        20,
    ]


def test_the_key_and_the_explanations_follow_the_policy_switches(demo, student):
    """A test that shows the key and the explanations shows them for each missed question."""
    Quiz.objects.filter(pk=demo.pk).update(review_show_key=True, review_show_explanations=True)
    attempt = finished_attempt(demo, student, right=1)
    sections = feedback_sections(result_page(client_for(student), attempt))
    assert sorted(sections) == [2, 3, 4]
    for question in drawn(attempt)[1:]:
        section = sections[question.position + 1]
        assert "<h4>Correct</h4>" in section
        for option in question.version.options.filter(correct=True):
            assert f"<li>{render_inline(option.text)}</li>" in section
        assert str(render_markdown(question.version.explanation)) in section


def test_every_question_right_says_so_instead_of_listing(demo, student):
    attempt = finished_attempt(demo, student, right=4)
    html = result_page(client_for(student), attempt)
    assert feedback_sections(html) == {}
    assert "You answered every question of this attempt correctly." in html


def test_saving_a_review_policy_that_can_never_open_warns_the_admin(module, admin_user):
    """ "After the close" with no closing time is saved, with a warning that says why."""
    quiz = load_quiz(DEMO)
    client = Client()
    client.login(username=admin_user.username, password=PASSWORD)
    url = f"/admin/quizzes/quiz/{quiz.pk}/change/"
    data = form_of(client.get(url)) | {"review_when": ["after_close"]}
    response = client.post(url, data, follow=True)
    warnings = [str(m) for m in response.context["messages"] if m.level_tag == "warning"]
    assert warnings == [
        "Review opens after the test closes, but the test has no closing time: no student "
        "will ever see which questions they missed. Set a closing time, or let review open "
        "right after each submission."
    ]
    quiz.refresh_from_db()
    assert quiz.review_when == "after_close"

    # With a closing time (or review after submit) the save is quiet.
    data |= {"closes_at_0": ["2030-01-01"], "closes_at_1": ["10:00:00"]}
    response = client.post(url, data, follow=True)
    assert not [m for m in response.context["messages"] if m.level_tag == "warning"]
    assert Quiz.objects.get(pk=quiz.pk).closes_at is not None


def test_loading_a_test_whose_review_can_never_open_warns_on_stderr(module, tmp_path):
    """load_quiz still loads it (a closing time may come later) and says why it warns."""
    text = Path(DEMO).read_text().replace("when: after_submit", "when: after_close")
    path = tmp_path / "demo.yaml"
    path.write_text(text)
    out, err = io.StringIO(), io.StringIO()
    call_command("load_quiz", str(path), stdout=out, stderr=err)
    assert "Loaded" in out.getvalue()
    assert "Warning: demo-quiz: Review opens after the test closes, but" in err.getvalue()
    assert Quiz.objects.get(slug="demo-quiz").review_when == "after_close"
    quiet = io.StringIO()
    call_command("load_quiz", DEMO, stdout=io.StringIO(), stderr=quiet)
    assert quiet.getvalue() == ""


@pytest.mark.parametrize("who", ["mentor", "admin_user"])
def test_mentors_and_admins_taking_the_test_get_the_feedback_and_the_warning(st2, who, request):
    """Staff who sit the test themselves see the same result page and the same Start."""
    user = request.getfixturevalue(who)
    Quiz.objects.filter(pk=st2.pk).update(cooldown_hours=0)
    attempt = finished_attempt(st2, user, right=19)
    client = client_for(user)
    assert sorted(feedback_sections(result_page(client, attempt))) == [20]
    detail = plain(client.get(reverse("quizzes:quiz", args=[st2.slug])).content.decode())
    assert "Your score of 95 will be replaced by this attempt's score, even if lower." in detail
    asked = client.post(reverse("quizzes:start", args=[st2.slug]))
    assert asked.status_code == 200 and Attempt.objects.filter(user=user).count() == 1
