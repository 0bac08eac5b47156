"""Saved reports of automatic checks of students' Fun Chat clients."""

from __future__ import annotations

from collections.abc import Iterable
from typing import Any

from django.conf import settings
from django.contrib.auth.models import AnonymousUser, User
from django.db import models
from django.db.models import Q
from django.urls import reverse
from django.utils import timezone

from courseware.mentoring import students_visible_to
from courseware.roles import is_mentor
from grader import checks
from grader.checks import FAILED, ITEM_BY_CODE, NOT_OBSERVED, PASSED
from grader.recorder import MARK, Frame

MAX_TRANSCRIPT = 3000  # frames a report keeps: the beginning and the end of a long run


class CheckReportQuerySet(models.QuerySet):
    def done(self) -> CheckReportQuerySet:
        """Reports with a verdict (a run that is still going has none yet)."""
        return self.exclude(status=CheckReport.Status.RUNNING)

    def graded(self) -> CheckReportQuerySet:
        """Reports of checks a grader ran; a student's self-checks never count as a grade."""
        return self.filter(self_check=False)

    def for_students(self, users: Iterable[Any]) -> CheckReportQuerySet:
        """The finished reports of these students (users or ids), newest first."""
        ids = [getattr(u, "pk", u) for u in users]
        return self.done().filter(student__in=ids).select_related("student", "grader")

    def latest_for_students(self, users: Iterable[Any]) -> dict[int, CheckReport]:
        """Each student's newest finished graded report, by user id (none: absent)."""
        latest: dict[int, CheckReport] = {}
        for report in self.for_students(users).graded().order_by("student_id", "-started_at"):
            latest.setdefault(report.student_id, report)
        return latest

    def visible_to(self, user: User | AnonymousUser) -> CheckReportQuerySet:
        """Staff see every report; a mentor their assigned students' (as on the mentor
        pages, courseware.mentoring) and the runs they graded; a student only their own."""
        if not user.is_authenticated:
            return self.none()
        if user.is_staff:
            return self.all()
        if is_mentor(user):
            return self.filter(Q(student__in=students_visible_to(user)) | Q(grader=user))
        return self.filter(student=user)

    def begin(
        self,
        *,
        login: str,
        student_id: int | None,
        grader_id: int | None,
        options: dict[str, Any],
        self_check: bool = False,
    ) -> CheckReport:
        """A new report in the running state, for the room named in options["world"]."""
        room = options.get("world", "shared")
        # Runs are one at a time per chat room: an older "running" report of this room
        # lost its run when its chat server stopped.
        self.filter(status=CheckReport.Status.RUNNING, options__world=room).update(
            status=CheckReport.Status.INTERRUPTED, note="The chat server stopped during the run."
        )
        return self.create(
            login=login,
            student_id=student_id,
            grader_id=grader_id,
            options=options,
            self_check=self_check,
        )

    def record_verdict(
        self,
        pk: int,
        *,
        status: str,
        frames: list[Frame],
        results: list[checks.Result],
        login: str,
        dropped: int,
    ) -> None:
        """Store a finished run: its verdicts with their evidence, timeline and transcript."""
        transcript, left_out = _trim(checks.relevant(frames, login=login))
        self.filter(pk=pk).update(
            status=status,
            finished_at=timezone.now(),
            items=_report_items(results, frames),
            timeline=[{"t": f.t, "name": f.type, "note": f.text} for f in frames if f.dir == MARK],
            transcript=[f.as_dict() for f in transcript],
            dropped_frames=dropped + left_out,
        )


def _trim(frames: list[Frame]) -> tuple[list[Frame], int]:
    """At most MAX_TRANSCRIPT frames: the beginning and the end, and how many were left out."""
    if len(frames) <= MAX_TRANSCRIPT:
        return frames, 0
    head = MAX_TRANSCRIPT // 3
    tail = MAX_TRANSCRIPT - head
    return frames[:head] + frames[-tail:], len(frames) - MAX_TRANSCRIPT


def _report_items(results: list[checks.Result], frames: list[Frame]) -> list[dict[str, Any]]:
    """Results as stored: the item's title and points, and the evidence frames themselves."""
    by_seq = {f.seq: f for f in frames}
    return [
        {
            "code": r.code,
            "title": r.item.title,
            "points": r.item.points,
            "status": r.status,
            "summary": r.summary,
            "details": r.details,
            "evidence": [by_seq[s].as_dict() for s in r.evidence if s in by_seq],
        }
        for r in results
    ]


class CheckReport(models.Model):
    """One check run of a student's chat client and its verdict on each score item."""

    class Status(models.TextChoices):
        RUNNING = "running", "Running"
        FINISHED = "finished", "Finished"
        STOPPED = "stopped", "Stopped by the grader"
        INTERRUPTED = "interrupted", "Interrupted"

    login = models.TextField("chat login", help_text="The login the client used in the chat.")
    student = models.ForeignKey(
        settings.AUTH_USER_MODEL,
        null=True,
        blank=True,
        on_delete=models.SET_NULL,
        related_name="chat_check_reports",
        help_text="The site account of the student whose client was checked.",
    )
    grader = models.ForeignKey(
        settings.AUTH_USER_MODEL,
        null=True,
        blank=True,
        on_delete=models.SET_NULL,
        related_name="+",
    )
    started_at = models.DateTimeField(default=timezone.now)
    finished_at = models.DateTimeField(null=True, blank=True)
    status = models.CharField(max_length=12, choices=Status.choices, default=Status.RUNNING)
    # [{code, title, points, status, summary, details: [str], evidence: [frame]}], task order.
    items = models.JSONField(default=list, blank=True)
    # Run markers: [{t, name, note}].
    timeline = models.JSONField(default=list, blank=True)
    # The student's and the bots' frames (passwords masked), at most a few thousand.
    transcript = models.JSONField(default=list, blank=True)
    dropped_frames = models.PositiveIntegerField(default=0)
    options = models.JSONField(default=dict, blank=True)
    note = models.TextField(blank=True)
    self_check = models.BooleanField(
        default=False,
        help_text="The student ran this check on their own client; it never counts as a grade.",
    )

    objects = CheckReportQuerySet.as_manager()

    class Meta:
        # The table keeps the name it had when the model lived in the chat app.
        db_table = "chat_checkreport"
        ordering = ["-started_at", "-pk"]
        indexes = [models.Index(fields=["student", "-started_at"])]

    def __str__(self) -> str:
        return f"Chat check of {self.login!r} ({self.started_at:%Y-%m-%d %H:%M})"

    def get_absolute_url(self) -> str:
        return reverse("chat:report", args=[self.pk])

    @property
    def counts(self) -> dict[str, int]:
        counts = {PASSED: 0, FAILED: 0, NOT_OBSERVED: 0}
        for item in self.items:
            counts[item["status"]] = counts.get(item["status"], 0) + 1
        return counts

    @property
    def points(self) -> tuple[int, int]:
        """Points of the passed items, and of every item with a verdict (not 'not observed')."""
        passed = observed = 0
        for item in self.items:
            points = ITEM_BY_CODE[item["code"]].points if item["code"] in ITEM_BY_CODE else 0
            if item["status"] != NOT_OBSERVED:
                observed += points
                if item["status"] == PASSED:
                    passed += points
        return passed, observed

    @property
    def duration(self) -> float | None:
        if self.finished_at is None:
            return None
        return (self.finished_at - self.started_at).total_seconds()
