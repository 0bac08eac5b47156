"""Attempts: what a student drew, what they answered, and their counted result."""

from __future__ import annotations

from datetime import datetime

from django.conf import settings
from django.contrib.auth.models import User
from django.db import models
from django.db.models import Count, OuterRef, Q, Subquery

from courseware.rowreads import read_rows
from quizzes.models.bank import Option, QuestionVersion, Quiz


class Result(models.Model):
    """A student's counted score for a test; its row also serialises their attempts."""

    quiz = models.ForeignKey(Quiz, on_delete=models.CASCADE, related_name="results")
    user = models.ForeignKey(settings.AUTH_USER_MODEL, on_delete=models.CASCADE, related_name="+")
    score = models.PositiveIntegerField(null=True, blank=True)
    attempt = models.ForeignKey(
        "Attempt", on_delete=models.SET_NULL, null=True, blank=True, related_name="+"
    )
    receipt = models.TextField(blank=True)
    updated_at = models.DateTimeField(auto_now=True)

    class Meta:
        constraints = [
            models.UniqueConstraint(fields=["quiz", "user"], name="result_unique"),
        ]

    def __str__(self) -> str:
        return f"{self.user} · {self.quiz}: {self.score}"

    @classmethod
    def lock(cls, *, quiz: Quiz, user: User) -> Result:
        """Get (or create) and row-lock the student's Result: one writer per student and test.

        A Start made it (quizzes.attemptrows.lock_result), so this is usually one
        written-out read (courseware.rowreads); a missing one is made here.
        """
        found = read_rows(
            cls, where="t0.quiz_id = %s AND t0.user_id = %s", params=[quiz.pk, user.pk], lock=True
        )
        if found:
            return found[0]
        result, _ = cls.objects.select_for_update().get_or_create(quiz=quiz, user=user)
        return result


class AttemptQuerySet(models.QuerySet["Attempt"]):
    def for_student(self, quiz: Quiz, user: User) -> AttemptQuerySet:
        return self.filter(quiz=quiz, user=user)

    def open(self) -> AttemptQuerySet:
        return self.filter(status=Attempt.Status.OPEN)

    def finished(self) -> AttemptQuerySet:
        return self.exclude(status=Attempt.Status.OPEN)

    def overdue(self, now: datetime) -> AttemptQuerySet:
        return self.open().filter(deadline__lte=now)


class Attempt(models.Model):
    """One sitting of a test: the questions drawn for it, then its grade and receipt."""

    class Status(models.TextChoices):
        OPEN = "open", "In progress"
        SUBMITTED = "submitted", "Submitted"
        EXPIRED = "expired", "Time ran out (saved answers graded)"

    quiz = models.ForeignKey(Quiz, on_delete=models.PROTECT, related_name="attempts")
    user = models.ForeignKey(
        settings.AUTH_USER_MODEL, on_delete=models.CASCADE, related_name="quiz_attempts"
    )
    number = models.PositiveSmallIntegerField()
    status = models.CharField(max_length=9, choices=Status.choices, default=Status.OPEN)
    started_at = models.DateTimeField()
    deadline = models.DateTimeField(null=True, blank=True)
    submitted_at = models.DateTimeField(null=True, blank=True)
    question_count = models.PositiveSmallIntegerField()
    correct_count = models.PositiveSmallIntegerField(null=True, blank=True)
    accuracy = models.PositiveSmallIntegerField(null=True, blank=True)
    score = models.PositiveIntegerField(null=True, blank=True)
    max_score = models.PositiveIntegerField(null=True, blank=True)
    halved = models.BooleanField(default=False)
    receipt = models.TextField(blank=True)
    # The answer allowance (quizzes.pacing), shared by every socket, tab and form post of
    # the attempt; kept on its row so the lock that guards a write guards it too.
    allowance = models.FloatField(null=True, blank=True, editable=False)
    allowance_at = models.DateTimeField(null=True, blank=True, editable=False)
    # Not stored: how many questions had an answer, set by the grading for its announcement.
    answered: int | None = None

    objects = AttemptQuerySet.as_manager()

    class Meta:
        ordering = ["quiz", "user", "number"]
        constraints = [
            models.UniqueConstraint(
                fields=["quiz", "user", "number"], name="attempt_number_unique"
            ),
            # At most one attempt in progress per student and test.
            models.UniqueConstraint(
                fields=["quiz", "user"], condition=Q(status="open"), name="attempt_one_open"
            ),
            models.CheckConstraint(condition=Q(number__gte=1), name="attempt_number_positive"),
            models.CheckConstraint(
                condition=Q(question_count__gte=1), name="attempt_has_questions"
            ),
            models.CheckConstraint(
                condition=Q(status="open", submitted_at__isnull=True, score__isnull=True)
                | (
                    Q(status__in=["submitted", "expired"])
                    & Q(submitted_at__isnull=False)
                    & Q(score__isnull=False)
                    & Q(max_score__isnull=False)
                    & Q(accuracy__isnull=False)
                    & Q(correct_count__isnull=False)
                ),
                name="attempt_graded_iff_finished",
            ),
            models.CheckConstraint(
                condition=Q(accuracy__isnull=True) | Q(accuracy__lte=100),
                name="attempt_accuracy_range",
            ),
            models.CheckConstraint(
                condition=Q(correct_count__isnull=True)
                | Q(correct_count__lte=models.F("question_count")),
                name="attempt_correct_within_drawn",
            ),
            models.CheckConstraint(
                condition=Q(score__isnull=True) | Q(score__lte=models.F("max_score")),
                name="attempt_score_within_max",
            ),
            models.CheckConstraint(
                condition=Q(deadline__isnull=True) | Q(deadline__gt=models.F("started_at")),
                name="attempt_deadline_after_start",
            ),
            models.CheckConstraint(
                condition=Q(submitted_at__isnull=True)
                | Q(submitted_at__gte=models.F("started_at")),
                name="attempt_submitted_after_start",
            ),
        ]

    def __str__(self) -> str:
        return f"{self.user} · {self.quiz} · attempt {self.number}"

    @property
    def is_finished(self) -> bool:
        return self.status != self.Status.OPEN

    def is_overdue(self, now: datetime) -> bool:
        return (
            self.status == self.Status.OPEN and self.deadline is not None and now >= self.deadline
        )


class AttemptQuestionQuerySet(models.QuerySet["AttemptQuestion"]):
    """Reads of drawn questions with their answers that never scan the answers table.

    An answer is read per question through its unique index on question_id (a scalar
    subquery), never joined: PostgreSQL plans a join from its statistics, and a young
    answers table (a first cohort filling it, or autovacuum off) has none, so it hashed
    every answer of the site for each saved answer (7 ms a save at 20,000 answers).
    """

    def with_chosen(self) -> AttemptQuestionQuerySet:
        """Annotate `chosen`: the answer's option ids, or None if it was never saved."""
        answer = Answer.objects.filter(question=OuterRef("pk")).values("chosen")
        return self.annotate(chosen=Subquery(answer))  # type: ignore[no-redef]

    def answered(self) -> AttemptQuestionQuerySet:
        """The questions with at least one option chosen (a cleared answer does not count)."""
        answer = Answer.objects.filter(question=OuterRef("pk"), chosen__0__isnull=False)
        return self.annotate(answer_id=Subquery(answer.values("pk"))).filter(
            answer_id__isnull=False
        )


def answered_count_of(attempt: OuterRef) -> Subquery:
    """A subquery: how many questions of the outer query's attempt are answered."""
    answered = (
        AttemptQuestion.objects.filter(attempt_id=attempt)
        .answered()
        .order_by()
        .values("attempt_id")
        .annotate(n=Count("*"))
        .values("n")
    )
    return Subquery(answered)


class AttemptQuestion(models.Model):
    """A question drawn for an attempt: the exact version and the option order shown."""

    attempt = models.ForeignKey(Attempt, on_delete=models.CASCADE, related_name="questions")
    # PROTECT: a version an attempt saw is its grading key forever.
    version = models.ForeignKey(
        QuestionVersion, on_delete=models.PROTECT, related_name="attempt_questions"
    )
    position = models.PositiveSmallIntegerField()
    option_order = models.JSONField(help_text="Option ids in the order shown to the student.")
    # What the student's page calls each option, in option_order's order: random per
    # attempt, so neither the values nor their order say anything about the key.
    option_values = models.JSONField(default=list, editable=False)
    is_correct = models.BooleanField(null=True, blank=True)

    objects = AttemptQuestionQuerySet.as_manager()
    # Read with the row by AttemptQuestionQuerySet.with_chosen.
    chosen: list[int] | None

    class Meta:
        ordering = ["attempt", "position"]
        constraints = [
            models.UniqueConstraint(
                fields=["attempt", "position"], name="attempt_question_position_unique"
            ),
            models.UniqueConstraint(
                fields=["attempt", "version"], name="attempt_question_version_unique"
            ),
        ]

    def __str__(self) -> str:
        return f"{self.attempt} · {self.position + 1}"

    def ordered_options(self) -> list[Option]:
        """The version's options in the order this student was shown them."""
        by_id = {o.id: o for o in self.version.options.all()}
        return [by_id[i] for i in self.option_order]

    def values_of(self, option_ids: list[int]) -> list[str]:
        """The page's values for these option ids, sorted."""
        value = dict(zip(self.option_order, self.option_values, strict=True))
        return sorted(value[i] for i in option_ids)

    def ids_of(self, values: list[str]) -> list[int] | None:
        """The option ids behind the page's values; None if one is not this question's."""
        option = dict(zip(self.option_values, self.option_order, strict=True))
        if not all(v in option for v in values):
            return None
        return [option[v] for v in values]


class Answer(models.Model):
    """The options a student chose for one drawn question (saved as they go)."""

    question = models.OneToOneField(
        AttemptQuestion, on_delete=models.CASCADE, related_name="answer"
    )
    chosen = models.JSONField(default=list, help_text="Chosen option ids, sorted.")
    updated_at = models.DateTimeField(auto_now=True)

    def __str__(self) -> str:
        return f"{self.question}: {self.chosen}"
