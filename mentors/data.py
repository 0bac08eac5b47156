"""Reads for the mentor pages: score rows, one attempt in full, analytics input, live state.

Every function takes the students the viewer may see (courseware.mentoring) as a
QuerySet and runs a fixed number of queries whatever the number of students,
tests, questions or attempts: aggregates and prefetches, never a query per row.
"""

from __future__ import annotations

from collections import defaultdict
from dataclasses import dataclass
from datetime import datetime

from django.db.models import Count, F, Max, OuterRef, Q, QuerySet, Subquery, Sum
from django.utils.safestring import SafeString

from courseware.markup import render_markdown
from mentors import analytics
from quizzes.attempts import render_inline
from quizzes.models import (
    Answer,
    Attempt,
    AttemptQuestion,
    Override,
    QuestionVersion,
    Quiz,
    Result,
)

NOT_STARTED = "not-started"
IN_PROGRESS = "in-progress"
PASSED = "passed"
FAILED = "failed"
STATUS_CHOICES = [
    (PASSED, "Passed"),
    (FAILED, "Not passed"),
    (IN_PROGRESS, "Attempt in progress"),
    (NOT_STARTED, "No attempt yet"),
]


@dataclass(frozen=True)
class ScoreRow:
    """One student and one test: what the scores table and its CSV show."""

    student_id: int
    student: str
    name: str
    quiz_id: int
    quiz_slug: str
    quiz: str
    max_score: int
    threshold_percent: int
    counted: int | None
    counting_attempt_id: int | None
    best: int | None
    last: int | None
    used: int
    allowed: int
    in_progress: bool
    passed: bool | None  # None until an attempt is finished
    last_activity: datetime | None

    @property
    def statuses(self) -> set[str]:
        found = {IN_PROGRESS} if self.in_progress else set()
        if self.passed is True:
            found.add(PASSED)
        elif self.passed is False:
            found.add(FAILED)
        elif not self.used:
            found.add(NOT_STARTED)
        return found

    # Sort keys that are never None, so "no score yet" sorts below every score.
    @property
    def counted_key(self) -> int:
        return -1 if self.counted is None else self.counted

    @property
    def best_key(self) -> int:
        return -1 if self.best is None else self.best

    @property
    def last_key(self) -> int:
        return -1 if self.last is None else self.last

    @property
    def passed_key(self) -> int:
        return {None: -1, False: 0, True: 1}[self.passed]

    @property
    def activity_key(self) -> float:
        return self.last_activity.timestamp() if self.last_activity else 0.0


def score_rows(
    *, students: QuerySet, quizzes: QuerySet[Quiz] | None = None, status: str = ""
) -> list[ScoreRow]:
    """A row for every pair of student and test, ordered by login then test (five queries)."""
    quizzes = Quiz.objects.all() if quizzes is None else quizzes
    quiz_list = list(quizzes.order_by("title", "pk"))
    student_list = list(students.order_by("username").only("username", "first_name", "last_name"))
    ids = [s.pk for s in student_list]
    quiz_ids = [q.pk for q in quiz_list]

    # Counting per attempt and per answer separately would double-count across the join.
    activity = {
        (row["user_id"], row["quiz_id"]): row
        for row in Attempt.objects.filter(user_id__in=ids, quiz_id__in=quiz_ids)
        .values("user_id", "quiz_id")
        .annotate(
            used=Count("pk", distinct=True),
            best=Max("score"),
            open=Count("pk", filter=Q(status=Attempt.Status.OPEN), distinct=True),
            last_started=Max("started_at"),
            last_submitted=Max("submitted_at"),
            last_answer=Max("questions__answer__updated_at"),
        )
        .order_by()
    }
    last_finished = Attempt.objects.finished().filter(
        quiz_id=OuterRef("quiz_id"), user_id=OuterRef("user_id")
    )
    results = {
        (row["user_id"], row["quiz_id"]): row
        for row in Result.objects.filter(user_id__in=ids, quiz_id__in=quiz_ids)
        .annotate(last=Subquery(last_finished.order_by("-number").values("score")[:1]))
        .values("user_id", "quiz_id", "score", "attempt_id", "attempt__accuracy", "last")
    }

    # Extra attempts granted to a student (quizzes.overrides) raise their cap in the table too.
    extra = {
        (row["user_id"], row["quiz_id"]): row["extra"]
        for row in Override.objects.filter(user_id__in=ids, quiz_id__in=quiz_ids)
        .values("user_id", "quiz_id")
        .annotate(extra=Sum("extra_attempts"))
        .order_by()
    }

    rows = []
    for student in student_list:
        for quiz in quiz_list:
            act = activity.get((student.pk, quiz.pk), {})
            result = results.get((student.pk, quiz.pk), {})
            accuracy = result.get("attempt__accuracy")
            moments = [
                moment
                for k in ("last_started", "last_submitted", "last_answer")
                if (moment := act.get(k))
            ]
            row = ScoreRow(
                student_id=student.pk,
                student=student.username,
                name=student.get_full_name(),
                quiz_id=quiz.pk,
                quiz_slug=quiz.slug,
                quiz=quiz.title,
                max_score=quiz.max_score,
                threshold_percent=quiz.threshold_percent,
                counted=result.get("score"),
                counting_attempt_id=result.get("attempt_id"),
                best=act.get("best"),
                last=result.get("last"),
                used=act.get("used", 0),
                allowed=quiz.max_attempts + extra.get((student.pk, quiz.pk), 0),
                in_progress=bool(act.get("open")),
                passed=None if accuracy is None else accuracy >= quiz.threshold_percent,
                last_activity=max(moments) if moments else None,
            )
            if not status or status in row.statuses:
                rows.append(row)
    return rows


@dataclass(frozen=True)
class DetailOption:
    label: str  # by authored position, as in the analytics tables
    html: SafeString
    chosen: bool
    correct: bool


@dataclass(frozen=True)
class DetailQuestion:
    position: int
    question_id: int
    key: str
    version: int
    is_current: bool
    kind: str
    objective: str
    html: SafeString
    options: list[DetailOption]
    answered: bool
    is_correct: bool | None  # None while the attempt is open


def attempt_detail(attempt: Attempt) -> list[DetailQuestion]:
    """The questions of an attempt as the student saw them, with their choices and the key."""
    questions = attempt.questions.select_related(
        "version__question", "version__objective", "answer"
    ).prefetch_related("version__options")
    detail = []
    for question in questions:
        version = question.version
        answer = getattr(question, "answer", None)
        chosen = set(answer.chosen) if answer else set()
        authored = {o.id: i for i, o in enumerate(version.options.all())}
        detail.append(
            DetailQuestion(
                position=question.position,
                question_id=version.question_id,
                key=version.question.key,
                version=version.number,
                is_current=version.question.current_id == version.id,
                kind=version.get_kind_display(),
                objective=version.objective.text,
                html=render_markdown(version.text),
                options=[
                    DetailOption(
                        analytics.option_label(authored[o.id]),
                        render_inline(o.text),
                        o.id in chosen,
                        o.correct,
                    )
                    for o in question.ordered_options()
                ],
                answered=bool(chosen),
                is_correct=question.is_correct,
            )
        )
    return detail


@dataclass(frozen=True)
class ItemMeta:
    """How the analytics page names an item: its question, version and options."""

    version: QuestionVersion
    text_html: SafeString
    option_html: dict[int, SafeString]


def analytics_input(
    *, quiz: Quiz, students: QuerySet
) -> tuple[list[analytics.ItemSpec], list[analytics.AttemptData], dict[int, ItemMeta]]:
    """The counting attempts of `students` in `quiz`, as analytics types (four queries).

    The counting attempt is the one the test's rule (last or best) made count, which
    the grading service keeps on each student's Result.
    """
    counting = Result.objects.filter(quiz=quiz, user__in=students, attempt__isnull=False).values(
        "attempt_id"
    )
    responses: dict[int, list[analytics.Response]] = defaultdict(list)
    for attempt_id, version_id, correct, chosen in AttemptQuestion.objects.filter(
        attempt_id__in=counting
    ).values_list("attempt_id", "version_id", "is_correct", "answer__chosen"):
        responses[attempt_id].append(
            analytics.Response(version_id, frozenset(chosen or ()), bool(correct))
        )
    attempts = [
        analytics.AttemptData(attempt_id, tuple(rows))
        for attempt_id, rows in sorted(responses.items())
    ]
    used = {r.item for a in attempts for r in a.responses}
    # Active questions' current versions too, so a question nobody drew still shows.
    current = Q(question__quiz=quiz, question__is_active=True, id=F("question__current"))
    versions = list(
        QuestionVersion.objects.filter(Q(id__in=used) | current)
        .select_related("question", "objective")
        .prefetch_related("options")
        .order_by("question__position", "question__key", "number")
    )
    items = []
    meta = {}
    for version in versions:
        options = list(version.options.all())
        items.append(
            analytics.ItemSpec(
                id=version.id,
                options=tuple(o.id for o in options),
                correct=frozenset(o.id for o in options if o.correct),
                objective=version.objective.text,
                objective_position=version.objective.position,
            )
        )
        meta[version.id] = ItemMeta(
            version,
            render_markdown(version.text),
            {o.id: render_inline(o.text) for o in options},
        )
    return items, attempts, meta


@dataclass(frozen=True)
class LiveAttempt:
    """An attempt in progress, as the live page starts from (then events update it)."""

    attempt_id: int
    student_id: int
    student: str
    quiz_id: int
    quiz: str
    number: int
    answered: int
    total: int
    started_at: datetime
    deadline: datetime | None

    def as_event(self) -> dict:
        """The keys of a quizzes.live progress event, so the page treats both alike."""
        return {
            "event": "snapshot",
            "quiz": self.quiz_id,
            "attempt": self.attempt_id,
            "user": self.student_id,
            "username": self.student,
            "number": self.number,
            "status": Attempt.Status.OPEN.value,
            "answered": self.answered,
            "total": self.total,
            "started_at": self.started_at.isoformat(),
            "deadline": self.deadline.isoformat() if self.deadline else None,
        }


def live_attempts(*, students: QuerySet) -> list[LiveAttempt]:
    """The attempts in progress of `students`, with how many questions have an answer."""
    attempts = list(
        Attempt.objects.open()
        .filter(user__in=students)
        .select_related("quiz", "user")
        .order_by("user__username", "quiz__title")
    )
    answered: dict[int, int] = defaultdict(int)
    # An answer row cleared back to [] is no answer; counted in Python, as JSON
    # comparisons differ between SQLite and PostgreSQL.
    for attempt_id, chosen in Answer.objects.filter(
        question__attempt__in=[a.pk for a in attempts]
    ).values_list("question__attempt_id", "chosen"):
        answered[attempt_id] += bool(chosen)
    return [
        LiveAttempt(
            attempt_id=a.pk,
            student_id=a.user_id,
            student=a.user.username,
            quiz_id=a.quiz_id,
            quiz=a.quiz.title,
            number=a.number,
            answered=answered[a.pk],
            total=a.question_count,
            started_at=a.started_at,
            deadline=a.deadline,
        )
        for a in attempts
    ]
