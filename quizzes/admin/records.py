"""Attempts and results in the admin: records of what students did, read-only."""

from __future__ import annotations

from typing import Any

from django.contrib import admin
from django.db.models import QuerySet
from django.http import HttpRequest
from django.urls import reverse
from django.utils.html import format_html, format_html_join

from quizzes.models import Attempt, AttemptQuestion, Result


class ReadOnlyAdmin(admin.ModelAdmin):
    """Attempts and results are records of what students did: view them, never edit."""

    def has_add_permission(self, request: HttpRequest, obj: Any = None) -> bool:
        return False

    def has_change_permission(self, request: HttpRequest, obj: Any = None) -> bool:
        return False

    def has_delete_permission(self, request: HttpRequest, obj: Any = None) -> bool:
        return False


class AttemptQuestionInline(admin.TabularInline):
    model = AttemptQuestion
    fields = ("number", "question", "options_shown", "is_correct")
    readonly_fields = fields
    extra = 0
    can_delete = False

    def has_add_permission(self, request: HttpRequest, obj: Any = None) -> bool:
        return False

    def has_change_permission(self, request: HttpRequest, obj: Any = None) -> bool:
        return False

    def get_queryset(self, request: HttpRequest) -> QuerySet[AttemptQuestion]:
        return (
            super()
            .get_queryset(request)
            .select_related("version", "version__question", "answer")
            .prefetch_related("version__options")
        )

    @admin.display(description="#")
    def number(self, obj: AttemptQuestion) -> int:
        return obj.position + 1

    @admin.display(description="question (version)")
    def question(self, obj: AttemptQuestion) -> str:
        url = reverse("admin:quizzes_question_preview", args=[obj.version.question_id])
        return format_html(
            '<a href="{}?version={}">{} v{}</a>',
            url,
            obj.version.number,
            obj.version.question.key,
            obj.version.number,
        )

    @admin.display(description="options as shown: [x] chosen, ✓ correct")
    def options_shown(self, obj: AttemptQuestion) -> str:
        answer = getattr(obj, "answer", None)
        chosen = set(answer.chosen) if answer else set()
        return format_html_join(
            "",
            "<div>{} {} {}</div>",
            (
                ("[x]" if o.id in chosen else "[ ]", "✓" if o.correct else "·", o.text)
                for o in obj.ordered_options()
            ),
        )


@admin.register(Attempt)
class AttemptAdmin(ReadOnlyAdmin):
    list_display = [
        "user",
        "quiz",
        "number",
        "status",
        "score_display",
        "accuracy",
        "halved",
        "started_at",
        "submitted_at",
    ]
    list_filter = ["quiz", "status", "halved"]
    search_fields = ["user__username", "quiz__slug"]
    list_select_related = ["user", "quiz"]
    date_hierarchy = "started_at"
    inlines = [AttemptQuestionInline]
    fields = [
        "quiz",
        "user",
        "number",
        "status",
        "started_at",
        "deadline",
        "submitted_at",
        "question_count",
        "correct_count",
        "accuracy",
        "score",
        "max_score",
        "halved",
        "receipt",
    ]

    @admin.display(description="score", ordering="score")
    def score_display(self, obj: Attempt) -> str:
        return "-" if obj.score is None else f"{obj.score} / {obj.max_score}"


@admin.register(Result)
class ResultAdmin(ReadOnlyAdmin):
    list_display = ["user", "quiz", "score", "attempt", "updated_at"]
    list_filter = ["quiz"]
    search_fields = ["user__username"]
    list_select_related = ["user", "quiz", "attempt"]
    fields = ["quiz", "user", "score", "attempt", "receipt", "updated_at"]
