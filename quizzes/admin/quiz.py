"""The test admin: settings, the list of its questions, export to YAML."""

from __future__ import annotations

import io
import zipfile
from typing import Any

from django.contrib import admin, messages
from django.core.exceptions import ValidationError
from django.db.models import QuerySet
from django.forms import ModelForm
from django.http import HttpRequest, HttpResponse

from quizzes.exporting import quiz_export
from quizzes.grading import review_never_opens
from quizzes.models import Question, Quiz


class QuestionInline(admin.TabularInline):
    model = Question
    fields = ["key", "kind", "objective", "version", "position", "is_active"]
    readonly_fields = ["key", "kind", "objective", "version"]
    extra = 0
    can_delete = False
    show_change_link = True
    ordering = ["position", "key"]

    def has_add_permission(self, request: HttpRequest, obj: Any = None) -> bool:
        return False

    def get_queryset(self, request: HttpRequest) -> QuerySet[Question]:
        return super().get_queryset(request).select_related("current", "current__objective")

    @admin.display(description="kind")
    def kind(self, obj: Question) -> str:
        return obj.current.get_kind_display() if obj.current else "-"

    @admin.display(description="objective")
    def objective(self, obj: Question) -> str:
        return obj.current.objective.key if obj.current else "-"

    @admin.display(description="version")
    def version(self, obj: Question) -> str:
        return f"v{obj.current.number}" if obj.current else "-"


@admin.register(Quiz)
class QuizAdmin(admin.ModelAdmin):
    list_display = [
        "title",
        "slug",
        "module",
        "max_attempts",
        "questions_per_attempt",
        "threshold_percent",
        "counting_attempt",
        "opens_at",
        "closes_at",
    ]
    list_filter = ["module", "counting_attempt", "strict_attempts"]
    search_fields = ["title", "slug"]
    list_select_related = ["module"]
    readonly_fields = ["created_at", "updated_at"]
    actions = ["export_yaml"]
    inlines = [QuestionInline]
    fieldsets = [
        (None, {"fields": ["slug", "title", "module", "description"]}),
        (
            "Attempts and scoring",
            {
                "fields": [
                    "max_attempts",
                    "strict_attempts",
                    "questions_per_attempt",
                    "threshold_percent",
                    "max_score",
                    "cooldown_hours",
                    "counting_attempt",
                ],
                "description": (
                    "Each question is all or nothing. Accuracy = correct / questions per "
                    "attempt, rounded; below the threshold the score is 0, otherwise "
                    "that percentage of the max score, rounded down. Past the cap (not strict) "
                    "it is halved."
                ),
            },
        ),
        ("Window and time limit", {"fields": ["opens_at", "closes_at", "time_limit_minutes"]}),
        (
            "Review of answers",
            {
                "fields": [
                    "review_when",
                    "review_questions",
                    "review_show_key",
                    "review_show_explanations",
                ]
            },
        ),
        ("Record", {"fields": ["created_at", "updated_at"]}),
    ]

    def get_readonly_fields(self, request: HttpRequest, obj: Quiz | None = None) -> list[str]:
        # The slug names the YAML file and the module owns the objectives questions use.
        fixed = ["slug", "module"] if obj is not None else []
        return [*fixed, *self.readonly_fields]

    def save_model(self, request: HttpRequest, obj: Quiz, form: Any, change: bool) -> None:
        super().save_model(request, obj, form, change)
        # Saved anyway: a closing time may come later, but the author must know now.
        problem = review_never_opens(obj.rules())
        if problem:
            self.message_user(request, problem, messages.WARNING)

    def get_form(
        self, request: HttpRequest, obj: Quiz | None = None, change: bool = False, **kwargs: Any
    ) -> type[ModelForm[Any]]:
        form = super().get_form(request, obj, change, **kwargs)
        pool = obj.active_questions().count() if obj is not None else None

        class QuizForm(form):  # type: ignore[valid-type, misc]
            def clean_questions_per_attempt(self) -> int:
                wanted = self.cleaned_data["questions_per_attempt"]
                if pool is not None and wanted > pool:
                    raise ValidationError(
                        f"The test has only {pool} active questions to draw from."
                    )
                return wanted

        return QuizForm

    @admin.action(description="Export selected tests to YAML")
    def export_yaml(self, request: HttpRequest, queryset: QuerySet[Quiz]) -> HttpResponse:
        """One test: its .yaml file. Several: a zip with one <slug>.yaml each."""
        quizzes = list(queryset.select_related("module").order_by("slug"))
        if len(quizzes) == 1:
            response = HttpResponse(
                quiz_export(quizzes[0]), content_type="application/yaml; charset=utf-8"
            )
            filename = f"{quizzes[0].slug}.yaml"
        else:
            buffer = io.BytesIO()
            with zipfile.ZipFile(buffer, "w", zipfile.ZIP_DEFLATED) as archive:
                for quiz in quizzes:
                    archive.writestr(f"{quiz.slug}.yaml", quiz_export(quiz))
            response = HttpResponse(buffer.getvalue(), content_type="application/zip")
            filename = "tests.zip"
        response["Content-Disposition"] = f'attachment; filename="{filename}"'
        return response
