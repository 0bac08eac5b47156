"""Student pages of a test: rules and Start, the attempt form, confirm, result, review.

Thin: each view checks the attempt is the student's own (someone else's is a 404:
its existence is not theirs to know), grades it first if its time ran out, then
calls quizzes.attempts. Every page works without JavaScript.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import replace

from django.contrib import messages
from django.contrib.auth.decorators import login_required
from django.http import Http404, HttpRequest, HttpResponse
from django.shortcuts import redirect, render
from django.urls import reverse
from django.utils import timezone
from django.views.decorators.http import require_http_methods, require_POST

from courseware.roles import SignedInRequest
from courseware.rowreads import read_row
from quizzes import grading, live
from quizzes.attemptrows import student_attempts
from quizzes.attempts import (
    AttemptClosed,
    RateLimited,
    StartRefused,
    attempt_submit,
    quiz_may_start,
)
from quizzes.feedback import attempt_feedback
from quizzes.models import Attempt, Quiz, Result
from quizzes.overrides import override_notes, quiz_rules_for, student_grants
from quizzes.paper import attempt_paper, attempt_save_values
from quizzes.retakes import (
    ReplaceNotConfirmed,
    attempt_start_confirmed,
    replace_warning,
)
from quizzes.review import attempt_review
from quizzes.student import (
    form_answers,
    objective_breakdown,
    rules_in_words,
    unanswered,
)


# Every student request starts with one of these two reads, written out (courseware.rowreads).
def _quiz(slug: str) -> Quiz:
    found = read_row(Quiz, "module", where="t0.slug = %s", params=[slug])
    if found is None:
        raise Http404("No such test.")
    return found[0]


def _own_attempt(request: SignedInRequest, slug: str, pk: int) -> Attempt:
    """The request user's attempt, graded first if its time ran out; 404 for anyone else's."""
    found = read_row(
        Attempt,
        "quiz",
        "quiz__module",
        where="t0.id = %s AND t1.slug = %s AND t0.user_id = %s",
        params=[pk, slug, request.user.pk],
    )
    if found is None:
        raise Http404("No such attempt.")
    attempt = found[0]
    # It is the request's user (the filter above): no join to read that row again.
    attempt.user = request.user
    if attempt.is_overdue(timezone.now()):
        live.expire_overdue_for(quiz=attempt.quiz, user=attempt.user)
        _reread(attempt)
    return attempt


def _reread(attempt: Attempt) -> None:
    """Read the attempt's row again; its quiz and user stay (refresh_from_db drops them)."""
    quiz, user = attempt.quiz, attempt.user
    attempt.refresh_from_db()
    attempt.quiz, attempt.user = quiz, user


def _attempt_url(attempt: Attempt) -> str:
    return reverse("quizzes:attempt", args=[attempt.quiz.slug, attempt.pk])


def _result_redirect(request: HttpRequest, attempt: Attempt) -> HttpResponse:
    if attempt.status == Attempt.Status.EXPIRED:
        messages.info(request, "Time ran out: the answers saved before the deadline were graded.")
    return redirect(live.result_url(attempt))


def quiz_detail(request: HttpRequest, slug: str) -> HttpResponse:
    quiz = _quiz(slug)
    pool_size = quiz.active_questions().count()
    context = {
        "quiz": quiz,
        "rules": rules_in_words(quiz, pool_size=pool_size),
    }
    if request.user.is_authenticated:
        # Each fact is read once; the start decision is then pure (quizzes.grading).
        attempts = student_attempts(quiz, request.user)[::-1]
        now = timezone.now()
        if any(a.is_overdue(now) for a in attempts):
            # Rare: the sweep has not graded it yet. Never a query per request otherwise.
            live.expire_overdue_for(quiz=quiz, user=request.user)
            attempts = student_attempts(quiz, request.user)[::-1]
        # One read of the student's grants, for the rules and for the page's notes.
        grants = student_grants(quiz=quiz, user=request.user)
        rules = quiz_rules_for(quiz=quiz, user=request.user, grants=grants)
        decision = grading.may_start(
            rules=rules,
            attempts=[grading.PastAttempt(a.number, a.started_at, a.is_finished) for a in attempts],
            now=timezone.localtime(now),
            pool_size=pool_size,
        )
        wait = None
        if not decision.allowed and decision.available_at and decision.available_at > now:
            wait = int((decision.available_at - now).total_seconds()) + 1
        current = next((a for a in attempts if not a.is_finished), None)
        result = Result.objects.filter(quiz=quiz, user=request.user).first()
        at_stake = None
        if decision.allowed and current is None:
            counted = result.score if result is not None else None
            at_stake = grading.score_at_risk(rules=quiz.rules(), counted=counted)
        context |= {
            "attempts": attempts,
            "replace_warning": replace_warning(at_stake) if at_stake is not None else None,
            "current": current,
            "used": len(attempts),
            "decision": decision,
            "wait_seconds": wait,
            "result": result,
            "max_attempts": rules.max_attempts,
            "grants": override_notes(grants),
        }
    return render(request, "quizzes/quiz_detail.html", context)


@login_required
@require_POST
def start(request: SignedInRequest, slug: str) -> HttpResponse:
    quiz = _quiz(slug)
    # An attempt whose time ran out is graded inside the start, under the student's lock.
    now = timezone.now()
    try:
        attempt = attempt_start_confirmed(
            quiz=quiz,
            user=request.user,
            now=now,
            confirmed=request.POST.get("replace") == "confirmed",
        )
    except ReplaceNotConfirmed as exc:
        # The no-JavaScript path (and any stale page): ask here, start nothing.
        context = {
            "quiz": quiz,
            "warning": str(exc),
            "decision": quiz_may_start(quiz=quiz, user=request.user, now=now),
        }
        return render(request, "quizzes/start_confirm.html", context)
    except StartRefused as exc:
        messages.error(request, str(exc))
        return redirect("quizzes:quiz", quiz.slug)
    if attempt.started_at == now:  # new, not the one already in progress
        live.publish_sync(live.announcements(attempt, "started", answered=0))
    return redirect(_attempt_url(attempt))


def _paper_context(attempt: Attempt, kept: Mapping[int, list[str]] | None = None) -> dict:
    """The attempt page; `kept` shows choices that were not saved, to be saved again."""
    stored = attempt_paper(attempt)
    kept = kept or {}
    # was<pos> stays what is stored, so a second Save sends the kept choices again.
    paper = [
        replace(q, chosen=frozenset(kept[q.position])) if q.position in kept else q for q in stored
    ]
    deadline = attempt.deadline
    remaining = None
    if deadline is not None:
        remaining = max(int((deadline - timezone.now()).total_seconds()), 0)
    return {
        "attempt": attempt,
        "quiz": attempt.quiz,
        "questions": [(q, ",".join(sorted(s.chosen))) for q, s in zip(paper, stored, strict=True)],
        "paper": paper,
        "answered": sum(1 for q in paper if q.chosen),
        "total": len(paper),
        "remaining": remaining,
    }


@login_required
@require_http_methods(["GET", "POST"])
def attempt_page(request: SignedInRequest, slug: str, pk: int) -> HttpResponse:
    attempt = _own_attempt(request, slug, pk)
    if attempt.is_finished:
        return _result_redirect(request, attempt)
    if request.method == "GET":
        return render(request, "quizzes/attempt.html", _paper_context(attempt))

    answers = form_answers(request.POST, attempt.question_count)
    problems = list(answers.problems)
    try:
        # One write per changed answer, from the allowance the socket uses too.
        saved = attempt_save_values(attempt=attempt, choices=answers.changed)
    except RateLimited as exc:
        context = _paper_context(attempt, kept=answers.changed) | {"problems": [str(exc)]}
        return render(request, "quizzes/attempt.html", context, status=429)
    except AttemptClosed:
        live.expire_overdue_for(quiz=attempt.quiz, user=attempt.user)
        _reread(attempt)
        return _result_redirect(request, attempt)
    problems += [saved.problems[p] for p in sorted(saved.problems)]
    if saved.answers:
        live.publish_sync(live.announcements(attempt, "answered", answered=saved.answered))
    if problems:
        context = _paper_context(attempt) | {"problems": problems}
        return render(request, "quizzes/attempt.html", context, status=400)

    if request.POST.get("action") != "submit":
        messages.success(request, "Your answers are saved.")
        return redirect(_attempt_url(attempt))
    if request.POST.get("confirm") != "1" and unanswered(attempt_paper(attempt)):
        return redirect("quizzes:confirm", slug, attempt.pk)
    return _submit(request, attempt)


def _submit(request: HttpRequest, attempt: Attempt) -> HttpResponse:
    try:
        attempt = attempt_submit(attempt=attempt)
    except AttemptClosed:
        _reread(attempt)
        return _result_redirect(request, attempt)
    # The grading counted the answered questions: no query to count them again.
    answered = getattr(attempt, "answered", None)
    live.publish_sync(live.announcements(attempt, attempt.status, answered=answered))
    return _result_redirect(request, attempt)


@login_required
@require_http_methods(["GET", "POST"])
def confirm(request: SignedInRequest, slug: str, pk: int) -> HttpResponse:
    """Without JavaScript: list the unanswered questions before a submit."""
    attempt = _own_attempt(request, slug, pk)
    if attempt.is_finished:
        return _result_redirect(request, attempt)
    if request.method == "POST":
        return _submit(request, attempt)
    paper = attempt_paper(attempt)
    context = {
        "attempt": attempt,
        "quiz": attempt.quiz,
        "unanswered": unanswered(paper),
        "total": len(paper),
    }
    return render(request, "quizzes/confirm.html", context)


@login_required
def result(request: SignedInRequest, slug: str, pk: int) -> HttpResponse:
    attempt = _own_attempt(request, slug, pk)
    if not attempt.is_finished:
        return redirect(_attempt_url(attempt))
    quiz = attempt.quiz
    # Each fact once: the student's rules, attempts and counted score feed the pure rules.
    rules = quiz_rules_for(quiz=quiz, user=request.user)
    # Read once for the feedback and the breakdown.
    questions = list(attempt.questions.select_related("version__objective").with_chosen())
    feedback = attempt_feedback(attempt=attempt, rules=rules, questions=questions)
    history = student_attempts(quiz, request.user)[::-1]
    now = timezone.now()
    decision = grading.may_start(
        rules=rules,
        attempts=[grading.PastAttempt(a.number, a.started_at, a.is_finished) for a in history],
        now=timezone.localtime(now),
        pool_size=quiz.active_questions().count(),
    )
    # The counted score follows from the attempts (the Result row stores the same).
    counted = grading.counted_score(
        counting=rules.counting,
        scores=[(a.number, a.score) for a in history if a.is_finished and a.score is not None],
    )
    at_stake = None
    if decision.allowed and all(a.is_finished for a in history):
        score = counted.score if counted is not None else None
        at_stake = grading.score_at_risk(rules=quiz.rules(), counted=score)
    context = {
        "attempt": attempt,
        "quiz": quiz,
        "passed": attempt.accuracy is not None and attempt.accuracy >= quiz.threshold_percent,
        "counted": counted,
        "history": history,
        "breakdown": objective_breakdown(attempt, questions),
        "feedback": feedback,
        "review": feedback.access,
        "decision": decision,
        "at_stake": at_stake,
    }
    return render(request, "quizzes/result.html", context)


@login_required
def review(request: SignedInRequest, slug: str, pk: int) -> HttpResponse:
    attempt = _own_attempt(request, slug, pk)
    if not attempt.is_finished:
        return redirect(_attempt_url(attempt))
    shown = attempt_review(attempt=attempt)
    context = {
        "attempt": attempt,
        "quiz": attempt.quiz,
        "review": shown,
        "questions": [(q, any(o.chosen for o in q.options)) for q in shown.questions],
    }
    # The policy, not a missing page: say why and when it opens.
    status = 200 if shown.access.allowed else 403
    return render(request, "quizzes/review.html", context, status=status)
