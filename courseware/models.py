from __future__ import annotations

from django.conf import settings
from django.core.exceptions import ValidationError
from django.db import models
from django.urls import reverse

from courseware.roles import is_mentor


class Module(models.Model):
    """A course module page, loaded from fixtures/modules/<slug>.yaml."""

    slug = models.SlugField(unique=True)
    title = models.CharField(max_length=200)
    summary = models.CharField(max_length=300, help_text="One line for the module list.")
    overview = models.TextField(help_text="Markdown.")
    hours = models.PositiveSmallIntegerField(help_text="Approximate completion time.")
    position = models.PositiveSmallIntegerField(default=0)

    class Meta:
        ordering = ["position", "title"]

    def __str__(self) -> str:
        return self.title

    def get_absolute_url(self) -> str:
        return reverse("module", args=[self.slug])


class Objective(models.Model):
    """A learning objective; quiz questions are tagged with its key."""

    module = models.ForeignKey(Module, on_delete=models.CASCADE, related_name="objectives")
    key = models.SlugField()
    text = models.CharField(max_length=300)
    position = models.PositiveSmallIntegerField()

    class Meta:
        ordering = ["module", "position"]
        constraints = [
            models.UniqueConstraint(fields=["module", "key"], name="objective_key_unique")
        ]

    def __str__(self) -> str:
        return f"{self.module.slug}/{self.key}"


class Resource(models.Model):
    """A link on a module page: theory (in named groups), practice, or additional."""

    class Section(models.TextChoices):
        THEORY = "theory", "Theory"
        PRACTICE = "practice", "Practice"
        ADDITIONAL = "additional", "Additional resources"

    module = models.ForeignKey(Module, on_delete=models.CASCADE, related_name="resources")
    section = models.CharField(max_length=12, choices=Section.choices)
    group = models.CharField(max_length=200, blank=True)
    title = models.CharField(max_length=200)
    url = models.CharField(max_length=500, help_text="Absolute URL or a path on this site.")
    note = models.CharField(max_length=300, blank=True)
    # The objectives a resource teaches, so a result page can point at what to reread.
    objectives = models.ManyToManyField(Objective, blank=True, related_name="resources")
    position = models.PositiveSmallIntegerField()

    class Meta:
        ordering = ["module", "section", "position"]

    def __str__(self) -> str:
        return self.title

    @property
    def is_external(self) -> bool:
        return self.url.startswith(("http://", "https://"))


class Mentorship(models.Model):
    """A mentor assigned to a student; a mentor sees the scores and attempts of theirs only."""

    mentor = models.ForeignKey(
        settings.AUTH_USER_MODEL, on_delete=models.CASCADE, related_name="mentorships"
    )
    student = models.ForeignKey(
        settings.AUTH_USER_MODEL, on_delete=models.CASCADE, related_name="mentored_by"
    )
    created_at = models.DateTimeField(auto_now_add=True)

    class Meta:
        ordering = ["mentor", "student"]
        constraints = [
            models.UniqueConstraint(
                fields=["mentor", "student"],
                name="mentorship_unique",
                violation_error_message="This student is already assigned to this mentor.",
            ),
            models.CheckConstraint(
                condition=~models.Q(mentor=models.F("student")),
                name="mentorship_not_self",
                violation_error_message="A mentor cannot mentor themselves.",
            ),
        ]

    def __str__(self) -> str:
        return f"{self.mentor} mentors {self.student}"

    def clean(self) -> None:
        if self.mentor_id and not is_mentor(self.mentor):
            raise ValidationError(
                {"mentor": "Add this account to the Mentors group (or make it staff) first."}
            )
