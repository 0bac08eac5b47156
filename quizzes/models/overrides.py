"""Per-student exceptions to a test's rules, each grant kept as an audit record."""

from __future__ import annotations

from django.conf import settings
from django.contrib.auth.models import User
from django.core.exceptions import ValidationError
from django.core.validators import MinValueValidator
from django.db import models
from django.db.models import Q
from django.utils import timezone

from quizzes import grading
from quizzes.models.bank import Quiz


class OverrideQuerySet(models.QuerySet["Override"]):
    def for_student(self, quiz: Quiz, user: User) -> OverrideQuerySet:
        return self.filter(quiz=quiz, user=user)


class Override(models.Model):
    """One grant for one student and one test: who gave it, when and why.

    Grants are only added, never edited in place, so the list is the audit trail; a
    student's effective exception combines all of theirs (grading.overrides_combined).
    """

    quiz = models.ForeignKey(Quiz, on_delete=models.CASCADE, related_name="overrides")
    user = models.ForeignKey(
        settings.AUTH_USER_MODEL, on_delete=models.CASCADE, related_name="quiz_overrides"
    )
    extra_attempts = models.PositiveSmallIntegerField(
        default=0, help_text="Attempts on top of the test's cap, at full score."
    )
    waive_cooldown = models.BooleanField(
        default=False, help_text="The student may start again without waiting."
    )
    time_limit_minutes = models.PositiveSmallIntegerField(
        null=True,
        blank=True,
        validators=[MinValueValidator(1)],
        help_text="A longer time limit per attempt; empty keeps the test's.",
    )
    closes_at = models.DateTimeField(
        null=True, blank=True, help_text="A later close for this student; empty keeps the test's."
    )
    reason = models.TextField(help_text="Why: shown to mentors and staff, not to the student.")
    granted_by = models.ForeignKey(
        settings.AUTH_USER_MODEL,
        on_delete=models.SET_NULL,
        null=True,
        blank=True,
        related_name="+",
    )
    granted_at = models.DateTimeField()

    objects = OverrideQuerySet.as_manager()

    class Meta:
        ordering = ["quiz", "user", "granted_at"]
        constraints = [
            models.CheckConstraint(
                condition=Q(extra_attempts__gt=0)
                | Q(waive_cooldown=True)
                | Q(time_limit_minutes__isnull=False)
                | Q(closes_at__isnull=False),
                name="override_grants_something",
                violation_error_message="Grant at least one exception.",
            ),
            models.CheckConstraint(
                condition=Q(time_limit_minutes__isnull=True) | Q(time_limit_minutes__gte=1),
                name="override_time_limit_positive",
                violation_error_message="A time limit is at least one minute.",
            ),
            models.CheckConstraint(
                condition=~Q(reason=""),
                name="override_has_reason",
                violation_error_message="Say why the exception is granted.",
            ),
        ]

    def __str__(self) -> str:
        return f"{self.user} · {self.quiz}: {', '.join(self.granted())}"

    def clean(self) -> None:
        """Refuse a grant that would change nothing, or tighten the test's own rules."""
        if not self.quiz_id:
            return
        quiz = self.quiz
        errors: dict[str, str] = {}
        if self.time_limit_minutes:
            if not quiz.time_limit_minutes:
                errors["time_limit_minutes"] = "This test has no time limit to lengthen."
            elif self.time_limit_minutes <= quiz.time_limit_minutes:
                errors["time_limit_minutes"] = (
                    f"Give more than the test's {quiz.time_limit_minutes} minutes."
                )
        if self.closes_at:
            if not quiz.closes_at:
                errors["closes_at"] = "This test never closes, so there is no close to move."
            elif self.closes_at <= quiz.closes_at:
                local = timezone.localtime(quiz.closes_at)
                errors["closes_at"] = (
                    f"Give a moment after the test's close, {local:%Y-%m-%d %H:%M}."
                )
        if errors:
            raise ValidationError(errors)
        if not (
            self.extra_attempts or self.waive_cooldown or self.time_limit_minutes or self.closes_at
        ):
            raise ValidationError("Grant at least one exception.")

    def as_rule(self) -> grading.Override:
        return grading.Override(
            extra_attempts=self.extra_attempts,
            waive_cooldown=self.waive_cooldown,
            time_limit_minutes=self.time_limit_minutes,
            closes_at=self.closes_at,
        )

    def granted(self) -> list[str]:
        """What this grant gives, as short phrases: "1 extra attempt", "no cooldown"."""
        phrases = []
        if self.extra_attempts:
            n = self.extra_attempts
            phrases.append(f"{n} extra attempt{'s' if n != 1 else ''}")
        if self.waive_cooldown:
            phrases.append("no waiting between attempts")
        if self.time_limit_minutes:
            phrases.append(f"a time limit of {self.time_limit_minutes} minutes")
        if self.closes_at:
            local = timezone.localtime(self.closes_at)
            phrases.append(f"until {local:%Y-%m-%d %H:%M} {local.tzname() or ''}".rstrip())
        return phrases
