"""The admin is the editing UI for tests: settings, versioned questions, read-only attempts.

Importing the modules registers their admins; the admin site imports this package.
"""

from __future__ import annotations

from quizzes.admin.forms import OptionForm, OptionFormSet, QuestionForm
from quizzes.admin.overrides import OverrideAdmin
from quizzes.admin.questions import QuestionAdmin
from quizzes.admin.quiz import QuestionInline, QuizAdmin
from quizzes.admin.records import AttemptAdmin, AttemptQuestionInline, ReadOnlyAdmin, ResultAdmin

__all__ = [
    "AttemptAdmin",
    "AttemptQuestionInline",
    "OptionForm",
    "OptionFormSet",
    "OverrideAdmin",
    "QuestionAdmin",
    "QuestionForm",
    "QuestionInline",
    "QuizAdmin",
    "ReadOnlyAdmin",
    "ResultAdmin",
]
