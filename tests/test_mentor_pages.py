"""Mentor pages: who sees whom, the scores table and CSV, attempt detail, analytics."""

from __future__ import annotations

import csv
import io
from types import SimpleNamespace

import pytest
from django.contrib.auth.models import User
from django.core.exceptions import ValidationError
from django.db import IntegrityError, connection, transaction
from django.test import Client
from django.test.utils import CaptureQueriesContext
from django.urls import reverse
from django.utils import timezone

from courseware.mentoring import can_view_student, students_visible_to
from courseware.models import Mentorship, Objective
from courseware.roles import MENTORS, STUDENTS
from mentors import analytics
from mentors.data import analytics_input
from quizzes.attempts import attempt_start
from quizzes.models import Attempt, Quiz
from tests.conftest import make_user
from tests.mentor_world import cohort_letters, make_quiz, sit
from tests.quizkit import DEMO, client_for, finished_attempt, load_quiz

DASH = "\N{EN DASH}"  # the histogram labels its bins "40<en dash>50%"


@pytest.fixture
def world(people):
    """alice (mentor's) finished attempt 1 of the demo test and has attempt 2 open;
    bob (mentor2's) scored below the threshold."""
    finished = finished_attempt(people.quiz, people.alice, right=3)
    finished_attempt(people.quiz, people.bob, right=1)
    in_progress = attempt_start(quiz=people.quiz, user=people.alice)
    return SimpleNamespace(**vars(people), finished=finished, in_progress=in_progress)


PAGES = {
    "scores": lambda w: reverse("mentor:scores"),
    "csv": lambda w: reverse("mentor:scores_csv"),
    "student": lambda w: reverse("mentor:student", args=[w.alice.pk]),
    "attempt": lambda w: reverse("mentor:attempt", args=[w.finished.pk]),
    "analytics": lambda w: reverse("mentor:analytics", args=[w.quiz.slug]),
    "live": lambda w: reverse("mentor:live"),
}
EXPECTED = {
    "anonymous": dict.fromkeys(PAGES, 302),
    "student": dict.fromkeys(PAGES, 403),
    "own mentor": dict.fromkeys(PAGES, 200),
    "other mentor": {**dict.fromkeys(PAGES, 200), "student": 404, "attempt": 404},
    "admin": dict.fromkeys(PAGES, 200),
}


def viewer_client(world, viewer: str) -> Client:
    users = {
        "student": world.alice,
        "own mentor": world.mentor,
        "other mentor": world.other_mentor,
        "admin": world.admin,
    }
    return Client() if viewer == "anonymous" else client_for(users[viewer])


def body(response) -> str:
    if response.streaming:
        return b"".join(response.streaming_content).decode()
    return response.content.decode()


@pytest.mark.parametrize("page", PAGES)
@pytest.mark.parametrize("viewer", EXPECTED)
def test_the_permission_matrix(world, viewer, page):
    url = PAGES[page](world)
    response = viewer_client(world, viewer).get(url)
    assert response.status_code == EXPECTED[viewer][page]
    if viewer == "anonymous":
        assert response.url.startswith(f"{reverse('login')}?next=")
    if response.status_code != 200 or page in ("analytics",):
        return
    text = body(response)
    sees_alice = viewer in ("own mentor", "admin")
    if page in ("scores", "csv", "live"):
        assert ("alice" in text) is sees_alice
    if page in ("scores", "csv"):
        assert ("bob" in text) is (viewer in ("other mentor", "admin"))


def test_a_mentor_sees_only_their_students_and_staff_everyone(world):
    charlie = make_user("charlie", group=STUDENTS)
    assert list(students_visible_to(world.mentor)) == [world.alice]
    assert list(students_visible_to(world.other_mentor)) == [world.bob]
    assert set(students_visible_to(world.admin)) == {world.alice, world.bob, charlie}
    assert not students_visible_to(world.alice).exists()
    assert can_view_student(world.mentor, world.alice)
    assert can_view_student(world.mentor, world.alice.pk)
    assert not can_view_student(world.mentor, world.bob)
    assert not can_view_student(world.alice, world.bob)
    assert not can_view_student(world.alice, world.alice)  # their own pages live elsewhere
    assert can_view_student(world.admin, world.other_mentor)


def test_an_account_that_started_a_test_counts_as_a_student_for_staff(world):
    """Outside the Students group and with no mentor, someone who started a test is still
    one of the students staff see (quizzes registers attempts); an idle account is not."""
    tester = make_user("tester")
    idle = make_user("idle")
    attempt_start(quiz=world.quiz, user=tester)
    visible = set(students_visible_to(world.admin))
    assert tester in visible
    assert idle not in visible
    assert not students_visible_to(world.mentor).filter(pk=tester.pk).exists()


def test_a_mentor_removed_from_the_mentors_group_loses_their_students(world):
    world.mentor.groups.clear()
    assert not students_visible_to(world.mentor).exists()
    assert not can_view_student(world.mentor, world.alice)
    assert client_for(world.mentor).get(reverse("mentor:scores")).status_code == 403


def test_mentorships_are_unique_and_never_self_and_need_a_mentor(world):
    with pytest.raises(IntegrityError), transaction.atomic():
        Mentorship.objects.create(mentor=world.mentor, student=world.alice)
    with pytest.raises(IntegrityError), transaction.atomic():
        Mentorship.objects.create(mentor=world.mentor, student=world.mentor)
    with pytest.raises(ValidationError, match="Mentors group"):
        Mentorship(mentor=world.bob, student=world.alice).full_clean()


def test_the_admin_assigns_students_and_lists_mentorships_with_a_filter(world):
    admin = client_for(world.admin)
    charlie = make_user("charlie", group=STUDENTS)
    response = admin.post(
        reverse("admin:courseware_mentorship_add"),
        {"mentor": world.mentor.pk, "student": charlie.pk},
    )
    assert response.status_code == 302
    assert Mentorship.objects.filter(mentor=world.mentor, student=charlie).exists()
    refused = admin.post(
        reverse("admin:courseware_mentorship_add"),
        {"mentor": world.bob.pk, "student": charlie.pk},
    )
    assert "Add this account to the Mentors group" in refused.content.decode()
    listing = admin.get(
        reverse("admin:courseware_mentorship_changelist"), {"mentor__id__exact": world.mentor.pk}
    )
    assert listing.status_code == 200
    assert listing.context["cl"].result_count == 2
    user_page = admin.get(reverse("admin:auth_user_change", args=[world.mentor.pk]))
    assert "Students this account mentors" in user_page.content.decode()
    assert "Mentors of this account" in user_page.content.decode()


def rows_of(response) -> list[list[str]]:
    text = body(response)
    assert text.startswith("\ufeff"), "the CSV starts with a BOM, so Excel reads it as UTF-8"
    return list(csv.reader(io.StringIO(text[1:])))


def test_the_scores_table_shows_counting_best_last_attempts_and_passed(world):
    response = client_for(world.mentor).get(reverse("mentor:scores"))
    (row,) = response.context["table"].rows
    record = row.record
    assert (record.student, record.quiz) == ("alice", "Demo quiz")
    assert (record.counted, record.best, record.last) == (7, 7, 7)
    assert (record.used, record.allowed, record.in_progress, record.passed) == (2, 2, True, True)
    assert record.counting_attempt_id == world.finished.pk
    html = response.content.decode()
    assert reverse("mentor:attempt", args=[world.finished.pk]) in html
    assert "2 of 2, one in progress" in html
    assert "aria-sort" not in html  # unsorted until a header is clicked


def test_the_csv_streams_the_same_columns_and_rows_as_the_table(world):
    make_user("charlie", group=STUDENTS)  # never attempted: an empty row
    response = client_for(world.admin).get(reverse("mentor:scores_csv"), {"sort": "student"})
    assert response.streaming
    assert response["Content-Type"] == "text/csv; charset=utf-8"
    assert response["Content-Disposition"].startswith('attachment; filename="scores-')
    rows = rows_of(response)
    finished_at = world.finished.submitted_at
    alice_activity = max(world.in_progress.started_at, finished_at)  # the open attempt started last
    assert rows == [
        [
            "Student",
            "Name",
            "Test",
            "Counting score",
            "Best",
            "Last",
            "Out of",
            "Attempts",
            "Passed",
            "Last activity",
            "Last activity (ISO 8601)",
        ],
        [
            "alice",
            "",
            "Demo quiz",
            "7",
            "7",
            "7",
            "10",
            "2 of 2, one in progress",
            "yes",
            f"{timezone.localtime(alice_activity):%Y-%m-%d %H:%M}",
            alice_activity.isoformat(),
        ],
        ["bob", "", "Demo quiz", "0", "0", "0", "10", "1 of 2", "no", rows[2][9], rows[2][10]],
        ["charlie", "", "Demo quiz", "", "", "", "10", "0 of 2", "", "", ""],
    ]
    table = client_for(world.admin).get(reverse("mentor:scores"), {"sort": "student"})
    headers = [c.header for c in table.context["table"].columns]
    # The table shows local times only; the CSV adds the ISO column for scripts.
    assert [*headers, "Last activity (ISO 8601)"] == [h for h in rows[0] if h != "Name"]


def test_filters_and_sorting_apply_to_the_table_and_the_csv_alike(world):
    admin = client_for(world.admin)
    failed = {"status": "failed"}
    assert [
        r.record.student for r in admin.get(reverse("mentor:scores"), failed).context["table"].rows
    ] == ["bob"]
    assert [r[0] for r in rows_of(admin.get(reverse("mentor:scores_csv"), failed))[1:]] == ["bob"]
    by_score = {"sort": "-counted"}
    assert [r[0] for r in rows_of(admin.get(reverse("mentor:scores_csv"), by_score))[1:]] == [
        "alice",
        "bob",
    ]
    ascending = admin.get(reverse("mentor:scores"), {"sort": "counted"})
    assert [r.record.student for r in ascending.context["table"].rows] == ["bob", "alice"]
    assert 'aria-sort="ascending"' in ascending.content.decode()
    search = admin.get(reverse("mentor:scores"), {"q": "ALI"})
    assert [r.record.student for r in search.context["table"].rows] == ["alice"]
    only_mentor2 = admin.get(reverse("mentor:scores"), {"mentor": world.other_mentor.pk})
    assert [r.record.student for r in only_mentor2.context["table"].rows] == ["bob"]
    in_progress = admin.get(reverse("mentor:scores"), {"status": "in-progress"})
    assert [r.record.student for r in in_progress.context["table"].rows] == ["alice"]


def test_a_mentor_cannot_widen_their_scope_through_the_filters(world):
    mentor = client_for(world.mentor)
    response = mentor.get(reverse("mentor:scores"), {"mentor": world.other_mentor.pk, "q": "bob"})
    assert list(response.context["table"].rows) == []
    assert "mentor" not in response.context["form"].fields


def test_bad_filter_and_sort_values_are_ignored_with_a_message_not_an_error(world):
    admin = client_for(world.admin)
    response = admin.get(
        reverse("mentor:scores"), {"quiz": "nope", "status": "weird", "sort": "password"}
    )
    assert response.status_code == 200
    assert "Select a valid choice" in response.content.decode()
    assert {r.record.student for r in response.context["table"].rows} == {"alice", "bob"}


def test_csv_cells_that_a_spreadsheet_would_run_as_formulas_are_defused(world):
    make_user("=cmd", group=STUDENTS)
    make_user("@sum", group=STUDENTS)
    rows = rows_of(client_for(world.admin).get(reverse("mentor:scores_csv"), {"sort": "student"}))
    assert [r[0] for r in rows[1:]] == ["'=cmd", "'@sum", "alice", "bob"]


def test_the_attempt_detail_shows_what_was_shown_chosen_right_and_the_receipt(world):
    response = client_for(world.mentor).get(reverse("mentor:attempt", args=[world.finished.pk]))
    html = response.content.decode()
    questions = response.context["questions"]
    drawn = list(world.finished.questions.select_related("version__question", "answer"))
    assert [q.key for q in questions] == [d.version.question.key for d in drawn]
    assert [q.is_correct for q in questions] == [True, True, True, False]
    for shown, row in zip(questions, drawn, strict=True):
        by_id = {o.id: o for o in row.version.options.all()}
        # Options in the shuffled order the student saw, with their choice and the key.
        assert [o.correct for o in shown.options] == [by_id[i].correct for i in row.option_order]
        assert [o.chosen for o in shown.options] == [
            i in row.answer.chosen for i in row.option_order
        ]
    assert world.finished.receipt in html
    assert "this attempt counts" in html
    assert "Started" in html and "Ended" in html
    assert html.count('<span class="badge ok">correct</span>') >= 4


def test_an_attempt_in_progress_shows_the_answers_so_far_without_a_grade(world):
    response = client_for(world.mentor).get(reverse("mentor:attempt", args=[world.in_progress.pk]))
    assert response.status_code == 200
    assert [q.is_correct for q in response.context["questions"]] == [None] * 4
    assert "Not graded yet" in response.content.decode()


def test_the_student_page_lists_attempts_and_the_latest_chat_check(world):
    from grader.models import CheckReport

    CheckReport.objects.create(
        login="alice-chat", student=world.alice, status=CheckReport.Status.FINISHED
    )
    response = client_for(world.mentor).get(reverse("mentor:student", args=[world.alice.pk]))
    html = response.content.decode()
    assert reverse("mentor:attempt", args=[world.finished.pk]) in html
    assert reverse("mentor:attempt", args=[world.in_progress.pk]) in html
    assert "<strong>counts</strong>" in html
    assert "Chat check of <strong>alice-chat</strong>" in html


def test_analytics_from_the_database_use_the_counting_attempts_only(cohort, mentor):
    quiz, _ = cohort
    items, attempts, meta = analytics_input(quiz=quiz, students=students_visible_to(mentor))
    assert len(attempts) == 6
    report = analytics.analyse(items, attempts)
    assert [meta[i.item].version.question.key for i in report.items] == list(
        ["q1", "q2", "q3", "q4", "q5"]
    )
    q1 = report.items[0]
    assert (q1.facility, q1.discrimination) == (0.5, -1.0)
    assert q1.point_biserial == pytest.approx(-0.894427, abs=1e-6)
    assert [f.code for f in q1.flags] == [
        analytics.SUSPECT_KEY,
        analytics.UNUSED_DISTRACTOR,
        analytics.NEGATIVE_DISCRIMINATION,
    ]
    assert [f.code for f in report.items[3].flags] == [analytics.TOO_HARD]
    assert {b.label: b.count for b in report.histogram if b.count} == {
        f"40{DASH}50%": 3,
        f"60{DASH}70%": 2,
        f"80{DASH}90%": 1,
    }


def test_with_best_counting_the_better_earlier_attempt_is_the_one_analysed(module, mentor):
    quiz = make_quiz(module, counting=Quiz.Counting.BEST)
    solo = make_user("solo", group=STUDENTS)
    Mentorship.objects.create(mentor=mentor, student=solo)
    sit(quiz, solo, {"q1": "A", "q2": "A", "q3": "AB", "q4": "A", "q5": "A"})
    sit(quiz, solo, {"q1": "B", "q2": "B", "q3": "C", "q4": "B", "q5": "B"})
    _, attempts, _ = analytics_input(quiz=quiz, students=students_visible_to(mentor))
    assert [a.score for a in attempts] == [1]


def test_the_analytics_page_shows_flags_charts_and_admin_links_for_staff(
    cohort, mentor, admin_user
):
    quiz, _ = cohort
    url = reverse("mentor:analytics", args=[quiz.slug])
    html = client_for(admin_user).get(url).content.decode()
    q1 = quiz.questions.get(key="q1")
    assert reverse("admin:quizzes_question_change", args=[q1.pk]) in html
    assert "Suspect key: 2 of 2 students in the upper group chose B" in html
    assert "Far too easy: 100% answered it right" in html
    assert "Far too hard: 17% answered it right" in html
    assert html.count('<svg xmlns="http://www.w3.org/2000/svg" class="chart"') == 2
    assert '<title id="score-histogram-title">' in html
    principles, connect = (
        Objective.objects.get(module=quiz.module, key=key).text for key in ("principles", "connect")
    )
    assert f"{principles}: 39%; {connect}: 75%" in html
    assert "<td>-0.89</td>" in html and "<td>+0.80</td>" in html
    mentor_html = client_for(mentor).get(url).content.decode()
    assert "Suspect key" in mentor_html
    # A mentor without admin rights gets no dead links into the admin.
    assert "/admin/quizzes/question/" not in mentor_html


def test_another_mentors_analytics_count_none_of_this_cohort(cohort):
    quiz, _ = cohort
    stranger = make_user("mentor3", group=MENTORS)
    response = client_for(stranger).get(reverse("mentor:analytics", args=[quiz.slug]))
    assert response.context["report"].attempts == 0
    assert "No finished attempts yet" in response.content.decode()


def count_queries(client: Client, url: str, **params) -> int:
    with CaptureQueriesContext(connection) as queries:
        response = client.get(url, params)
        if response.streaming:
            b"".join(response.streaming_content)
    assert response.status_code == 200
    return len(queries)


@pytest.mark.parametrize("name", ["scores", "scores_csv", "live"])
def test_list_pages_make_as_many_queries_for_many_students_as_for_a_few(
    cohort, mentor, name, django_assert_max_num_queries
):
    quiz, students = cohort
    client = client_for(mentor)
    url = reverse(f"mentor:{name}")
    for student in students[:3]:
        attempt_start(quiz=quiz, user=student)
    few = count_queries(client, url)
    demo = load_quiz(DEMO)  # a second test: twice the columns of rows
    for i in range(18):
        extra = make_user(f"extra{i:02}", group=STUDENTS)
        Mentorship.objects.create(mentor=mentor, student=extra)
        if i % 2:
            sit(quiz, extra, cohort_letters(i % 6))
        if i % 3 == 0:
            attempt_start(quiz=demo, user=extra)
    assert count_queries(client, url) == few
    with django_assert_max_num_queries(12):
        client.get(url)


def test_the_analytics_page_makes_as_many_queries_for_many_attempts_as_for_a_few(
    cohort, mentor, django_assert_max_num_queries
):
    quiz, _ = cohort
    client = client_for(mentor)
    url = reverse("mentor:analytics", args=[quiz.slug])
    few = count_queries(client, url)
    for i in range(12):
        extra = make_user(f"extra{i:02}", group=STUDENTS)
        Mentorship.objects.create(mentor=mentor, student=extra)
        sit(quiz, extra, cohort_letters(i % 6))
    assert count_queries(client, url) == few
    with django_assert_max_num_queries(12):
        client.get(url)


def test_the_nav_shows_the_mentor_link_to_mentors_and_staff_only(world):
    link = f'<a href="{reverse("mentor:scores")}">Mentor</a>'
    assert link in client_for(world.mentor).get("/").content.decode()
    assert link in client_for(world.admin).get("/").content.decode()
    assert link not in client_for(world.alice).get("/").content.decode()
    assert link not in Client().get("/").content.decode()


def test_deleting_a_student_removes_them_from_their_mentors_table(world):
    world.alice.delete()
    assert not Mentorship.objects.filter(mentor=world.mentor).exists()
    assert list(client_for(world.mentor).get(reverse("mentor:scores")).context["table"].rows) == []
    assert User.objects.filter(username="mentor").exists()
    assert not Attempt.objects.filter(user_id=world.alice.pk).exists()


def test_chat_check_reports_follow_the_same_mentor_scoping(world):
    from grader.models import CheckReport

    alices = CheckReport.objects.create(
        login="alice-chat", student=world.alice, status=CheckReport.Status.FINISHED
    )
    graded = CheckReport.objects.create(
        login="stranger-chat", grader=world.other_mentor, status=CheckReport.Status.FINISHED
    )
    for suffix in ("/", ".md", ".json"):
        url = f"/chat/reports/{alices.pk}{suffix}"
        assert client_for(world.mentor).get(url).status_code == 200
        assert client_for(world.admin).get(url).status_code == 200
        assert client_for(world.other_mentor).get(url).status_code == 404
    # A mentor still sees the runs they graded themselves, whoever the student was.
    assert client_for(world.other_mentor).get(f"/chat/reports/{graded.pk}/").status_code == 200
    assert client_for(world.mentor).get(f"/chat/reports/{graded.pk}/").status_code == 404
    listing = client_for(world.other_mentor).get("/chat/reports/").content.decode()
    assert "stranger-chat" in listing and "alice-chat" not in listing
