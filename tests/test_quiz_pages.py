"""The student pages of a test with Django's client: rules, start, the form, result, review."""

from __future__ import annotations

import re
from datetime import timedelta
from html import unescape

import pytest
from django.test import Client
from django.urls import reverse
from django.utils import timezone

from courseware.markup import render_markdown
from quizzes.models import Attempt, Quiz
from tests.quizkit import (
    client_for,
    drawn,
    form_data,
    key_of,
    key_values,
    wrong_of,
    wrong_values,
)

pytestmark = pytest.mark.django_db


def start(client: Client, quiz: Quiz) -> Attempt:
    response = client.post(reverse("quizzes:start", args=[quiz.slug]))
    assert response.status_code == 302
    return Attempt.objects.get(pk=int(re.search(r"/attempts/(\d+)/", response["Location"])[1]))


def url(name: str, attempt: Attempt) -> str:
    return reverse(f"quizzes:{name}", args=[attempt.quiz.slug, attempt.pk])


def text_of(response) -> str:
    html = response.content.decode()
    text = re.sub(r"\s+", " ", unescape(re.sub(r"<[^>]+>", " ", html)))
    return re.sub(r" ([.,:;])", r"\1", text)


def test_the_module_page_link_leads_to_the_test_page_with_every_rule_in_plain_words(st2):
    response = Client().get("/quizzes/st2-websockets/")
    assert response.status_code == 200
    text = text_of(response)
    pool = st2.active_questions().count()
    assert pool > 20
    for phrase in [
        f"Each attempt has 20 questions, drawn at random by the server from a bank of {pool}",
        "An unanswered question counts as wrong",
        "at least 70% to score: here that is 14 of 20 correct. Below it the attempt scores 0",
        "You have 3 attempts; after that you cannot start again",
        "the next one can start 1 hour later",
        "time limit of 30 minutes, kept by the server",
        "even if you closed the page",
        "Your last attempt is the one that counts",
        "Once you have a score, Start warns you that the new attempt replaces it and asks",
        "Right after you submit an attempt, its result page lists each question you missed "
        "with your own choice, its learning objective and the module resources to read again",
    ]:
        assert phrase in text
    assert "Log in to take the test" in text


def test_a_student_sees_attempts_used_and_left_and_a_start_button(st2, student):
    response = client_for(student).get(reverse("quizzes:quiz", args=["st2-websockets"]))
    text = text_of(response)
    assert "You have used 0 of 3 attempts: 3 left." in text
    assert "Start attempt 1" in text
    assert 'action="/quizzes/st2-websockets/start/"' in response.content.decode()


def test_during_the_cooldown_start_is_disabled_with_the_reason_and_a_live_countdown(
    demo, st2, student
):
    client = client_for(student)
    attempt = start(client, st2)
    client.post(url("attempt", attempt), {"action": "submit", "confirm": "1"})
    response = client.get(reverse("quizzes:quiz", args=["st2-websockets"]))
    html = response.content.decode()
    text = text_of(response)
    assert "You have used 1 of 3 attempts: 2 left." in text
    assert "One attempt per 1 hour: the next attempt can start at" in text
    assert re.search(
        r'<button type="button" class="button" disabled aria-describedby="start-reason"', html
    )
    seconds = int(re.search(r'data-countdown="(\d+)"', html)[1])
    assert 3500 < seconds <= 3601
    assert "quizzes/countdown.js" in html


def test_the_last_free_attempt_is_announced_before_it_starts(demo, student):
    client = client_for(student)
    attempt = start(client, demo)
    client.post(url("attempt", attempt), {"action": "submit", "confirm": "1"})
    text = text_of(client.get(reverse("quizzes:quiz", args=["demo-quiz"])))
    assert "You have used 1 of 2 attempts: one left." in text
    assert "Attempt 2 of 2: this is your last attempt." in text


def test_start_draws_on_the_server_and_the_page_shows_the_stored_order(st2, student):
    client = client_for(student)
    attempt = start(client, st2)
    html = client.get(url("attempt", attempt)).content.decode()
    questions = drawn(attempt)
    assert len(questions) == 20
    # Questions in stored order, each with its options in the stored shuffled order and
    # named by the attempt's random values, never by option ids.
    names = re.findall(r'name="q(\d+)" value="([^"]*)"', html)
    shown: dict[int, list[str]] = {}
    for position, value in names:
        shown.setdefault(int(position), []).append(value)
    assert list(shown) == list(range(20))
    for question in questions:
        assert shown[question.position] == question.option_values
        assert all(re.fullmatch(r"[0-9a-f]{16}", value) for value in question.option_values)
    assert html.count("<fieldset") == 20
    assert html.count("<legend>") == 20
    assert 'type="checkbox"' in html and 'type="radio"' in html
    assert '<progress id="attempt-progress" max="20" value="0">' in html
    assert f'data-ws-path="/ws/quizzes/attempts/{attempt.pk}/"' in html


def test_starting_again_and_reloading_resume_the_same_attempt_with_its_answers(st2, student):
    client = client_for(student)
    attempt = start(client, st2)
    question = drawn(attempt)[3]
    client.post(url("attempt", attempt), {"action": "save", "was3": "", "q3": key_values(question)})
    assert start(client, st2) == attempt
    other_device = client_for(student)
    html = other_device.get(url("attempt", attempt)).content.decode()
    for value in key_values(question):
        assert re.search(rf'name="q3" value="{value}"\s+checked', html)
    assert '<progress id="attempt-progress" max="20" value="1">' in html
    text = text_of(other_device.get(reverse("quizzes:quiz", args=["st2-websockets"])))
    assert "Attempt 1 is in progress" in text and "Continue attempt 1" in text
    assert Attempt.objects.count() == 1


def test_save_without_javascript_stores_the_answers_and_stays_on_the_page(demo, student):
    client = client_for(student)
    attempt = start(client, demo)
    response = client.post(url("attempt", attempt), form_data(attempt, right=2, answered=3))
    assert response.status_code == 302 and response["Location"] == url("attempt", attempt)
    page = client.get(url("attempt", attempt))
    assert "Your answers are saved." in text_of(page)
    assert '<progress id="attempt-progress" max="4" value="3">' in page.content.decode()
    saved = {
        q.position: q.answer.chosen
        for q in attempt.questions.select_related("answer")
        if hasattr(q, "answer")
    }
    questions = drawn(attempt)
    assert saved == {0: key_of(questions[0]), 1: key_of(questions[1]), 2: wrong_of(questions[2])}


def test_a_stale_form_does_not_undo_answers_it_never_touched(demo, student):
    client = client_for(student)
    attempt = start(client, demo)
    questions = drawn(attempt)
    # Another tab saved question 0; this page still shows it empty and changes question 1.
    client.post(url("attempt", attempt), {"was0": "", "q0": key_values(questions[0])})
    client.post(url("attempt", attempt), {"was0": "", "was1": "", "q1": key_values(questions[1])})
    answers = {q.position: q.answer.chosen for q in drawn(attempt) if hasattr(q, "answer")}
    assert answers == {0: key_of(questions[0]), 1: key_of(questions[1])}
    # Clearing a question the page showed answered does clear it.
    was = ",".join(key_values(questions[1]))
    client.post(url("attempt", attempt), {"was1": was})
    assert drawn(attempt)[1].answer.chosen == []


def test_submit_with_unanswered_questions_asks_to_confirm_and_lists_them(demo, student):
    client = client_for(student)
    attempt = start(client, demo)
    response = client.post(
        url("attempt", attempt), form_data(attempt, right=2, answered=2) | {"action": "submit"}
    )
    assert response["Location"] == url("confirm", attempt)
    confirm = client.get(url("confirm", attempt))
    text = text_of(confirm)
    assert "You have not answered 2 of 4 questions." in text
    assert f'href="{url("attempt", attempt)}#question-3"' in confirm.content.decode()
    assert Attempt.objects.get(pk=attempt.pk).status == "open"
    # The answers given before the confirm page were saved.
    assert sum(1 for q in drawn(attempt) if hasattr(q, "answer")) == 2

    response = client.post(url("confirm", attempt))
    assert response["Location"] == url("result", attempt)
    attempt.refresh_from_db()
    assert (attempt.status, attempt.correct_count, attempt.accuracy) == ("submitted", 2, 50)


def test_submit_with_every_question_answered_goes_straight_to_the_result(demo, student):
    client = client_for(student)
    attempt = start(client, demo)
    response = client.post(
        url("attempt", attempt), form_data(attempt, right=3) | {"action": "submit"}
    )
    assert response["Location"] == url("result", attempt)
    attempt.refresh_from_db()
    assert (attempt.status, attempt.score) == ("submitted", 7)
    # A finished attempt's form page now leads to its result.
    assert client.get(url("attempt", attempt))["Location"] == url("result", attempt)


def test_bad_option_values_get_a_clear_error_and_the_good_answers_are_kept(demo, student):
    client = client_for(student)
    attempt = start(client, demo)
    questions = drawn(attempt)
    data = {
        "was0": "",
        "q0": key_values(questions[0]),
        "was1": "",
        "q1": [questions[0].option_values[0]],  # well formed, but another question's
        "was2": "",
        "q2": ["abc"],
        "was3": "",
        "q3": [str(questions[3].option_order[0])],  # an option id is not a value
        "action": "submit",
    }
    response = client.post(url("attempt", attempt), data)
    assert response.status_code == 400
    text = text_of(response)
    assert "Some answers were not saved" in text
    assert "Question 2 has no such option." in text
    assert "Question 3: 'abc' is not an option." in text
    assert f"Question 4: '{questions[3].option_order[0]}' is not an option." in text
    assert drawn(attempt)[0].answer.chosen == key_of(questions[0])
    assert Attempt.objects.get(pk=attempt.pk).status == "open"


def test_two_options_on_a_single_choice_question_are_refused(demo, student):
    client = client_for(student)
    attempt = start(client, demo)
    single = next(q for q in drawn(attempt) if q.version.kind == "single")
    two = single.option_values[:2]
    response = client.post(
        url("attempt", attempt), {f"was{single.position}": "", f"q{single.position}": two}
    )
    assert response.status_code == 400
    assert f"Question {single.position + 1} takes one option." in text_of(response)


def test_a_form_arriving_after_the_deadline_is_refused_and_the_attempt_graded(st2, student):
    client = client_for(student)
    attempt = start(client, st2)
    client.post(url("attempt", attempt), form_data(attempt, right=15, answered=15))
    now = timezone.now()
    Attempt.objects.filter(pk=attempt.pk).update(
        started_at=now - timedelta(minutes=31), deadline=now - timedelta(seconds=1)
    )
    late = form_data(attempt, right=20) | {"action": "submit", "confirm": "1"}
    response = client.post(url("attempt", attempt), late)
    assert response["Location"] == url("result", attempt)
    attempt.refresh_from_db()
    assert (attempt.status, attempt.correct_count) == ("expired", 15)
    text = text_of(client.get(url("result", attempt)))
    assert "Time ran out: the answers saved before the deadline were graded." in text


def test_the_result_page_shows_score_accuracy_receipt_history_and_what_to_reread(st2, student):
    client = client_for(student)
    attempt = start(client, st2)
    questions = drawn(attempt)
    missed = questions[0].version.objective
    right = {q.position for q in questions if q.version.objective_id != missed.id}
    data = {"action": "submit", "confirm": "1"}
    for q in questions:
        data[f"was{q.position}"] = ""
        data[f"q{q.position}"] = key_values(q) if q.position in right else wrong_values(q)
    client.post(url("attempt", attempt), data)
    attempt.refresh_from_db()
    response = client.get(url("result", attempt))
    assert response.status_code == 200
    text = text_of(response)
    html = response.content.decode()
    assert f"{attempt.score} of 100" in text and f"{attempt.accuracy}%" in text
    assert attempt.receipt in text and attempt.receipt.startswith(f"{len(right)} of 20 correct")
    assert "Your course score for this test is" in text
    assert "Attempt 1" in text and "Submitted" in text
    # The missed objective links the module's resources for it; the others link none.
    rows = re.findall(r"<tr( class=\"missed\")?>\s*<th scope=\"row\"><a href=\"([^\"]+)\">", html)
    missed_rows = [href for flag, href in rows if flag]
    assert missed_rows == [f"/modules/st2-websockets/#objective-{missed.key}"]
    for resource in missed.resources.all():
        assert resource.url in html
    asked = sum(1 for q in questions if q.version.objective_id == missed.id)
    assert f"0 of {asked}" in text
    assert "Review of wrong answers is open." in text


def test_review_is_closed_until_the_test_closes_then_shows_wrong_answers_without_the_key(
    st2, student
):
    Quiz.objects.filter(pk=st2.pk).update(review_when="after_close")
    client = client_for(student)
    attempt = start(client, st2)
    client.post(url("attempt", attempt), form_data(attempt, right=18) | {"action": "submit"})
    closed = client.get(url("review", attempt))
    assert closed.status_code == 403
    assert "Review opens when the test closes" in text_of(closed)

    Quiz.objects.filter(pk=st2.pk).update(closes_at=timezone.now() - timedelta(minutes=1))
    response = client.get(url("review", attempt))
    assert response.status_code == 200
    html = response.content.decode()
    questions = drawn(attempt)
    assert html.count('class="review-question wrong"') == 2
    assert "review-question right" not in html
    for question in questions[18:]:
        assert f"Question {question.position + 1}" in html
    # Each wrong answer's own options are listed (an all-correct question's wrong answer
    # leaves one option out, so it chose several).
    assert html.count('<li class="chosen">') == sum(len(wrong_of(q)) for q in questions[18:])
    assert 'class="review-key"' not in html
    assert "The correct options are not shown." in html
    assert "review-explanation" not in html
    for question in questions:
        assert str(render_markdown(question.version.explanation)) not in html


def test_a_test_can_show_the_key_and_the_explanations_right_after_submitting(demo, student):
    Quiz.objects.filter(pk=demo.pk).update(review_show_key=True, review_questions="all")
    client = client_for(student)
    attempt = start(client, demo)
    client.post(url("attempt", attempt), form_data(attempt, right=3) | {"action": "submit"})
    response = client.get(url("review", attempt))
    assert response.status_code == 200
    html = response.content.decode()
    assert html.count('class="review-question') == 4
    keys = sum(len(key_of(q)) for q in drawn(attempt))
    assert len(re.findall(r'<li class="(?:chosen)? ?key">', html)) == keys
    assert html.count('class="review-explanation"') == 4


def test_someone_elses_attempt_is_a_404_on_every_page_and_form(demo, student, other_student):
    attempt = start(client_for(student), demo)
    intruder = client_for(other_student)
    for name in ["attempt", "confirm", "result", "review"]:
        assert intruder.get(url(name, attempt)).status_code == 404
        assert intruder.post(
            url(name, attempt), {"action": "submit", "confirm": "1"}
        ).status_code in (
            404,
            405,
        )
    assert intruder.post(url("attempt", attempt), form_data(attempt, right=4)).status_code == 404
    assert intruder.post(url("confirm", attempt)).status_code == 404
    assert Attempt.objects.get(pk=attempt.pk).status == "open"
    assert not any(hasattr(q, "answer") for q in drawn(attempt))
    # A wrong test slug in the address does not reach the attempt either.
    wrong = reverse("quizzes:attempt", args=["st2-websockets", attempt.pk])
    assert client_for(student).get(wrong).status_code == 404


def test_anonymous_visitors_are_sent_to_log_in_and_start_needs_a_post(demo, student):
    attempt = start(client_for(student), demo)
    anonymous = Client()
    for name in ["attempt", "confirm", "result", "review"]:
        response = anonymous.get(url(name, attempt))
        assert response.status_code == 302 and response["Location"].startswith("/accounts/login/")
    response = anonymous.post(reverse("quizzes:start", args=["demo-quiz"]))
    assert response["Location"].startswith("/accounts/login/")
    assert client_for(student).get(reverse("quizzes:start", args=["demo-quiz"])).status_code == 405


def test_every_form_refuses_a_post_without_the_csrf_token(demo, student):
    client = Client(enforce_csrf_checks=True)
    client.force_login(student)
    assert client.post(reverse("quizzes:start", args=["demo-quiz"])).status_code == 403
    attempt = start(client_for(student), demo)
    assert client.post(url("attempt", attempt), form_data(attempt, right=4)).status_code == 403
    assert client.post(url("confirm", attempt)).status_code == 403
    assert Attempt.objects.get(pk=attempt.pk).status == "open"
    # Every page with a form carries the token.
    for page in [
        reverse("quizzes:quiz", args=["demo-quiz"]),
        url("attempt", attempt),
        url("confirm", attempt),
    ]:
        html = client.get(page).content.decode()
        assert html.count('method="post"') == html.count('name="csrfmiddlewaretoken"')


def test_a_refused_start_explains_why_on_the_test_page(st2, student):
    Quiz.objects.filter(pk=st2.pk).update(opens_at=timezone.now() + timedelta(days=1))
    client = client_for(student)
    response = client.post(reverse("quizzes:start", args=["st2-websockets"]), follow=True)
    assert "The test opens at" in text_of(response)
    assert not Attempt.objects.exists()


def test_question_markup_escapes_every_value_but_the_stored_html():
    """The attempt page's questions are built in Python (quizzes/templatetags/paper_html.py):
    stems and options stored sanitised stay HTML, anything else is escaped."""
    from django.utils.safestring import mark_safe

    from quizzes.paper import PaperOption, PaperQuestion
    from quizzes.templatetags.paper_html import question_fieldsets, question_nav

    question = PaperQuestion(
        position=4,
        kind="multiple",
        html=mark_safe("<p>Which <code>ws</code> event?</p>"),
        options=[
            PaperOption('a"><script>x()</script>', "<b>not stored as safe</b>"),
            PaperOption("b", mark_safe("<em>open</em>")),
        ],
        chosen=frozenset({"b"}),
    )
    html = str(question_fieldsets([(question, '"><i>')]))
    assert '<div class="quiz-question-text"><p>Which <code>ws</code> event?</p></div>' in html
    assert 'value="a&quot;&gt;&lt;script&gt;x()&lt;/script&gt;">' in html
    assert "&lt;b&gt;not stored as safe&lt;/b&gt;" in html and "<em>open</em>" in html
    assert re.search(r'type="checkbox" name="q4" value="b"\s+checked', html)
    assert 'name="was4" value="&quot;&gt;&lt;i&gt;"' in html and "<script>" not in html
    nav = str(question_nav([(question, "")]))
    assert 'href="#question-1" data-position="4" class="answered">1' in nav
