"""The question form: a question, its current version's fields and its options as one."""

from __future__ import annotations

from typing import Any

from django import forms
from django.core.exceptions import ValidationError

from courseware.models import Objective
from quizzes.loading import MAX_OPTIONS, MIN_OPTIONS
from quizzes.models import (
    Question,
    QuestionContent,
    QuestionVersion,
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
        super().clean()
        cleaned = self.cleaned_data  # what ModelForm.clean returns, typed as never None
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
