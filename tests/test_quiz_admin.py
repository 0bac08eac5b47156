"""The admin as the test editor: every customisation renders, saves and validates."""

from __future__ import annotations

import io
import zipfile
from pathlib import Path

import pytest
import yaml

from courseware.models import Module, Objective
from quizzes.attempts import attempt_answer, attempt_start, attempt_submit
from quizzes.loading import quizzes_load
from quizzes.models import Attempt, Question, Quiz
from tests.adminkit import form_of, new_question_data
from tests.conftest import PASSWORD

DEMO = "tests/quiz-demo.yaml"


def messages_of(response) -> list[str]:
    return [str(m) for m in response.context["messages"]]


def test_the_quiz_list_and_change_page_render_with_settings_in_fieldsets(admin_client, quiz):
    listing = admin_client.get("/admin/quizzes/quiz/")
    assert listing.status_code == 200 and "Demo quiz" in listing.content.decode()
    page = admin_client.get(f"/admin/quizzes/quiz/{quiz.pk}/change/")
    html = page.content.decode()
    for heading in ["Attempts and scoring", "Window and time limit", "Review of answers"]:
        assert heading in html
    assert "ready-states" in html  # the question list inline


def test_saving_the_quiz_page_stores_changed_settings(admin_client, quiz):
    url = f"/admin/quizzes/quiz/{quiz.pk}/change/"
    data = form_of(admin_client.get(url))
    data["threshold_percent"] = ["80"]
    data["review_when"] = ["never"]
    response = admin_client.post(url, data)
    assert response.status_code == 302, response.context["errors"] if response.context else ""
    quiz.refresh_from_db()
    assert (quiz.threshold_percent, quiz.review_when) == (80, "never")


def test_the_quiz_page_refuses_a_close_before_the_open(admin_client, quiz):
    url = f"/admin/quizzes/quiz/{quiz.pk}/change/"
    data = form_of(admin_client.get(url))
    data.update(
        {
            "opens_at_0": ["2026-12-02"],
            "opens_at_1": ["10:00:00"],
            "closes_at_0": ["2026-12-01"],
            "closes_at_1": ["10:00:00"],
            "threshold_percent": ["101"],
        }
    )
    response = admin_client.post(url, data)
    assert response.status_code == 200
    html = response.content.decode()
    assert "The test must close after it opens." in html
    assert "Ensure this value is less than or equal to 100." in html
    quiz.refresh_from_db()
    assert quiz.closes_at is None and quiz.threshold_percent == 50


def test_the_quiz_page_refuses_to_draw_more_questions_than_are_active(admin_client, quiz):
    url = f"/admin/quizzes/quiz/{quiz.pk}/change/"
    data = form_of(admin_client.get(url))
    data["questions_per_attempt"] = ["9"]
    response = admin_client.post(url, data)
    assert "The test has only 8 active questions to draw from." in response.content.decode()
    assert 'name="slug"' not in response.content.decode()  # fixed once created
    quiz.refresh_from_db()
    assert quiz.questions_per_attempt == 4


def test_adding_a_test_in_the_admin(admin_client, module):
    data = form_of(admin_client.get("/admin/quizzes/quiz/add/"))
    data.update({"slug": ["practice"], "title": ["Practice"], "module": [str(module.pk)]})
    response = admin_client.post("/admin/quizzes/quiz/add/", data)
    assert response.status_code == 302
    quiz = Quiz.objects.get(slug="practice")
    assert (quiz.max_attempts, quiz.threshold_percent, quiz.strict_attempts) == (3, 70, True)


def test_exporting_one_test_downloads_its_yaml(admin_client, quiz):
    response = admin_client.post(
        "/admin/quizzes/quiz/", {"action": "export_yaml", "_selected_action": [quiz.pk]}
    )
    assert response["Content-Disposition"] == 'attachment; filename="demo-quiz.yaml"'
    document = yaml.safe_load(response.content)
    assert document["slug"] == "demo-quiz" and len(document["questions"]) == 8


def test_exporting_several_tests_downloads_a_zip_of_yaml_files(admin_client, quiz, tmp_path):
    other = tmp_path / "other.yaml"
    other.write_text(Path(DEMO).read_text().replace("slug: demo-quiz", "slug: other-quiz"))
    quizzes_load([other])
    ids = list(Quiz.objects.values_list("pk", flat=True))
    response = admin_client.post(
        "/admin/quizzes/quiz/", {"action": "export_yaml", "_selected_action": ids}
    )
    assert response["Content-Type"] == "application/zip"
    with zipfile.ZipFile(io.BytesIO(response.content)) as archive:
        assert sorted(archive.namelist()) == ["demo-quiz.yaml", "other-quiz.yaml"]
        exported = tmp_path / "exported.yaml"
        exported.write_bytes(archive.read("other-quiz.yaml"))
    assert str(quizzes_load([exported])[0]) == "other-quiz: test unchanged"


def test_the_question_list_filters_by_kind_and_objective_and_searches(admin_client, quiz):
    def keys(query: str) -> set[str]:
        response = admin_client.get(f"/admin/quizzes/question/?{query}")
        assert response.status_code == 200
        return {q.key for q in response.context["cl"].result_list}

    assert keys("current__kind__exact=multiple") == {"ready-states", "chat-broadcast", "wss-why"}
    security = Objective.objects.get(key="security")
    assert keys(f"current__objective__id__exact={security.pk}") == {"origin-check", "wss-why"}
    assert keys("q=readyState") == {"ready-states"}
    assert keys("q=close-code") == {"close-code"}
    html = admin_client.get("/admin/quizzes/question/").content.decode()
    assert "By kind" in html and "By objective" in html


def test_the_question_page_shows_the_current_version_and_its_options(admin_client, quiz):
    question = Question.objects.get(key="ready-states")
    page = admin_client.get(f"/admin/quizzes/question/{question.pk}/change/")
    data = form_of(page)
    assert data["kind"] == ["multiple"]
    assert data["text"][0].startswith("Which of these are values of `WebSocket.readyState`?")
    assert data["options-0-text"] == ["`CONNECTING`"] and data["options-0-correct"] == ["on"]
    assert "options-2-correct" not in data  # WAITING is wrong
    assert data["options-5-text"] == [""]  # room for up to six
    assert "Preview as a student" in page.content.decode()


def test_saving_an_unchanged_question_changes_nothing(admin_client, quiz):
    question = Question.objects.get(key="ready-states")
    url = f"/admin/quizzes/question/{question.pk}/change/"
    version = question.current
    response = admin_client.post(url, form_of(admin_client.get(url)))
    assert response.status_code == 302
    question.refresh_from_db()
    assert question.current_id == version.pk and question.current.content() == version.content()
    assert question.versions.count() == 1


def test_editing_an_undrawn_question_edits_it_in_place(admin_client, quiz):
    question = Question.objects.get(key="ws-scheme")
    url = f"/admin/quizzes/question/{question.pk}/change/"
    data = form_of(admin_client.get(url))
    data["text"] = ["Which scheme\r\nencrypts a WebSocket?"]
    data["options-3-text"] = ["`ftp://`"]
    response = admin_client.post(url, data, follow=True)
    assert "edited in place" in " ".join(messages_of(response))
    question.refresh_from_db()
    assert question.versions.count() == 1
    assert question.current.text == "Which scheme\nencrypts a WebSocket?"
    assert question.current.options.count() == 4


def test_editing_a_drawn_question_makes_a_new_version(admin_client, quiz, student):
    Question.objects.exclude(
        key__in=["ws-scheme", "ready-states", "full-duplex", "send-json"]
    ).update(is_active=False)
    attempt = attempt_start(quiz=quiz, user=student)
    question = Question.objects.get(key="ws-scheme")
    old = question.current
    url = f"/admin/quizzes/question/{question.pk}/change/"
    data = form_of(admin_client.get(url))
    data["explanation"] = ["TLS underneath: `wss` is to `ws` what `https` is to `http`."]
    response = admin_client.post(url, data, follow=True)
    assert "your changes are version 2" in " ".join(messages_of(response))
    question.refresh_from_db()
    assert question.current.number == 2 and question.current.explanation.startswith("TLS")
    assert attempt.questions.filter(version=old).exists()
    old.refresh_from_db()
    assert old.explanation == "The `wss` scheme runs the WebSocket protocol over TLS."


@pytest.mark.parametrize(
    ("change", "message"),
    [
        ({"options-1-correct": ["on"]}, "needs exactly one correct option, not 2"),
        ({"options-0-correct": []}, "needs exactly one correct option, not 0"),
        ({"kind": ["multiple"], "options-0-correct": []}, "needs at least one correct option"),
        ({"options-2-text": [""]}, "Give 3 to 6 options, not 2."),
        ({"options-2-text": ["`ws://`"]}, "Two options have the same text."),
        ({"options-4-correct": ["on"], "options-0-correct": []}, "Option 5 is marked correct"),
        ({"text": ["   "]}, "This field must not be blank."),
        ({"source": ["javascript:alert(1)"]}, "Give one http(s) URL or a path on this site"),
    ],
    ids=[
        "single-two-correct",
        "single-none-correct",
        "multiple-none-correct",
        "too-few",
        "duplicate-text",
        "correct-but-empty",
        "blank-text",
        "bad-source",
    ],
)
def test_bad_questions_get_clear_messages_and_are_not_saved(admin_client, quiz, change, message):
    question = Question.objects.get(key="ws-scheme")
    before = question.current.content()
    url = f"/admin/quizzes/question/{question.pk}/change/"
    data = form_of(admin_client.get(url))
    data.update(change)
    response = admin_client.post(url, data)
    assert response.status_code == 200
    assert message in response.content.decode()
    question.refresh_from_db()
    assert question.current.content() == before and question.versions.count() == 1


def test_adding_a_question_creates_its_first_version(admin_client, quiz):
    response = admin_client.post(
        "/admin/quizzes/question/add/", new_question_data(admin_client, quiz)
    )
    assert response.status_code == 302
    question = Question.objects.get(key="binary-type")
    assert question.current.number == 1
    assert list(question.current.options.values_list("text", "correct")) == [
        ('`"arraybuffer"`', True),
        ('`"blob"`', False),
        ('`"buffer"`', False),
    ]


@pytest.mark.parametrize(
    ("change", "message"),
    [
        ({"key": ["Binary Type"]}, "Use lowercase letters, digits and single hyphens"),
        ({"key": ["ws-scheme"]}, "This test already has a question with this key."),
    ],
    ids=["bad-key", "duplicate-key"],
)
def test_bad_keys_get_clear_messages(admin_client, quiz, change, message):
    response = admin_client.post(
        "/admin/quizzes/question/add/", new_question_data(admin_client, quiz, **change)
    )
    assert response.status_code == 200
    assert message in response.content.decode()
    assert Question.objects.count() == 8


def test_an_objective_of_another_module_is_refused(admin_client, quiz):
    other = Module.objects.create(slug="other", title="Other", summary="-", overview="-", hours=1)
    foreign = Objective.objects.create(module=other, key="misc", text="Misc.", position=0)
    data = new_question_data(admin_client, quiz, objective=[str(foreign.pk)])
    response = admin_client.post("/admin/quizzes/question/add/", data)
    assert "Choose an objective of st2-websockets" in response.content.decode()
    assert not Question.objects.filter(key="binary-type").exists()


def test_the_preview_shows_the_question_as_a_student_sees_it(admin_client, quiz):
    question = Question.objects.get(key="ready-states")
    response = admin_client.get(f"/admin/quizzes/question/{question.pk}/preview/")
    assert response.status_code == 200
    html = response.content.decode()
    assert '<code class="language-js">const socket' in html
    assert 'type="checkbox"' in html and "<code>CONNECTING</code>" in html
    options = html[
        html.index('<ul class="quiz-options">') : html.index(
            "</ul>", html.index('<ul class="quiz-options">')
        )
    ]
    assert "correct" not in options and "checked" not in options and "✓" not in options
    assert (
        admin_client.get(f"/admin/quizzes/question/{question.pk}/preview/?version=7").status_code
        == 404
    )


def test_the_preview_needs_a_staff_login(client, quiz, student):
    question = Question.objects.get(key="ready-states")
    client.login(username="alice", password=PASSWORD)
    response = client.get(f"/admin/quizzes/question/{question.pk}/preview/")
    assert response.status_code == 302 and "/admin/login/" in response["Location"]


def test_duplicating_questions_makes_inactive_copies_with_free_keys(admin_client, quiz):
    question = Question.objects.get(key="ws-scheme")
    for _ in range(2):
        response = admin_client.post(
            "/admin/quizzes/question/",
            {"action": "duplicate", "_selected_action": [question.pk]},
            follow=True,
        )
    assert "Made 1 inactive copy: ws-scheme-copy-2" in " ".join(messages_of(response))
    copies = Question.objects.filter(key__startswith="ws-scheme-copy")
    assert sorted(copies.values_list("key", flat=True)) == ["ws-scheme-copy", "ws-scheme-copy-2"]
    for copy in copies:
        assert not copy.is_active
        assert copy.current.content() == question.current.content()
        assert copy.current_id != question.current_id


def test_attempts_are_read_only_and_show_their_answers(admin_client, quiz, student):
    attempt = attempt_start(quiz=quiz, user=student)
    first = attempt.questions.select_related("version").get(position=0)
    chosen = first.option_order[0]
    attempt_answer(attempt=attempt, position=0, option_ids=[chosen])
    attempt_submit(attempt=attempt)

    listing = admin_client.get("/admin/quizzes/attempt/")
    assert listing.status_code == 200 and "alice" in listing.content.decode()
    url = f"/admin/quizzes/attempt/{attempt.pk}/change/"
    page = admin_client.get(url)
    html = page.content.decode()
    assert page.status_code == 200
    assert f"{first.version.question.key} v1" in html
    chosen_text = first.version.options.get(pk=chosen).text
    assert (
        f"[x] {'✓' if first.version.options.get(pk=chosen).correct else '·'} {chosen_text}"
        in html.replace("&#x27;", "'")
    )
    assert "of 4 correct" in html  # the receipt
    assert 'name="_save"' not in html
    assert admin_client.post(url, {"status": "open"}).status_code == 403
    assert admin_client.get("/admin/quizzes/attempt/add/").status_code == 403
    assert Attempt.objects.get(pk=attempt.pk).status == Attempt.Status.SUBMITTED


def test_results_are_listed_read_only(admin_client, quiz, student):
    attempt_submit(attempt=attempt_start(quiz=quiz, user=student))
    listing = admin_client.get("/admin/quizzes/result/")
    assert listing.status_code == 200 and "alice" in listing.content.decode()
    assert admin_client.get("/admin/quizzes/result/add/").status_code == 403
