"""The mentors' scores table (django-tables2) and its filter form; the CSV uses the same columns."""

from __future__ import annotations

from datetime import datetime
from typing import Any, cast

import django_tables2 as tables
from django import forms
from django.contrib.auth import get_user_model
from django.db.models import Q, QuerySet
from django.urls import reverse
from django.utils import timezone
from django.utils.html import format_html

from courseware.roles import MENTORS
from mentors.data import STATUS_CHOICES, ScoreRow
from quizzes.models import Quiz


class ScoreFilterForm(forms.Form):
    """GET filters: a test, a status, a name search, and (for staff) one mentor's students."""

    quiz = forms.ModelChoiceField(
        label="Test",
        queryset=Quiz.objects.order_by("title"),
        required=False,
        empty_label="All tests",
    )
    status = forms.ChoiceField(choices=[("", "Any status"), *STATUS_CHOICES], required=False)
    q = forms.CharField(label="Student", required=False, max_length=150)
    mentor = forms.ModelChoiceField(
        queryset=get_user_model().objects.none(), required=False, empty_label="Any mentor"
    )

    def __init__(self, *args: Any, viewer: Any, **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        self.fields["q"].widget.attrs["placeholder"] = "login or name"
        if viewer.is_staff:
            mentor_field = cast("forms.ModelChoiceField[Any]", self.fields["mentor"])
            mentor_field.queryset = (
                get_user_model()
                .objects.filter(Q(groups__name=MENTORS) | Q(mentorships__isnull=False))
                .distinct()
                .order_by("username")
            )
        else:
            del self.fields["mentor"]

    def filter_students(self, students: QuerySet) -> QuerySet:
        data = self.cleaned_data if self.is_valid() else {}
        if data.get("q"):
            term = data["q"].strip()
            students = students.filter(
                Q(username__icontains=term)
                | Q(first_name__icontains=term)
                | Q(last_name__icontains=term)
                | Q(email__icontains=term)
            )
        if data.get("mentor"):
            students = students.filter(mentored_by__mentor=data["mentor"])
        return students

    def quizzes(self) -> QuerySet[Quiz]:
        data = self.cleaned_data if self.is_valid() else {}
        quizzes = Quiz.objects.all()
        return quizzes.filter(pk=data["quiz"].pk) if data.get("quiz") else quizzes

    def chosen_status(self) -> str:
        return (self.cleaned_data.get("status") or "") if self.is_valid() else ""


def _score(value: int | None) -> str:
    return "" if value is None else str(value)


class ScoresTable(tables.Table):
    """One row per student and test; each column's value_* method is also its CSV cell."""

    student = tables.Column(verbose_name="Student", order_by=("student", "quiz"))
    # Only in the CSV: the table shows the name under the login.
    name = tables.Column(verbose_name="Name", visible=False)
    quiz = tables.Column(verbose_name="Test", order_by=("quiz", "student"))
    counted = tables.Column(verbose_name="Counting score", order_by=("counted_key", "student"))
    best = tables.Column(verbose_name="Best", order_by=("best_key", "student"))
    last = tables.Column(verbose_name="Last", order_by=("last_key", "student"))
    max_score = tables.Column(verbose_name="Out of", orderable=False)
    used = tables.Column(verbose_name="Attempts", order_by=("used", "student"))
    passed = tables.Column(verbose_name="Passed", order_by=("passed_key", "student"))
    last_activity = tables.Column(
        verbose_name="Last activity", order_by=("activity_key", "student")
    )
    # Only in the CSV: the exact moment for scripts, beside the local time a person reads.
    last_activity_iso = tables.Column(
        accessor="last_activity", verbose_name="Last activity (ISO 8601)", visible=False
    )

    class Meta:
        template_name = "mentors/_table.html"
        attrs = {"class": "scores"}
        empty_text = "No students to show: none assigned to you, or none match the filters."
        order_by_field = "sort"
        default = "—"

    def render_student(self, value: str, record: ScoreRow) -> str:
        url = reverse("mentor:student", args=[record.student_id])
        if record.name:
            return format_html(
                '<a href="{}">{}</a><br><span class="meta">{}</span>', url, value, record.name
            )
        return format_html('<a href="{}">{}</a>', url, value)

    def value_student(self, value: str) -> str:
        return value

    def render_quiz(self, value: str, record: ScoreRow) -> str:
        url = reverse("mentor:analytics", args=[record.quiz_slug])
        return format_html('{} <a class="meta" href="{}">analytics</a>', value, url)

    def value_quiz(self, value: str) -> str:
        return value

    def render_counted(self, value: int, record: ScoreRow) -> str:
        if record.counting_attempt_id is None:
            return str(value)
        url = reverse("mentor:attempt", args=[record.counting_attempt_id])
        label = f"Counting attempt of {record.student} in {record.quiz}"
        return format_html('<a href="{}" aria-label="{}">{}</a>', url, label, value)

    def value_counted(self, record: ScoreRow) -> str:
        return _score(record.counted)

    def value_best(self, record: ScoreRow) -> str:
        return _score(record.best)

    def value_last(self, record: ScoreRow) -> str:
        return _score(record.last)

    def render_used(self, value: int, record: ScoreRow) -> str:
        return self.value_used(record)

    def value_used(self, record: ScoreRow) -> str:
        text = f"{record.used} of {record.allowed}"
        return f"{text}, one in progress" if record.in_progress else text

    def render_passed(self, value: bool, record: ScoreRow) -> str:
        text = self.value_passed(record)
        css = {"yes": "ok", "no": "bad"}.get(text, "meta")
        return format_html('<span class="{}">{}</span>', css, text)

    def value_passed(self, record: ScoreRow) -> str:
        return {None: "", True: "yes", False: "no"}[record.passed]

    def render_last_activity(self, value: datetime, record: ScoreRow) -> str:
        local = timezone.localtime(value)
        return format_html(
            '<time datetime="{}">{}</time>', value.isoformat(), f"{local:%Y-%m-%d %H:%M}"
        )

    def value_last_activity(self, record: ScoreRow) -> str:
        # Site time without a zone suffix, so a spreadsheet reads it as a date and time.
        if not record.last_activity:
            return ""
        return f"{timezone.localtime(record.last_activity):%Y-%m-%d %H:%M}"

    def value_last_activity_iso(self, record: ScoreRow) -> str:
        return record.last_activity.isoformat() if record.last_activity else ""
