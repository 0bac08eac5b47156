"""The question admin: edit a question's current version, preview it, see its history."""

from __future__ import annotations

from typing import Any

from django.contrib import admin, messages
from django.contrib.admin.models import LogEntry
from django.contrib.admin.utils import unquote
from django.core.exceptions import PermissionDenied
from django.db.models import Count, Max, QuerySet
from django.http import Http404, HttpRequest, HttpResponse
from django.template.response import TemplateResponse
from django.urls import path, reverse
from django.utils.html import format_html, format_html_join

from quizzes.admin.forms import QuestionForm
from quizzes.models import Question, QuestionContent, QuestionVersion
from quizzes.paper import PaperOption, PaperQuestion


def _free_key(question: Question) -> str:
    taken = set(question.quiz.questions.values_list("key", flat=True))
    base = f"{question.key[:70]}-copy"
    key, n = base, 2
    while key in taken:
        key, n = f"{base}-{n}", n + 1
    return key


CONTENT_PARTS = {
    "kind": "kind",
    "objective_id": "objective",
    "text": "text",
    "explanation": "explanation",
    "source": "source",
    "options": "options",
}


def _version_note(
    outcome: str, number: int, before: QuestionContent | None, after: QuestionContent
) -> str:
    """The History line for a save: which version it made or edited, and what changed."""
    parts = [
        label
        for name, label in CONTENT_PARTS.items()
        if before is None or getattr(before, name) != getattr(after, name)
    ]
    what = f": changed {', '.join(parts)}" if parts and before is not None else ""
    if outcome == "created":
        return f"Created version {number}."
    if outcome == "new version":
        return f"Made version {number} (attempts had drawn version {number - 1}){what}."
    if outcome == "edited":
        return f"Edited version {number} in place (no attempt had drawn it){what}."
    return ""


@admin.register(Question)
class QuestionAdmin(admin.ModelAdmin):
    form = QuestionForm
    change_form_template = "admin/quizzes/question/change_form.html"
    list_display = [
        "key",
        "quiz",
        "kind",
        "objective",
        "version",
        "is_active",
        "position",
        "preview_link",
    ]
    list_filter = [
        "quiz",
        "is_active",
        ("current__kind", admin.ChoicesFieldListFilter),
        ("current__objective", admin.RelatedFieldListFilter),
    ]
    # The stem and the options of the current version, as well as the key.
    search_fields = ["key", "current__text", "current__options__text"]
    list_select_related = ["quiz", "current", "current__objective"]
    list_per_page = 100
    actions = ["duplicate"]
    fieldsets = [
        (None, {"fields": ["quiz", "key", "position", "is_active"]}),
        (
            "Current version",
            {
                "fields": ["kind", "objective", "text", "explanation", "source"],
                "description": (
                    "Saving a change to a version that attempts have already drawn makes a "
                    "new version; those attempts keep showing and grading the old one."
                ),
            },
        ),
        ("History", {"fields": ["version_history", "preview_link"]}),
    ]
    readonly_fields = ["version_history", "preview_link"]

    def get_readonly_fields(self, request: HttpRequest, obj: Question | None = None) -> list[str]:
        # The key and the test are a question's identity, shared with the YAML file.
        fixed = ["quiz", "key"] if obj is not None else []
        return [*fixed, *self.readonly_fields]

    @admin.display(description="kind", ordering="current__kind")
    def kind(self, obj: Question) -> str:
        return obj.current.get_kind_display() if obj.current else "-"

    @admin.display(description="objective", ordering="current__objective__position")
    def objective(self, obj: Question) -> str:
        return obj.current.objective.key if obj.current else "-"

    @admin.display(description="version", ordering="current__number")
    def version(self, obj: Question) -> str:
        return f"v{obj.current.number}" if obj.current else "-"

    @admin.display(description="preview")
    def preview_link(self, obj: Question) -> str:
        if not obj.pk:
            return "-"
        url = reverse("admin:quizzes_question_preview", args=[obj.pk])
        return format_html('<a href="{}">Preview as a student</a>', url)

    @admin.display(description="versions")
    def version_history(self, obj: Question) -> str:
        if not obj.pk:
            return "-"
        url = reverse("admin:quizzes_question_preview", args=[obj.pk])
        rows = [
            (
                url,
                v.number,
                v.number,
                v.created_at.strftime("%Y-%m-%d %H:%M"),
                v.drawn,
                " (current)" if v.id == obj.current_id else "",
            )
            for v in obj.versions.annotate(drawn=Count("attempt_questions")).order_by("-number")
        ]
        return format_html_join(
            "",
            '<div><a href="{}?version={}">v{}</a>, {}, drawn by {} attempt(s){}</div>',
            rows,
        )

    def save_model(
        self, request: HttpRequest, obj: Question, form: QuestionForm, change: bool
    ) -> None:
        before = obj.current.content() if change and obj.current else None
        obj.save()
        outcome = obj.set_content(form.content(), origin=QuestionVersion.Origin.ADMIN)
        assert obj.current is not None
        if outcome == "unchanged" and {"is_active", "position"} & set(form.changed_data):
            # Moved or (de)activated here: load_quiz must keep that too, as for a new wording.
            obj.current.origin = QuestionVersion.Origin.ADMIN
            obj.current.save(update_fields=["origin"])
        # Kept for the log entry: the History tab should say what happened to the
        # versions, which the form's own changed_data (model fields only) cannot.
        note = _version_note(outcome, obj.current.number, before, form.content())
        moved = [f for f in form.changed_data if f in ("position", "is_active") and change]
        if moved:
            settings = "Changed " + " and ".join(moved).replace("_", " ") + "."
            note = f"{note} {settings}".strip()
        obj.history_note = note
        if outcome == "new version":
            self.message_user(
                request,
                f"Attempts had drawn version {obj.current.number - 1}, so your changes are "
                f"version {obj.current.number}; those attempts keep the old one.",
                messages.INFO,
            )
        elif outcome == "edited":
            self.message_user(
                request,
                f"No attempt had drawn version {obj.current.number}, so it was edited in place.",
                messages.INFO,
            )

    # The note replaces Django's list of changed fields; without one, Django's stands.
    def log_addition(self, request: HttpRequest, obj: Question, message: Any) -> LogEntry:
        return super().log_addition(request, obj, obj.history_note or message)

    def log_change(self, request: HttpRequest, obj: Question, message: Any) -> LogEntry:
        return super().log_change(request, obj, obj.history_note or message)

    def get_urls(self) -> list:
        preview = path(
            "<path:object_id>/preview/",
            self.admin_site.admin_view(self.preview_view),
            name="quizzes_question_preview",
        )
        return [preview, *super().get_urls()]

    def preview_view(self, request: HttpRequest, object_id: str) -> HttpResponse:
        """The question as a student sees it: rendered Markdown, no correct flags."""
        question = self.get_object(request, unquote(object_id))
        if question is None:
            raise Http404("No such question.")
        if not self.has_view_or_change_permission(request, question):
            raise PermissionDenied
        version = question.current
        number = request.GET.get("version")
        if number:
            version = question.versions.filter(number=number if number.isdigit() else 0).first()
            if version is None:
                raise Http404("No such version.")
        if version is None:
            raise Http404("This question has no content yet.")
        paper = PaperQuestion(
            position=0,
            kind=version.kind,
            # The HTML stored with the version, as the attempt page shows it.
            html=version.text_shown,
            options=[PaperOption(str(o.position), o.shown) for o in version.options.all()],
            chosen=frozenset(),
        )
        context = {
            **self.admin_site.each_context(request),
            "title": f"Preview of {question.key} v{version.number}",
            "opts": self.model._meta,
            "original": question,
            "version": version,
            "question": paper,
        }
        return TemplateResponse(request, "admin/quizzes/question/preview.html", context)

    @admin.action(description="Duplicate selected questions (as inactive copies)")
    def duplicate(self, request: HttpRequest, queryset: QuerySet[Question]) -> None:
        copies = []
        for question in queryset.select_related("quiz", "current"):
            if question.current is None:
                continue
            last = question.quiz.questions.aggregate(last=Max("position"))["last"] or 0
            copy = Question.objects.create(
                quiz=question.quiz, key=_free_key(question), position=last + 1, is_active=False
            )
            copy.set_content(question.current.content(), origin=QuestionVersion.Origin.ADMIN)
            self.log_addition(request, copy, f"Duplicated from {question.key}.")
            copies.append(copy.key)
        self.message_user(
            request,
            f"Made {len(copies)} inactive cop{'y' if len(copies) == 1 else 'ies'}: "
            f"{', '.join(copies)}. Edit them, then tick 'is active' so they are drawn.",
            messages.SUCCESS,
        )
