"""The mentors' forms that write: granting a student an exception to a test's rules."""

from __future__ import annotations

from typing import Any

from django import forms

from quizzes.models import Override, Quiz


class OverrideForm(forms.ModelForm):
    """One grant for the student whose page it is on; Override.clean() checks it fits the test."""

    class Meta:
        model = Override
        fields = [
            "quiz",
            "extra_attempts",
            "waive_cooldown",
            "time_limit_minutes",
            "closes_at",
            "reason",
        ]
        labels = {
            "quiz": "Test",
            "extra_attempts": "Extra attempts",
            "waive_cooldown": "Waive the cooldown",
            "time_limit_minutes": "Time limit (minutes)",
            "closes_at": "Closes for this student at",
        }
        widgets = {
            "closes_at": forms.DateTimeInput(attrs={"type": "datetime-local"}),
            "reason": forms.Textarea(attrs={"rows": 2}),
        }

    def __init__(self, *args: Any, student: Any, **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        self.instance.user = student
        quiz = self.fields["quiz"]
        assert isinstance(quiz, forms.ModelChoiceField)  # the model form's field for a ForeignKey
        quiz.queryset = Quiz.objects.order_by("title")
        quiz.empty_label = None
        self.fields["extra_attempts"].widget.attrs["max"] = 10
        self.fields["extra_attempts"].validators.append(_at_most_ten)


def _at_most_ten(value: int) -> None:
    # A typo of 100 attempts would quietly lift the cap for good; ten is plenty for a mishap.
    if value > 10:
        raise forms.ValidationError("Grant at most 10 extra attempts at a time.")
