"""A search for a test's secrets in anything a student's browser receives."""

from __future__ import annotations

import re
from html import unescape

from courseware.markup import render_markdown
from quizzes.models import Attempt, Question, Quiz
from tests.quizkit import drawn

# How a correct flag would look in HTML or JSON: "correct": / correct="..." / is_correct,
# data-correct, or the review's key marker. The receipt's "16 of 20 correct = 80%" is prose.
FLAG = re.compile(
    r"""["']correct["']\s*:|\bcorrect=|is_correct|data-correct|class="review-key"|class="[^"]*\bkey\b"""
)


def plain(text: str) -> str:
    """Markup to comparable text: tags dropped, entities decoded, whitespace collapsed."""
    return re.sub(r"\s+", " ", unescape(re.sub(r"<[^>]+>", " ", text))).strip()


# An option named by its database id (author order: the correct options come first) in
# the attempt form, an answer frame or the state's answers. Options carry random values of
# exactly 16 hex digits, which are all decimal digits about once in 1,800 values: an id is
# shorter, or a JSON number.
OPTION_ID = re.compile(r'name="q\d+" value="\d{1,15}"|"options": \[\d|"\d+": \[\d')


class LeakCheck:
    """The secrets of a test, and a search for them in anything sent to a student."""

    def __init__(self, quiz: Quiz, attempt: Attempt) -> None:
        versions = {q.current for q in Question.objects.filter(quiz=quiz).select_related("current")}
        drawn_ids = {q.version_id for q in drawn(attempt)}
        self.explanations = [plain(str(render_markdown(v.explanation)))[:80] for v in versions] + [
            v.explanation.strip().splitlines()[0][:60] for v in versions
        ]
        self.keys = [f"{q.key}" for q in Question.objects.filter(quiz=quiz)]
        drawn_texts = [plain(str(render_markdown(v.text))) for v in versions if v.id in drawn_ids]
        self.undrawn = [
            plain(str(render_markdown(v.text))) for v in versions if v.id not in drawn_ids
        ]
        # A text that is also part of a drawn question could not tell a leak from a draw.
        self.undrawn = [t for t in self.undrawn if not any(t in d for d in drawn_texts)]
        assert len(self.undrawn) >= 50 and len(self.explanations) >= 100
        self.seen = 0

    def problems(self, where: str, body: str) -> list[str]:
        self.seen += 1
        text = plain(body)
        found = [f"{where}: correct flag {m.group()!r}" for m in FLAG.finditer(body)]
        found += [f"{where}: option id {m.group()!r}" for m in OPTION_ID.finditer(body)]
        found += [
            f"{where}: explanation {e[:30]!r}" for e in self.explanations if e in text or e in body
        ]
        found += [f"{where}: question key {k!r}" for k in self.keys if k in body]
        found += [f"{where}: undrawn question {t[:30]!r}" for t in self.undrawn if t in text]
        return found
