"""The admin is the editing UI for tests: settings, versioned questions, read-only attempts."""

from __future__ import annotations

import io
import zipfile
from typing import Any

from django import forms
from django.contrib import admin, messages
from django.contrib.admin.utils import unquote
from django.core.exceptions import PermissionDenied, ValidationError
from django.db.models import Count, Max, QuerySet
from django.http import Http404, HttpRequest, HttpResponse
from django.template.response import TemplateResponse
from django.urls import path, reverse
from django.utils.html import format_html, format_html_join

from courseware.markup import render_markdown
from courseware.models import Objective
from quizzes.attempts import PaperOption, PaperQuestion, render_inline
from quizzes.exporting import quiz_export
from quizzes.loading import MAX_OPTIONS, MIN_OPTIONS
from quizzes.models import (
    Attempt,
    AttemptQuestion,
    Question,
    QuestionContent,
    QuestionVersion,
    Quiz,
    Result,
    key_validator,
    link_validator,
)


def _lines(value: str) -> str:
    # Browsers send textarea line breaks as CRLF; the YAML files and the database use LF.
    return value.replace("\r\n", "\n")


class OptionForm(forms.Form):
    text = forms.CharField(required=False, strip=False, widget=forms.TextInput(attrs={"size": 70}))
    correct = forms.BooleanField(required=False)

    def clean_text(self) -> str:
        return _lines(self.cleaned_data["text"])


OptionFormSet = forms.formset_factory(
    OptionForm, extra=0, max_num=MAX_OPTIONS, absolute_max=MAX_OPTIONS
)


class QuestionForm(forms.ModelForm):
    """The question plus its current version's fields and options, edited as one."""

    key = forms.CharField(
        max_length=80,
        validators=[key_validator],
        help_text="Stable forever: the YAML file and past attempts refer to it.",
    )
    kind = forms.ChoiceField(choices=QuestionVersion.Kind.choices)
    objective = forms.ModelChoiceField(
        queryset=Objective.objects.select_related("module"),
        help_text="One of the test's module objectives.",
    )
    text = forms.CharField(
        strip=False,
        widget=forms.Textarea(attrs={"rows": 8, "cols": 90}),
        help_text="Markdown; fenced ```js code blocks allowed.",
    )
    explanation = forms.CharField(
        strip=False,
        widget=forms.Textarea(attrs={"rows": 4, "cols": 90}),
        help_text="Markdown: why the right options are right.",
    )
    source = forms.CharField(
        max_length=500,
        validators=[link_validator],
        widget=forms.TextInput(attrs={"size": 90}),
        help_text="One link: a module resource, RFC 6455 or MDN.",
    )

    class Meta:
        model = Question
        fields = ["quiz", "key", "position", "is_active"]

    def __init__(self, *args: Any, **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        rows: list[dict[str, Any]] = []
        version = self.instance.current if self.instance.pk else None
        if version is not None:
            self.initial.update(
                kind=version.kind,
                objective=version.objective_id,
                text=version.text,
                explanation=version.explanation,
                source=version.source,
            )
            rows = [{"text": o.text, "correct": o.correct} for o in version.options.all()]
        rows += [{"text": "", "correct": False}] * (MAX_OPTIONS - len(rows))
        self.options = OptionFormSet(
            self.data if self.is_bound else None, prefix="options", initial=rows
        )
        self.option_rows: tuple[tuple[str, bool], ...] = ()

    def clean_text(self) -> str:
        return _lines(self.cleaned_data["text"])

    def clean_explanation(self) -> str:
        return _lines(self.cleaned_data["explanation"])

    def clean(self) -> dict[str, Any]:
        cleaned = super().clean()
        for name in ("text", "explanation"):
            if name in cleaned and not cleaned[name].strip():
                self.add_error(name, "This field must not be blank.")
        quiz = cleaned.get("quiz") or (self.instance.quiz if self.instance.pk else None)
        objective = cleaned.get("objective")
        if quiz is not None and objective is not None and objective.module_id != quiz.module_id:
            self.add_error(
                "objective", f"Choose an objective of {quiz.module.slug}, the test's module."
            )
        if not self.options.is_valid():
            raise ValidationError("The options below are not valid.")
        options = []
        for number, row in enumerate(self.options.cleaned_data, start=1):
            text, correct = row.get("text", ""), row.get("correct", False)
            if not text.strip():
                if correct:
                    self.add_error(None, f"Option {number} is marked correct but has no text.")
                continue
            options.append((text, correct))
        texts = [t.strip() for t, _ in options]
        if len(set(texts)) != len(texts):
            self.add_error(None, "Two options have the same text.")
        if not MIN_OPTIONS <= len(options) <= MAX_OPTIONS:
            self.add_error(
                None, f"Give {MIN_OPTIONS} to {MAX_OPTIONS} options, not {len(options)}."
            )
        correct_count = sum(c for _, c in options)
        kind = cleaned.get("kind")
        if kind == QuestionVersion.Kind.SINGLE and correct_count != 1:
            self.add_error(
                None,
                f"A single-choice question needs exactly one correct option, not {correct_count}.",
            )
        if kind == QuestionVersion.Kind.MULTIPLE and correct_count < 1:
            self.add_error(None, "A multiple-choice question needs at least one correct option.")
        self.option_rows = tuple(options)
        return cleaned

    def content(self) -> QuestionContent:
        data = self.cleaned_data
        return QuestionContent(
            kind=data["kind"],
            objective_id=data["objective"].id,
            text=data["text"],
            explanation=data["explanation"],
            source=data["source"],
            options=self.option_rows,
        )


def _free_key(question: Question) -> str:
    taken = set(question.quiz.questions.values_list("key", flat=True))
    base = f"{question.key[:70]}-copy"
    key, n = base, 2
    while key in taken:
        key, n = f"{base}-{n}", n + 1
    return key


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
    search_fields = ["key", "current__text"]
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
        obj.save()
        outcome = obj.set_content(form.content(), origin=QuestionVersion.Origin.ADMIN)
        assert obj.current is not None
        if outcome == "unchanged" and {"is_active", "position"} & set(form.changed_data):
            # Moved or (de)activated here: load_quiz must keep that too, as for a new wording.
            obj.current.origin = QuestionVersion.Origin.ADMIN
            obj.current.save(update_fields=["origin"])
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
            html=render_markdown(version.text),
            options=[PaperOption(o.id, render_inline(o.text)) for o in version.options.all()],
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
            copies.append(copy.key)
        self.message_user(
            request,
            f"Made {len(copies)} inactive cop{'y' if len(copies) == 1 else 'ies'}: "
            f"{', '.join(copies)}. Edit them, then tick 'is active' so they are drawn.",
            messages.SUCCESS,
        )


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

    def get_form(self, request: HttpRequest, obj: Quiz | None = None, **kwargs: Any) -> Any:
        form = super().get_form(request, obj, **kwargs)
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
    fields = ["number", "question", "options_shown", "is_correct"]
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
