"""Mentor pages that fit a screen and a spreadsheet: collapsed analytics, worst questions first,
a CSV that Excel opens with the right letters and the site's local times."""

from __future__ import annotations

import csv
import io
import re
from datetime import UTC, datetime

from django.urls import reverse

from courseware.models import Mentorship
from courseware.roles import STUDENTS
from mentors import analytics
from quizzes.attempts import attempt_start
from quizzes.models import Answer, Attempt
from tests.conftest import make_user
from tests.quizkit import client_for, finished_attempt


def stats(item: int, *, flags: int = 0, d: float | None = 0.5, responses: int = 6):
    return analytics.ItemStats(
        item=item,
        responses=responses,
        facility=0.5,
        upper_size=2,
        lower_size=2,
        upper_facility=0.5,
        lower_facility=0.5,
        discrimination=d,
        point_biserial=d,
        options=(),
        flags=tuple(analytics.Flag("x", "x") for _ in range(flags)),
    )


def test_worst_first_puts_flagged_then_least_discriminating_and_unanswered_last():
    items = [
        stats(1, d=0.6),
        stats(2, responses=0, d=None),
        stats(3, flags=1, d=0.2),
        stats(4, d=-0.4),
        stats(5, flags=2, d=0.9),
        stats(6, d=0.1),
    ]
    assert [s.item for s in analytics.worst_first(items)] == [5, 3, 4, 6, 1, 2]


def test_the_analytics_page_is_collapsed_with_the_worst_question_first(
    cohort,
    mentor,
):
    """Each question's option table is inside a closed <details>; q1 (miskeyed, negative D)
    comes first and q2 (trivial, flagged too easy) before the well-behaved q3 and q5."""
    quiz, _ = cohort
    html = client_for(mentor).get(reverse("mentor:analytics", args=[quiz.slug])).content.decode()
    items = re.findall(r'<details class="item">\s*<summary>\s*<strong>(q\d)</strong>', html)
    assert sorted(items) == ["q1", "q2", "q3", "q4", "q5"]
    assert items[0] == "q1"
    assert items.index("q2") < items.index("q3")
    assert '<details class="item" open' not in html
    assert '<details class="items-table">' in html  # the big table is folded too
    # Every option table sits inside its question's details element.
    for chunk in html.split('<details class="item">')[1:]:
        inside = chunk.split("</details>")[0]
        assert inside.count('<table class="options">') == 1


def bom_rows(response) -> list[list[str]]:
    text = b"".join(response.streaming_content).decode("utf-8")
    assert text.startswith("\ufeff")
    return list(csv.reader(io.StringIO(text[1:])))


def test_the_csv_has_a_bom_and_local_times_beside_the_iso_moment(module, mentor, settings):
    """With the site in Minsk (UTC+3) a 09:15 UTC finish reads 12:15, and the ISO column
    keeps the exact moment; a Cyrillic name survives the trip to a spreadsheet."""
    settings.TIME_ZONE = "Europe/Minsk"
    from tests.quizkit import DEMO, load_quiz

    quiz = load_quiz(DEMO)
    student = make_user("olya", group=STUDENTS, first_name="Ольга", last_name="Ковальчук")
    Mentorship.objects.create(mentor=mentor, student=student)
    attempt = finished_attempt(quiz, student, right=4)
    moment = datetime(2026, 12, 1, 9, 15, tzinfo=UTC)
    Attempt.objects.filter(pk=attempt.pk).update(started_at=moment, submitted_at=moment)
    Answer.objects.filter(question__attempt=attempt).update(updated_at=moment)
    rows = bom_rows(client_for(mentor).get(reverse("mentor:scores_csv")))
    header, row = rows[0], rows[1]
    assert header[-2:] == ["Last activity", "Last activity (ISO 8601)"]
    assert row[-2] == "2026-12-01 12:15"
    assert datetime.fromisoformat(row[-1]) == moment
    assert row[:2] == ["olya", "Ольга Ковальчук"]


def test_an_attempt_in_progress_still_gets_both_time_columns(module, mentor):
    from tests.quizkit import DEMO, load_quiz

    quiz = load_quiz(DEMO)
    student = make_user("kim", group=STUDENTS)
    Mentorship.objects.create(mentor=mentor, student=student)
    attempt_start(quiz=quiz, user=student)
    (_, row) = bom_rows(client_for(mentor).get(reverse("mentor:scores_csv")))
    assert re.fullmatch(r"\d{4}-\d\d-\d\d \d\d:\d\d", row[-2])
    assert datetime.fromisoformat(row[-1]).tzinfo is not None
