"""Security headers, uncached attempt pages, friendly error pages and the favicon."""

from __future__ import annotations

import re

import pytest
from django.http import HttpRequest, HttpResponse
from django.test import Client
from django.urls import path

from courseware.urls import urlpatterns as site_urlpatterns
from quizzes.attempts import attempt_start, attempt_submit
from tests.quizkit import DEMO, client_for, load_quiz
from tests.servers import ROOT

# What the policy blocks: inline <script> and <style> elements, style="" and on...="".
INLINE = re.compile(r"<script(?![^>]*\bsrc=)[^>]*>|<style\b|\sstyle=|\son[a-z]+=", re.I)


def boom(request: HttpRequest) -> HttpResponse:
    raise RuntimeError("a bug in a view")


# The site's URLs plus one view that fails, for the 500 page (used with pytest.mark.urls).
urlpatterns = [path("boom/", boom), *site_urlpatterns]


@pytest.fixture
def finished(module, student):
    """A graded attempt of the demo test (its review opens after submit) and its URL prefix."""
    quiz = load_quiz(DEMO)
    attempt = attempt_submit(attempt=attempt_start(quiz=quiz, user=student))
    return attempt, f"/quizzes/{quiz.slug}/attempts/{attempt.pk}"


def policy_of(response: HttpResponse) -> dict[str, list[str]]:
    """The Content-Security-Policy header as {directive: sources}."""
    directives = [part.split() for part in response["Content-Security-Policy"].split(";")]
    return {name: sources for name, *sources in directives}


def test_every_kind_of_html_page_carries_the_strict_policy(finished, student, mentor, admin_user):
    """Student, mentor, admin and anonymous pages all send the same strict policy."""
    attempt, prefix = finished
    pages = {
        Client(): ["/", "/accounts/login/", "/admin/login/", "/no-such-page/"],
        client_for(student): [
            "/modules/st2-websockets/",
            "/quizzes/demo-quiz/",
            f"{prefix}/result/",
            f"{prefix}/review/",
            "/chat/reports/",
            "/mentor/",  # a 403 page
        ],
        client_for(mentor): ["/mentor/", f"/mentor/attempts/{attempt.pk}/", "/chat/console/"],
        client_for(admin_user): ["/admin/", "/admin/quizzes/question/", "/mentor/live/"],
    }
    for client, urls in pages.items():
        for url in urls:
            response = client.get(url)
            assert response["Content-Type"].startswith("text/html"), url
            policy = policy_of(response)
            assert policy["default-src"] == ["'self'"], url
            assert policy["script-src"] == ["'self'"], url
            assert policy["style-src"] == ["'self'"], url
            assert policy["img-src"] == ["'self'", "data:"], url
            assert policy["connect-src"] == ["'self'", "ws://testserver", "wss://testserver"]
            assert policy["frame-ancestors"] == ["'none'"], url
            assert policy["form-action"] == ["'self'"], url
            assert policy["base-uri"] == ["'none'"], url


def test_the_policy_names_the_host_the_page_was_served_from(db, client):
    """The sockets go to the page's own host and port, so connect-src names exactly that."""
    response = client.get("/", HTTP_HOST="localhost:8000")
    assert policy_of(response)["connect-src"][1:] == ["ws://localhost:8000", "wss://localhost:8000"]
    # An IPv6 literal cannot be written in a policy: 'self' alone covers it.
    response = client.get("/", HTTP_HOST="[::1]:8000")
    assert policy_of(response)["connect-src"] == ["'self'"]


def test_attempt_result_and_review_pages_are_never_stored(module, student, finished):
    """Pages of an attempt send no-store; the test's own page may be cached as usual."""
    _, prefix = finished
    client = client_for(student)
    running = attempt_start(quiz=load_quiz("fixtures/quizzes/st2-websockets.yaml"), user=student)
    urls = [
        f"/quizzes/st2-websockets/attempts/{running.pk}/",
        f"/quizzes/st2-websockets/attempts/{running.pk}/submit/",
        f"{prefix}/result/",
        f"{prefix}/review/",
    ]
    for url in urls:
        response = client.get(url)
        assert response.status_code == 200, url
        assert "no-store" in response["Cache-Control"], url
        assert "private" in response["Cache-Control"], url
    assert "no-store" not in client.get("/quizzes/demo-quiz/").get("Cache-Control", "")


@pytest.fixture
def debug_off(settings) -> None:
    settings.DEBUG = False


def test_a_missing_page_gets_the_sites_404_page(debug_off, client, student):
    """A 404 keeps the site's header and navigation and offers a way back."""
    client.force_login(student)
    response = client.get("/quizzes/no-such-test/")
    assert response.status_code == 404
    html = response.content.decode()
    assert "<h1>Page not found</h1>" in html
    assert 'class="site-header"' in html and "Signed in as <strong>alice</strong>" in html
    assert 'href="/">Go to the modules</a>' in html


def test_a_forbidden_page_gets_the_sites_403_page_without_the_internal_reason(
    debug_off, client, student
):
    """A student on a mentor page sees a friendly 403, not the exception's text."""
    client.force_login(student)
    response = client.get("/mentor/")
    assert response.status_code == 403
    html = response.content.decode()
    assert "<h1>This page is not for your account</h1>" in html
    assert 'class="site-header"' in html
    assert "mentors and admins" not in html


def test_a_form_without_a_csrf_token_gets_the_sites_form_expired_page(debug_off, student):
    """A CSRF failure explains what to do instead of Django's bare page."""
    client = Client(enforce_csrf_checks=True)
    response = client.post("/accounts/login/", {"username": "alice", "password": "x"})
    assert response.status_code == 403
    html = response.content.decode()
    assert "<h1>This form could not be sent</h1>" in html
    assert "allow cookies for this site" in html
    assert 'class="site-header"' in html


@pytest.mark.urls("tests.test_site_security")
def test_a_crashing_view_gets_the_sites_500_page_without_touching_the_database(
    debug_off, db, django_assert_num_queries
):
    """The 500 page renders with no context and no queries, and shows no error details."""
    client = Client(raise_request_exception=False)
    with django_assert_num_queries(0):
        response = client.get("/boom/")
    assert response.status_code == 500
    html = response.content.decode()
    assert "<h1>Something went wrong on our side</h1>" in html
    assert 'class="site-header"' in html and 'href="/accounts/login/?next="' in html
    assert "a bug in a view" not in html and "RuntimeError" not in html


def test_pages_link_the_favicon_and_favicon_ico_leads_to_it(db, client):
    """Browsers asking for /favicon.ico get the site's SVG icon instead of a 404."""
    html = client.get("/").content.decode()
    assert '<link rel="icon" href="/static/courseware/favicon.svg" type="image/svg+xml">' in html

    response = client.get("/favicon.ico")
    assert response.status_code == 302
    assert response["Location"] == "/static/courseware/favicon.svg"
    icon = client.get(response["Location"])
    assert icon.status_code == 200
    assert icon["Content-Type"] == "image/svg+xml"
    assert b"<svg" in b"".join(icon.streaming_content)


def test_no_template_of_ours_has_inline_script_style_or_handlers():
    """Pages the browser test does not visit stay within the policy too."""
    templates = [
        t
        for app in ("courseware", "quizzes", "chat", "grader", "mentors")
        for t in (ROOT / app).rglob("*.html")
    ]
    assert len(templates) > 20
    found = [
        f"{t.relative_to(ROOT)}: {m.group()}"
        for t in templates
        for m in INLINE.finditer(t.read_text())
    ]
    assert found == []
