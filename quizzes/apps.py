from __future__ import annotations

from django.apps import AppConfig


class QuizzesConfig(AppConfig):
    name = "quizzes"
    verbose_name = "Auto tests"

    def ready(self) -> None:
        from courseware.mentoring import register_student_activity
        from quizzes.models import Attempt

        # Whoever started a test is a student on the mentor pages, in the group or not.
        register_student_activity(Attempt)
