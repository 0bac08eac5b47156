"""Mentor pages: scores (and CSV), a student, one attempt, question analytics, live view.

Every page asks courseware.mentoring who the viewer may see: a mentor only their
assigned students, staff everyone. Anonymous visitors go to the login page, other
accounts get 403, and a student or attempt outside the viewer's scope is a 404, so
its existence is not revealed.
"""

from __future__ import annotations

import csv
from collections.abc import Callable, Iterator
from functools import wraps
from typing import Any

from django.contrib import messages
from django.contrib.auth import get_user_model
from django.contrib.auth.views import redirect_to_login
from django.core.exceptions import PermissionDenied
from django.http import (
    Http404,
    HttpRequest,
    HttpResponse,
    HttpResponseBase,
    StreamingHttpResponse,
)
from django.shortcuts import get_object_or_404, redirect, render
from django.utils import timezone
from django.views.decorators.http import require_POST
from django_tables2 import RequestConfig

from courseware.mentoring import can_view_student, students_visible_to
from courseware.roles import SignedInRequest, is_mentor
from grader.models import CheckReport
from mentors import analytics, svg
from mentors.data import (
    analytics_input,
    attempt_detail,
    live_attempts,
    score_rows,
)
from mentors.forms import OverrideForm
from mentors.tables import ScoreFilterForm, ScoresTable
from quizzes.models import Attempt, Override, Quiz, Result
from quizzes.overrides import override_grant

PER_PAGE = 50
# Cells a spreadsheet would run as a formula (CSV injection); logins may start with + - @.
FORMULA_STARTS = ("=", "+", "-", "@", "\t", "\r")


def mentor_required(view: Callable[..., HttpResponseBase]) -> Callable[..., HttpResponseBase]:
    """Anonymous: to the login page; logged in but not a mentor or staff: 403."""

    @wraps(view)
    def wrapper(request: HttpRequest, *args: Any, **kwargs: Any) -> HttpResponseBase:
        if not request.user.is_authenticated:
            return redirect_to_login(request.get_full_path())
        if not is_mentor(request.user):
            raise PermissionDenied("These pages are for mentors and admins.")
        return view(request, *args, **kwargs)

    return wrapper


def _scores_table(request: HttpRequest) -> tuple[ScoreFilterForm, ScoresTable]:
    form = ScoreFilterForm(request.GET or None, viewer=request.user)
    students = students_visible_to(request.user)
    if form.is_bound:
        students = form.filter_students(students)
        rows = score_rows(students=students, quizzes=form.quizzes(), status=form.chosen_status())
    else:
        rows = score_rows(students=students)
    return form, ScoresTable(rows, request=request)


@mentor_required
def scores(request: HttpRequest) -> HttpResponse:
    form, table = _scores_table(request)
    RequestConfig(request, paginate={"per_page": PER_PAGE}).configure(table)
    query = request.GET.copy()
    query.pop("page", None)
    context = {
        "form": form,
        "table": table,
        "quizzes": Quiz.objects.order_by("title"),
        "csv_query": query.urlencode(),
    }
    return render(request, "mentors/scores.html", context)


class _Echo:
    """A file-like object whose write() hands the line back, for csv.writer in a generator."""

    def write(self, value: str) -> str:
        return value


def _safe_cell(value: Any) -> str:
    text = "" if value is None else str(value)
    return "'" + text if text.startswith(FORMULA_STARTS) else text


@mentor_required
def scores_csv(request: HttpRequest) -> StreamingHttpResponse:
    _, table = _scores_table(request)
    RequestConfig(request, paginate=False).configure(table)
    writer = csv.writer(_Echo())

    def lines() -> Iterator[str]:
        # A byte order mark first: without it Excel reads the file as ANSI and garbles
        # every non-ASCII name.
        yield "\ufeff"
        # The rows are already read: the generator only formats, so it needs no database.
        for row in table.as_values():
            yield writer.writerow([_safe_cell(cell) for cell in row])

    stamp = timezone.localtime().strftime("%Y%m%d-%H%M")
    response = StreamingHttpResponse(lines(), content_type="text/csv; charset=utf-8")
    response["Content-Disposition"] = f'attachment; filename="scores-{stamp}.csv"'
    return response


def _visible_student(request: HttpRequest, user_id: int) -> Any:
    student = get_object_or_404(get_user_model(), pk=user_id)
    if not can_view_student(request.user, student):
        raise Http404("No such student among yours.")
    return student


def _student_page(request: HttpRequest, person: Any, form: OverrideForm) -> HttpResponse:
    attempts = list(
        Attempt.objects.filter(user=person).select_related("quiz").order_by("quiz__title", "number")
    )
    counting = set(
        Result.objects.filter(user=person, attempt__isnull=False).values_list(
            "attempt_id", flat=True
        )
    )
    # The grader's latest check of this student's Fun Chat client, if any.
    latest = CheckReport.objects.latest_for_students([person])
    self_checks = CheckReport.objects.for_students([person]).filter(self_check=True)[:10]
    context = {
        "person": person,
        "attempts": attempts,
        "counting": counting,
        "chat_report": latest.get(person.pk),
        "overrides": Override.objects.filter(user=person)
        .select_related("quiz", "granted_by")
        .order_by("-granted_at"),
        "override_form": form,
        "self_checks": self_checks,
    }
    return render(request, "mentors/student.html", context, status=400 if form.errors else 200)


@mentor_required
def student(request: HttpRequest, user_id: int) -> HttpResponse:
    person = _visible_student(request, user_id)
    return _student_page(request, person, OverrideForm(student=person))


@mentor_required
@require_POST
def grant_override(request: SignedInRequest, user_id: int) -> HttpResponse:
    """Grant one of the viewer's students an exception; staff may grant anyone one."""
    person = _visible_student(request, user_id)
    form = OverrideForm(request.POST, student=person)
    if not form.is_valid():
        return _student_page(request, person, form)
    grant = override_grant(override=form.save(commit=False), granted_by=request.user)
    messages.success(request, f"Granted {', '.join(grant.granted())} in {grant.quiz.title}.")
    return redirect("mentor:student", user_id=person.pk)


@mentor_required
def attempt(request: HttpRequest, attempt_id: int) -> HttpResponse:
    found = get_object_or_404(Attempt.objects.select_related("quiz", "user"), pk=attempt_id)
    if not can_view_student(request.user, found.user_id):
        raise Http404("No such attempt among your students'.")
    counted = Result.objects.filter(quiz=found.quiz, user=found.user).first()
    context = {
        "attempt": found,
        "quiz": found.quiz,
        "person": found.user,
        "questions": attempt_detail(found),
        "result": counted,
        "is_counting": counted is not None and counted.attempt_id == found.pk,
    }
    return render(request, "mentors/attempt.html", context)


@mentor_required
def quiz_analytics(request: HttpRequest, slug: str) -> HttpResponse:
    quiz = get_object_or_404(Quiz, slug=slug)
    items, attempts, meta = analytics_input(quiz=quiz, students=students_visible_to(request.user))
    report = analytics.analyse(items, attempts)
    rows = [
        (
            stats,
            meta[stats.item],
            [(o, meta[stats.item].option_html[o.option]) for o in stats.options],
        )
        for stats in analytics.worst_first(report.items)
    ]
    context = {
        "quiz": quiz,
        "report": report,
        "rows": rows,
        "flagged": [(s, m) for s, m, _ in rows if s.flags],
        "histogram_svg": svg.histogram(
            report.histogram,
            chart_id="score-histogram",
            title=f"Counting scores in {quiz.title}",
            threshold=quiz.threshold_percent,
        ),
        "objectives_svg": svg.bars(
            [
                svg.Row(
                    o.objective,
                    o.average,
                    "no responses" if o.average is None else f"{round(100 * o.average)}%",
                )
                for o in report.objectives
            ],
            chart_id="objective-averages",
            title=f"Share of correct answers per objective in {quiz.title}",
        ),
        "can_edit_questions": request.user.has_perm("quizzes.change_question"),
        "constants": {
            "group": round(100 * analytics.GROUP_FRACTION),
            "easy": round(100 * analytics.TOO_EASY_ABOVE),
            "hard": round(100 * analytics.TOO_HARD_BELOW),
            "suspect": round(100 * analytics.SUSPECT_KEY_SHARE),
            "min_responses": analytics.MIN_RESPONSES_FOR_FLAGS,
        },
    }
    return render(request, "mentors/analytics.html", context)


@mentor_required
def live(request: HttpRequest) -> HttpResponse:
    rows = live_attempts(students=students_visible_to(request.user))
    context = {
        "rows": rows,
        # The page names tests that start after it loaded; progress events carry only ids.
        "quiz_titles": {str(pk): title for pk, title in Quiz.objects.values_list("pk", "title")},
    }
    return render(request, "mentors/live.html", context)
