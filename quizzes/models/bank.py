"""The question bank: tests, their questions, fixed question versions and options."""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass

from django.core.validators import MaxValueValidator, MinValueValidator, RegexValidator
from django.db import models
from django.db.models import Q
from django.utils.safestring import SafeString, mark_safe

from courseware.markup import render_inline, render_markdown
from courseware.models import Module, Objective
from quizzes import grading

KEY_PATTERN = r"^[a-z0-9]+(-[a-z0-9]+)*$"
key_validator = RegexValidator(
    KEY_PATTERN, "Use lowercase letters, digits and single hyphens, e.g. handshake-status-code."
)
link_validator = RegexValidator(
    r"^(https?://\S+|/\S*)$", "Give one http(s) URL or a path on this site, without spaces."
)


class Quiz(models.Model):
    """An auto test: its settings follow RS App's auto-test (see docs/quiz-format.md)."""

    class Counting(models.TextChoices):
        LAST = "last", "The last attempt (as RS App)"
        BEST = "best", "The best attempt"

    class ReviewWhen(models.TextChoices):
        NEVER = "never", "Never"
        AFTER_SUBMIT = "after_submit", "Right after each submission"
        AFTER_CLOSE = "after_close", "After the test closes (as RS App)"

    class ReviewQuestions(models.TextChoices):
        WRONG = "wrong", "Only questions answered wrong (as RS App)"
        ALL = "all", "All questions"

    slug = models.SlugField(unique=True, validators=[key_validator])
    title = models.CharField(max_length=200)
    module = models.ForeignKey(Module, on_delete=models.PROTECT, related_name="quizzes")
    description = models.TextField(blank=True, help_text="Markdown, shown above the rules.")
    max_attempts = models.PositiveSmallIntegerField(
        default=3, validators=[MinValueValidator(1)], help_text="Attempts allowed (the cap)."
    )
    questions_per_attempt = models.PositiveSmallIntegerField(
        default=20,
        validators=[MinValueValidator(1)],
        help_text="Drawn at random from the active questions for each attempt.",
    )
    threshold_percent = models.PositiveSmallIntegerField(
        default=70,
        validators=[MaxValueValidator(100)],
        help_text="An accuracy below this scores 0.",
    )
    strict_attempts = models.BooleanField(
        default=True,
        help_text="On: no attempts past the cap. Off: allowed, at half score.",
    )
    cooldown_hours = models.PositiveSmallIntegerField(
        default=1, help_text="Whole hours between the starts of two attempts; 0 for none."
    )
    max_score = models.PositiveSmallIntegerField(default=100, validators=[MinValueValidator(1)])
    opens_at = models.DateTimeField(null=True, blank=True)
    closes_at = models.DateTimeField(
        null=True, blank=True, help_text="Attempts still open then end and are graded."
    )
    time_limit_minutes = models.PositiveSmallIntegerField(
        null=True, blank=True, validators=[MinValueValidator(1)], help_text="Empty: no limit."
    )
    counting_attempt = models.CharField(
        max_length=4, choices=Counting.choices, default=Counting.LAST
    )
    review_when = models.CharField(
        max_length=12, choices=ReviewWhen.choices, default=ReviewWhen.AFTER_CLOSE
    )
    review_questions = models.CharField(
        max_length=5, choices=ReviewQuestions.choices, default=ReviewQuestions.WRONG
    )
    review_show_key = models.BooleanField(
        default=False, help_text="Show which options are correct in the review."
    )
    review_show_explanations = models.BooleanField(default=False)
    created_at = models.DateTimeField(auto_now_add=True)
    updated_at = models.DateTimeField(auto_now=True)

    class Meta:
        verbose_name = "test"
        ordering = ["title"]
        constraints = [
            models.CheckConstraint(
                condition=Q(max_attempts__gte=1),
                name="quiz_max_attempts_positive",
                violation_error_message="Allow at least one attempt.",
            ),
            models.CheckConstraint(
                condition=Q(questions_per_attempt__gte=1),
                name="quiz_questions_per_attempt_positive",
                violation_error_message="Draw at least one question per attempt.",
            ),
            models.CheckConstraint(
                condition=Q(threshold_percent__lte=100),
                name="quiz_threshold_percent_range",
                violation_error_message="The threshold is a percentage from 0 to 100.",
            ),
            models.CheckConstraint(
                condition=Q(max_score__gte=1),
                name="quiz_max_score_positive",
                violation_error_message="The maximum score must be at least 1.",
            ),
            models.CheckConstraint(
                condition=Q(time_limit_minutes__isnull=True) | Q(time_limit_minutes__gte=1),
                name="quiz_time_limit_positive",
                violation_error_message="A time limit is at least one minute.",
            ),
            models.CheckConstraint(
                condition=Q(opens_at__isnull=True)
                | Q(closes_at__isnull=True)
                | Q(closes_at__gt=models.F("opens_at")),
                name="quiz_closes_after_opens",
                violation_error_message="The test must close after it opens.",
            ),
        ]

    def __str__(self) -> str:
        return self.title

    def rules(self) -> grading.Rules:
        """The settings as the pure grading engine takes them."""
        return grading.Rules(
            max_attempts=self.max_attempts,
            questions_per_attempt=self.questions_per_attempt,
            threshold_percent=self.threshold_percent,
            strict_attempts=self.strict_attempts,
            cooldown_hours=self.cooldown_hours,
            max_score=self.max_score,
            opens_at=self.opens_at,
            closes_at=self.closes_at,
            time_limit_minutes=self.time_limit_minutes,
            counting=self.counting_attempt,  # type: ignore[arg-type]
            review_when=self.review_when,  # type: ignore[arg-type]
            review_questions=self.review_questions,  # type: ignore[arg-type]
            review_show_key=self.review_show_key,
            review_show_explanations=self.review_show_explanations,
        )

    def active_questions(self) -> models.QuerySet[Question]:
        return self.questions.filter(is_active=True, current__isnull=False)


@dataclass(frozen=True)
class QuestionContent:
    """Everything a version fixes; two versions with equal content are the same question."""

    kind: str
    objective_id: int
    text: str
    explanation: str
    source: str
    options: tuple[tuple[str, bool], ...]


class Question(models.Model):
    """A question's stable identity in a test; its content lives in versions."""

    quiz = models.ForeignKey(Quiz, on_delete=models.CASCADE, related_name="questions")
    key = models.SlugField(
        max_length=80,
        validators=[key_validator],
        help_text="Stable forever: the YAML file and past attempts refer to it.",
    )
    position = models.PositiveIntegerField(default=0)
    is_active = models.BooleanField(
        default=True, help_text="Inactive questions are not drawn; past attempts keep them."
    )
    # The version new attempts draw. Kept as a pointer so lists and filters can join it.
    current = models.OneToOneField(
        "QuestionVersion",
        on_delete=models.SET_NULL,
        null=True,
        blank=True,
        editable=False,
        related_name="+",
    )
    # Not stored: what the admin's save did to the versions, for its History entry.
    history_note = ""

    class Meta:
        ordering = ["quiz", "position", "key"]
        constraints = [
            models.UniqueConstraint(
                fields=["quiz", "key"],
                name="question_key_unique",
                violation_error_message="This test already has a question with this key.",
            )
        ]

    def __str__(self) -> str:
        return self.key

    def set_content(self, content: QuestionContent, *, origin: str = "file") -> str:
        """Make `content` current: in place if no attempt used it, else as a new version.

        `origin` is a QuestionVersion.Origin. Returns "unchanged", "created", "edited" or
        "new version".
        """
        current = None
        if self.current_id:
            # Lock the version so an attempt cannot draw it while it is edited in place.
            current = QuestionVersion.objects.select_for_update().get(pk=self.current_id)
        if current is not None and current.content() == content:
            if origin == QuestionVersion.Origin.FILE and current.origin != origin:
                # The file caught up with an admin edit (it was exported and committed).
                current.origin = origin
                current.save(update_fields=["origin"])
            return "unchanged"
        if current is not None and not current.is_used():
            current.fill(content)
            current.origin = origin
            current.save()
            current.options.all().delete()
            current.add_options(content.options)
            return "edited"
        number = current.number + 1 if current else 1
        version = QuestionVersion(question=self, number=number, origin=origin)
        version.fill(content)
        version.save()
        version.add_options(content.options)
        self.current = version
        self.save(update_fields=["current"])
        return "new version" if current else "created"


def stored_html(html: str, source: str, render: Callable[[str], SafeString]) -> SafeString:
    """The HTML stored with the content (sanitised then), or `source` rendered now.

    Rendering happens when content is saved or loaded; a row stored before its HTML
    column existed is rendered on the fly.
    """
    return mark_safe(html) if html else render(source)  # noqa: S308 - sanitised when stored


class QuestionVersion(models.Model):
    """One fixed wording of a question; once an attempt drew it, it never changes."""

    class Kind(models.TextChoices):
        SINGLE = "single", "Single choice"
        MULTIPLE = "multiple", "Multiple choice"

    class Origin(models.TextChoices):
        FILE = "file", "A YAML file (load_quiz)"
        ADMIN = "admin", "The admin"

    question = models.ForeignKey(Question, on_delete=models.CASCADE, related_name="versions")
    number = models.PositiveIntegerField()
    kind = models.CharField(max_length=8, choices=Kind.choices)
    # PROTECT: reloading a module must not silently drop an objective that tags questions.
    objective = models.ForeignKey(Objective, on_delete=models.PROTECT, related_name="+")
    text = models.TextField(help_text="Markdown; fenced ```js code blocks allowed.")
    explanation = models.TextField(help_text="Markdown: why the right options are right.")
    source = models.CharField(max_length=500, validators=[link_validator])
    # Rendered (courseware.markup) once, when the content is set, so that no page renders
    # Markdown per request; empty only for rows made outside fill(), which render on read.
    text_html = models.TextField(blank=True, editable=False)
    explanation_html = models.TextField(blank=True, editable=False)
    # load_quiz replaces a file's wording but keeps an admin's (unless --force).
    origin = models.CharField(
        max_length=5, choices=Origin.choices, default=Origin.FILE, editable=False
    )
    created_at = models.DateTimeField(auto_now_add=True)

    class Meta:
        ordering = ["question", "number"]
        constraints = [
            models.UniqueConstraint(fields=["question", "number"], name="version_number_unique"),
            models.CheckConstraint(condition=Q(number__gte=1), name="version_number_positive"),
        ]

    def __str__(self) -> str:
        return f"{self.question.key} v{self.number}"

    def content(self) -> QuestionContent:
        return QuestionContent(
            kind=self.kind,
            objective_id=self.objective_id,
            text=self.text,
            explanation=self.explanation,
            source=self.source,
            options=tuple((o.text, o.correct) for o in self.options.order_by("position")),
        )

    def fill(self, content: QuestionContent) -> None:
        self.kind = content.kind
        self.objective_id = content.objective_id
        self.text = content.text
        self.explanation = content.explanation
        self.source = content.source
        self.text_html = render_markdown(content.text)
        self.explanation_html = render_markdown(content.explanation)

    def add_options(self, options: tuple[tuple[str, bool], ...]) -> None:
        Option.objects.bulk_create(
            Option(version=self, position=i, text=text, correct=correct, html=render_inline(text))
            for i, (text, correct) in enumerate(options)
        )

    @property
    def text_shown(self) -> SafeString:
        """The stem as HTML: stored when the content was set."""
        return stored_html(self.text_html, self.text, render_markdown)

    @property
    def explanation_shown(self) -> SafeString:
        return stored_html(self.explanation_html, self.explanation, render_markdown)

    def is_used(self) -> bool:
        return self.attempt_questions.exists()


class Option(models.Model):
    """An answer option of a question version, in authored order."""

    version = models.ForeignKey(QuestionVersion, on_delete=models.CASCADE, related_name="options")
    position = models.PositiveSmallIntegerField()
    text = models.TextField(help_text="Inline Markdown.")
    correct = models.BooleanField(default=False)
    html = models.TextField(blank=True, editable=False)  # rendered once (add_options)

    class Meta:
        ordering = ["version", "position"]
        constraints = [
            models.UniqueConstraint(fields=["version", "position"], name="option_position_unique")
        ]

    def __str__(self) -> str:
        return self.text

    @property
    def shown(self) -> SafeString:
        """The option as inline HTML: stored when the version's content was set."""
        return stored_html(self.html, self.text, render_inline)
