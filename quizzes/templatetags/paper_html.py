"""The attempt page's questions as HTML, built in Python rather than by templates.

With a template include per question and tags per option, rendering 20 questions took
about 2.5 ms of the attempt page's CPU, a quarter of what the whole request costs a served
process; these build the same markup in about a tenth of that (BENCHMARKS.md), with
f-strings rather than format_html, which alone took 0.7 ms. Every value goes through
conditional_escape: stems and options are stored sanitised (QuestionVersion.fill) and
arrive as SafeString, everything else is escaped. A PaperQuestion carries no correct flag
and no option id, so nothing here can reveal the key.
"""

from __future__ import annotations

from collections.abc import Iterable

from django import template
from django.utils.html import conditional_escape as esc
from django.utils.safestring import SafeString, mark_safe

from quizzes.paper import PaperQuestion

register = template.Library()


def _fieldset(question: PaperQuestion, number: int) -> str:
    multiple = question.kind == "multiple"
    kind = "checkbox" if multiple else "radio"
    options = "".join(
        f'<li><label><input type="{kind}" name="q{question.position:d}" value="{esc(o.value)}"'
        f"{' checked' if o.value in question.chosen else ''}>"
        f'<span class="quiz-option-text">{esc(o.html)}</span></label></li>'
        for o in question.options
    )
    says = "Choose every correct option" if multiple else "Choose one option"
    return (
        f'<fieldset class="quiz-question" id="question-{number:d}">'
        f'<legend>Question {number:d} <span class="quiz-question-kind">{says}</span></legend>'
        f'<div class="quiz-question-text">{esc(question.html)}</div>'
        f'<ul class="quiz-options">{options}</ul></fieldset>'
    )


@register.simple_tag
def question_fieldset(question: PaperQuestion, number: int) -> SafeString:
    """One drawn question as a student answers it; `number` is its 1-based place on the page."""
    return mark_safe(_fieldset(question, number))  # noqa: S308  # every value escaped


@register.simple_tag
def question_fieldsets(questions: Iterable[tuple[PaperQuestion, str]]) -> SafeString:
    """The attempt form's questions, each with the hidden copy of the answer the page showed
    (`was`: the form post saves only the answers that changed, quizzes.student)."""
    return mark_safe(  # noqa: S308  # every value escaped
        "".join(
            f'{_fieldset(question, number)}<input type="hidden" name="was{question.position:d}"'
            f' value="{esc(was)}">'
            for number, (question, was) in enumerate(questions, start=1)
        )
    )


@register.simple_tag
def question_nav(questions: Iterable[tuple[PaperQuestion, str]]) -> SafeString:
    """The page's links to its questions, each marked answered or not."""
    answered = (' class="answered"', " (answered)")
    unanswered = ("", " (not answered)")
    return mark_safe(  # noqa: S308  # numbers and constants only
        "".join(
            f'<li><a href="#question-{number:d}" data-position="{question.position:d}"{marked}>'
            f'{number:d}<span class="visually-hidden state">{state}</span></a></li>'
            for number, (question, _was) in enumerate(questions, start=1)
            for marked, state in [answered if question.chosen else unanswered]
        )
    )
