"""The question admin's History tab, search by what a question says, and its preview."""

from __future__ import annotations

import re

from django.contrib.admin.models import LogEntry
from django.contrib.contenttypes.models import ContentType

from quizzes.attempts import attempt_start
from quizzes.models import Question
from tests.adminkit import form_of, new_question_data
from tests.quizkit import client_for


def history_of(question: Question) -> list[str]:
    """The question's History entries, oldest first, as the History tab words them."""
    kind = ContentType.objects.get_for_model(Question)
    entries = LogEntry.objects.filter(content_type=kind, object_id=str(question.pk))
    return [e.get_change_message() for e in entries.order_by("action_time", "pk")]


def edit(client, question: Question, **changes: list[str]) -> None:
    url = f"/admin/quizzes/question/{question.pk}/change/"
    data = form_of(client.get(url))
    data.update(changes)
    assert client.post(url, data).status_code == 302


def test_editing_an_undrawn_question_in_place_is_logged_with_what_changed(
    admin_client,
    quiz,
):
    """An option edit is a change too: before, History said "No fields changed"."""
    question = Question.objects.get(key="ws-scheme")
    edit(admin_client, question, **{"options-2-text": ["`http://`"]})
    edit(admin_client, question, text=["Which scheme encrypts a WebSocket?"])
    assert history_of(question) == [
        "Edited version 1 in place (no attempt had drawn it): changed options.",
        "Edited version 1 in place (no attempt had drawn it): changed text.",
    ]
    page = admin_client.get(f"/admin/quizzes/question/{question.pk}/history/").content.decode()
    assert "Edited version 1 in place (no attempt had drawn it): changed options." in page


def test_editing_a_drawn_question_logs_the_new_version_and_settings_changes(
    admin_client,
    quiz,
    student,
):
    Question.objects.exclude(
        key__in=["ws-scheme", "ready-states", "full-duplex", "send-json"]
    ).update(is_active=False)
    attempt_start(quiz=quiz, user=student)
    question = Question.objects.get(key="ws-scheme")
    edit(
        admin_client,
        question,
        explanation=["TLS underneath."],
        **{"options-0-correct": [], "options-1-correct": ["on"], "position": ["42"]},
    )
    edit(admin_client, question)  # saved unchanged: no version, an honest entry
    assert history_of(question) == [
        "Made version 2 (attempts had drawn version 1): changed explanation, options. "
        "Changed position.",
        "No fields changed.",
    ]


def test_adding_and_duplicating_questions_are_logged(admin_client, quiz):
    response = admin_client.post(
        "/admin/quizzes/question/add/", new_question_data(admin_client, quiz)
    )
    assert response.status_code == 302
    added = Question.objects.get(key="binary-type")
    assert history_of(added) == ["Created version 1."]
    source = Question.objects.get(key="close-code")
    admin_client.post(
        "/admin/quizzes/question/",
        {"action": "duplicate", "_selected_action": [source.pk]},
    )
    copy = Question.objects.get(key="close-code-copy")
    assert history_of(copy) == ["Duplicated from close-code."]


def test_the_question_list_searches_stems_and_option_texts(admin_client, quiz):
    def keys(term: str) -> set[str]:
        response = admin_client.get("/admin/quizzes/question/", {"q": term})
        assert response.status_code == 200
        return {q.key for q in response.context["cl"].result_list}

    assert keys("full duplex") == {"full-duplex"}  # the stem
    assert keys("Cache-Control") == {"origin-check"}  # an option
    assert keys("Proxies are less likely") == {"wss-why"}
    assert keys("room") == {"chat-broadcast"}  # stem and options both: listed once


def fieldset(html: str) -> str:
    start = html.index('<fieldset class="quiz-question"')
    return html[start : html.index("</fieldset>", start)]


def test_the_preview_is_the_student_page_markup_and_styles_for_that_question(
    admin_client,
    quiz,
    student,
):
    """The stem and options render with the student's layout and quiz.css, and the same
    fieldset as on an attempt page, the option order and values aside."""
    Question.objects.exclude(key="ready-states").update(is_active=False)
    quiz.questions_per_attempt = 1
    quiz.save(update_fields=["questions_per_attempt"])
    attempt = attempt_start(quiz=quiz, user=student)
    student_html = (
        client_for(student).get(f"/quizzes/{quiz.slug}/attempts/{attempt.pk}/").content.decode()
    )
    question = Question.objects.get(key="ready-states")
    html = admin_client.get(f"/admin/quizzes/question/{question.pk}/preview/").content.decode()
    assert "quizzes/quiz.css" in html and "admin/css/base.css" not in html
    theirs, ours = fieldset(student_html), fieldset(html)
    assert (
        ours.split('<ul class="quiz-options">')[0] == theirs.split('<ul class="quiz-options">')[0]
    )
    options = re.compile(r'<span class="quiz-option-text">(.*?)</span>', re.S)
    assert sorted(options.findall(ours)) == sorted(options.findall(theirs))
    assert len(options.findall(ours)) == 4
