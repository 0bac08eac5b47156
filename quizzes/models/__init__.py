"""Auto-test models: the bank (tests and versioned questions) and the attempts at it.

Every name is re-exported here, so `from quizzes.models import Attempt` keeps working and
Django finds all models under the `quizzes` app label.
"""

from __future__ import annotations

from quizzes.models.attempts import (
    Answer,
    Attempt,
    AttemptQuerySet,
    AttemptQuestion,
    Result,
)
from quizzes.models.bank import (
    KEY_PATTERN,
    Option,
    Question,
    QuestionContent,
    QuestionVersion,
    Quiz,
    key_validator,
    link_validator,
)
from quizzes.models.overrides import Override, OverrideQuerySet

__all__ = [
    "KEY_PATTERN",
    "Answer",
    "Attempt",
    "AttemptQuerySet",
    "AttemptQuestion",
    "Option",
    "Override",
    "OverrideQuerySet",
    "Question",
    "QuestionContent",
    "QuestionVersion",
    "Quiz",
    "Result",
    "key_validator",
    "link_validator",
]
