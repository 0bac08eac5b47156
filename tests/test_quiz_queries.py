"""Every student request of a test runs a fixed, small number of queries (issue 17).

Counts, never timings (those live in bench/quiz_profile.py and bench/quiz_load.py). A
transaction's BEGIN is left out of the counts: SQLite sends it as a statement, while
PostgreSQL, where the cohort runs, starts its transactions with the first query.
"""

from __future__ import annotations

from collections.abc import Callable

import pytest
from django.contrib.auth.models import Group
from django.db import connection
from django.test.utils import CaptureQueriesContext
from django.urls import reverse

from courseware.roles import MENTORS, STUDENTS
from quizzes import consumers, live, views
from quizzes.attempts import attempt_submit
from quizzes.models import Answer, Attempt, Quiz
from quizzes.socketsaves import Pending, Saved, save_all
from tests.conftest import make_user
from tests.quizkit import DEMO, ST2, client_for, finished_attempt, form_data, key_values, load_quiz

TRANSACTION_CONTROL = ("BEGIN", "SAVEPOINT", "RELEASE SAVEPOINT", "COMMIT")


def queries_of(call: Callable[[], object]) -> tuple[int, object]:
    """(statements other than transaction control, the call's result)."""
    with CaptureQueriesContext(connection) as captured:
        result = call()
    statements = [q["sql"] for q in captured.captured_queries]
    return sum(1 for sql in statements if not sql.startswith(TRANSACTION_CONTROL)), result


def student_walk(quiz: Quiz, username: str) -> dict[str, int]:
    """One student through the test without JavaScript; the queries of each request."""
    user = make_user(username, group=STUDENTS)
    client = client_for(user)
    counts: dict[str, int] = {}

    def step(name: str, call: Callable[[], object], status: int = 200) -> None:
        counts[name], response = queries_of(call)
        assert response.status_code == status, (name, response.status_code)

    step("test page", lambda: client.get(reverse("quizzes:quiz", args=[quiz.slug])))
    step("start", lambda: client.post(reverse("quizzes:start", args=[quiz.slug])), 302)
    attempt = Attempt.objects.get(quiz=quiz, user=user)
    page = reverse("quizzes:attempt", args=[quiz.slug, attempt.pk])
    step("attempt page", lambda: client.get(page))
    form = form_data(attempt, right=attempt.question_count)
    step("save every answer", lambda: client.post(page, form), 302)
    step("submit", lambda: client.post(page, {"action": "submit", "confirm": "1"}), 302)
    attempt.refresh_from_db()
    assert (attempt.status, attempt.correct_count) == ("submitted", attempt.question_count)
    result = reverse("quizzes:result", args=[quiz.slug, attempt.pk])
    step("result page", lambda: client.get(result))
    return counts


@pytest.mark.django_db
def test_each_student_request_of_the_real_bank_stays_within_its_query_budget(module):
    """Test page, Start, attempt page, Submit and result take at most 10 queries each, and
    saving all 20 answers in one form post at most 8 (one bulk write, not one per answer)."""
    quiz = load_quiz(ST2)
    counts = student_walk(quiz, "budget")
    assert {name: n for name, n in counts.items() if n > 10} == {}
    assert counts["save every answer"] <= 8


@pytest.mark.django_db
def test_a_double_clicked_start_reads_the_test_once_for_the_attempt_in_progress(module):
    """The second click finds the attempt just started and redirects to it: the test is
    read once (by slug), not again for the attempt page's address."""
    quiz = load_quiz(ST2)
    client = client_for(make_user("double-click", group=STUDENTS))
    start = reverse("quizzes:start", args=[quiz.slug])
    first = client.post(start)
    with CaptureQueriesContext(connection) as captured:
        again = client.post(start)
    assert again.status_code == 302 and again["Location"] == first["Location"]
    sql = [q["sql"] for q in captured.captured_queries]
    assert len([s for s in sql if 'FROM "quizzes_quiz"' in s]) == 1, sql


@pytest.mark.django_db
def test_the_losing_submit_of_a_double_click_does_not_read_the_test_again(module, rf):
    """Two Submits at once: the second waits for the first's lock, finds the attempt
    submitted, and redirects to the result with the test it already holds."""
    quiz = load_quiz(ST2)
    user = make_user("double-submit", group=STUDENTS)
    client_for(user).post(reverse("quizzes:start", args=[quiz.slug]))
    stale = Attempt.objects.select_related("quiz").get(quiz=quiz, user=user)
    attempt_submit(attempt=Attempt.objects.select_related("quiz", "user").get(pk=stale.pk))
    stale.user = user
    with CaptureQueriesContext(connection) as captured:
        response = views._submit(rf.post("/"), stale)
    assert response.status_code == 302 and response["Location"].endswith("/result/")
    sql = [q["sql"] for q in captured.captured_queries]
    assert not [s for s in sql if 'FROM "quizzes_quiz"' in s], sql


@pytest.mark.django_db
def test_query_counts_do_not_depend_on_the_number_of_questions(module):
    """A 20-question attempt runs exactly the queries of a short one, request by request."""
    small = load_quiz(DEMO)
    big = load_quiz(ST2)
    assert small.questions_per_attempt < big.questions_per_attempt
    assert student_walk(small, "few") == student_walk(big, "many")


@pytest.mark.django_db
def test_a_live_socket_answer_is_two_statements_and_the_last_write_wins(module, student):
    """Connecting reads the attempt and its questions (2 queries); one answer over the
    socket is lock and read, then upsert and allowance in one statement (two on SQLite,
    which has no data-modifying WITH). A later write of the same question replaces the
    earlier one, and the answered count follows, down to 0 when cleared."""
    quiz = load_quiz(ST2)
    client_for(student).post(reverse("quizzes:start", args=[quiz.slug]))
    attempt = Attempt.objects.select_related("quiz", "user").get(quiz=quiz, user=student)
    n, (found, _, drawn) = queries_of(lambda: consumers._load(attempt.pk, student))
    assert (n, found, len(drawn)) == (2, attempt, quiz.questions_per_attempt)
    question = attempt.questions.prefetch_related("version__options").get(position=3)
    options = list(question.option_values)

    def save(values: list[str], position: int = 3) -> tuple:
        n, (saved,) = queries_of(lambda: save_all([Pending(attempt, drawn, position, values)]))
        assert isinstance(saved, Saved)
        return n, (saved.chosen, saved.answered, saved.sends)

    writes = 2 if connection.vendor == "postgresql" else 3

    n, (chosen, answered, _) = save(options[:1])
    assert (n, chosen, answered) == (writes, sorted(options[:1]), 1)
    n, (chosen, answered, _) = save(key_values(question))
    assert (n, chosen, answered) == (writes, key_values(question), 1)
    assert Answer.objects.get(question=question).chosen == sorted(
        question.ids_of(key_values(question)) or []
    )
    n, (chosen, answered, _) = save([])
    assert (n, chosen, answered) == (writes, [], 0)
    # The save's written-out count and the ORM's (mentors' view, grading) agree.
    save(options[:1])
    assert live.answered_count(attempt.pk) == 1 == save([], position=5)[1][1]


@pytest.mark.django_db
def test_the_mentor_scores_page_and_csv_cost_the_same_for_2_or_32_students(module):
    """The scores page and its CSV read students, attempts and results in bulk."""
    quiz = load_quiz(DEMO)
    mentor = make_user("counting-mentor", is_staff=True)
    mentor.groups.add(Group.objects.get(name=MENTORS))
    client = client_for(mentor)

    def costs() -> tuple[int, int]:
        page, response = queries_of(lambda: client.get(reverse("mentor:scores")))
        assert response.status_code == 200
        csv, response = queries_of(lambda: client.get(reverse("mentor:scores_csv")))
        assert response.status_code == 200
        return page, csv

    for i in range(2):
        finished_attempt(quiz, make_user(f"few{i}", group=STUDENTS), right=i)
    few = costs()
    for i in range(30):
        finished_attempt(quiz, make_user(f"more{i}", group=STUDENTS), right=i % 3)
    assert costs() == few


@pytest.mark.django_db
def test_the_pages_a_student_reloads_run_at_most_ten_queries(
    module, student, django_assert_max_num_queries
):
    """Pages read without a transaction, counted whole: the test page, the attempt page
    with every answer saved, and the result page."""
    quiz = load_quiz(ST2)
    client = client_for(student)
    client.post(reverse("quizzes:start", args=[quiz.slug]))
    attempt = Attempt.objects.get(quiz=quiz, user=student)
    page = reverse("quizzes:attempt", args=[quiz.slug, attempt.pk])
    client.post(page, form_data(attempt, right=5))
    for path in [reverse("quizzes:quiz", args=[quiz.slug]), page]:
        with django_assert_max_num_queries(10):
            assert client.get(path).status_code == 200
    client.post(page, {"action": "submit", "confirm": "1"})
    with django_assert_max_num_queries(10):
        assert (
            client.get(reverse("quizzes:result", args=[quiz.slug, attempt.pk])).status_code == 200
        )
