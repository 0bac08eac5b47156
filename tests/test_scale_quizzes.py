"""Live quiz attempts on two real site processes sharing the database and Redis.

A student's attempt socket on process A, the mentors' live view on process B, the form
posted to either: every event crosses processes through the Redis channel layer, and the
deadline is closed by the processes' sweepers with no socket and no request at all.
"""

from __future__ import annotations

import asyncio
import contextlib
import json
from collections.abc import Iterator
from datetime import timedelta

import pytest
import websockets
from channels.db import database_sync_to_async
from django.conf import settings
from django.contrib.auth.models import Group
from django.test import Client
from django.urls import reverse
from django.utils import timezone

from courseware.models import Mentorship
from courseware.roles import MENTORS, STUDENTS
from quizzes.attempts import attempt_start
from quizzes.models import Attempt
from tests.conftest import make_user
from tests.quizkit import drawn, key_values
from tests.scalekit import redis_url, unique_prefix
from tests.servers import free_port, server_process

pytestmark = [pytest.mark.live, pytest.mark.django_db(transaction=True)]


@pytest.fixture(autouse=True)
def roles(transactional_db) -> None:
    """The role groups, which the flush after a transactional test removes."""
    for name in (STUDENTS, MENTORS):
        Group.objects.get_or_create(name=name)


@contextlib.contextmanager
def two_sites(**extra: str) -> Iterator[tuple[int, int]]:
    env = {
        "REDIS_URL": redis_url(),
        "CHANNEL_LAYER_PREFIX": unique_prefix("quizscale"),
        "QUIZ_SWEEP_SECONDS": "0.3",
        "QUIZ_CLOCK_SECONDS": "30",
        "LOG": "NONE",
        **extra,
    }
    a, b = free_port(), free_port()
    with (
        server_process(["serve", "--no-chat", "--site-port", str(a)], ports=[a], env=env),
        server_process(["serve", "--no-chat", "--site-port", str(b)], ports=[b], env=env),
    ):
        yield a, b


@pytest.fixture(scope="module")
def sites(django_db_setup, django_db_blocker) -> Iterator[tuple[int, int]]:
    """Two processes for the whole module; each test brings its own rows and sessions."""
    with django_db_blocker.unblock(), two_sites() as ports:
        yield ports


def cookie_of(user) -> str:
    client = Client()
    client.force_login(user)
    return f"{settings.SESSION_COOKIE_NAME}={client.cookies[settings.SESSION_COOKIE_NAME].value}"


@contextlib.asynccontextmanager
async def socket(port: int, path: str, cookie: str):
    headers = {"Cookie": cookie}
    async with websockets.connect(
        f"ws://127.0.0.1:{port}{path}",
        origin=f"http://127.0.0.1:{port}",
        additional_headers=headers,
    ) as ws:
        yield ws


async def next_of(ws, kind: str, timeout: float = 10) -> dict:
    """The next frame of type `kind`, skipping others (the clock, say)."""
    while True:
        frame = json.loads(await asyncio.wait_for(ws.recv(), timeout))
        if frame["type"] == kind:
            return frame


async def progress(ws, event: str, timeout: float = 10) -> dict:
    while True:
        frame = await next_of(ws, "progress", timeout)
        if frame["event"] == event:
            return frame


def attempt_path(attempt: Attempt) -> str:
    return f"/ws/quizzes/attempts/{attempt.pk}/"


def test_a_mentor_on_one_process_follows_a_student_answering_on_the_other(
    quiz, student, mentor, sites
):
    Mentorship.objects.create(mentor=mentor, student=student)
    stranger = make_user("stranger", group=STUDENTS)
    attempt = attempt_start(quiz=quiz, user=student)
    strangers = attempt_start(quiz=quiz, user=stranger)
    question = drawn(attempt)[0]
    cookies = {"student": cookie_of(student), "mentor": cookie_of(mentor)}
    cookies["stranger"] = cookie_of(stranger)
    a, b = sites

    async def scenario() -> None:
        async with socket(b, "/ws/mentor/live/", cookies["mentor"]) as live:
            snapshot = await next_of(live, "snapshot")
            assert [row["attempt"] for row in snapshot["attempts"]] == [attempt.pk]
            async with socket(a, attempt_path(strangers), cookies["stranger"]) as theirs:
                await next_of(theirs, "state")
            async with socket(a, attempt_path(attempt), cookies["student"]) as mine:
                await next_of(mine, "state")
                online = await progress(live, "online")
                assert online["attempt"] == attempt.pk  # the stranger's never came
                answer = {"type": "answer", "question": 0, "options": key_values(question)}
                await mine.send(json.dumps(answer))
                assert (await next_of(mine, "saved"))["answered"] == 1
                answered = await progress(live, "answered")
                assert (answered["attempt"], answered["answered"]) == (attempt.pk, 1)
            assert (await progress(live, "offline"))["attempt"] == attempt.pk

    asyncio.run(asyncio.wait_for(scenario(), 60))


def test_opening_the_attempt_on_another_process_takes_the_first_socket_over(quiz, student, sites):
    attempt = attempt_start(quiz=quiz, user=student)
    cookies = {"student": cookie_of(student)}
    a, b = sites

    async def scenario() -> None:
        async with socket(a, attempt_path(attempt), cookies["student"]) as first:
            await next_of(first, "state")
            async with socket(b, attempt_path(attempt), cookies["student"]) as second:
                assert (await next_of(second, "state"))["attempt"] == attempt.pk
                assert (await next_of(first, "taken_over"))["message"]
                with pytest.raises(websockets.ConnectionClosed):
                    await asyncio.wait_for(first.recv(), 10)
                assert first.close_code == 4409

    asyncio.run(asyncio.wait_for(scenario(), 60))


def test_a_form_submitted_to_one_process_ends_the_socket_on_the_other(quiz, student, sites):
    attempt = attempt_start(quiz=quiz, user=student)
    cookies = {"student": cookie_of(student)}
    a, b = sites

    async def scenario() -> None:
        async with socket(a, attempt_path(attempt), cookies["student"]) as ws:
            await next_of(ws, "state")
            path = reverse("quizzes:attempt", args=[quiz.slug, attempt.pk])
            # A real POST to process B, with the CSRF token its page handed out.
            http = f"http://127.0.0.1:{b}"
            response = await asyncio.to_thread(post_form, http, path, cookies["student"])
            assert response == 302
            finished = await next_of(ws, "finished")
            assert finished["status"] == "submitted"
            with pytest.raises(websockets.ConnectionClosed):
                await asyncio.wait_for(ws.recv(), 10)
            assert ws.close_code == 4410

    asyncio.run(asyncio.wait_for(scenario(), 60))
    assert Attempt.objects.get(pk=attempt.pk).status == "submitted"
    assert Attempt.objects.filter(user=student, quiz=quiz).count() == 1


def post_form(base: str, path: str, cookie: str) -> int:
    """GET the attempt page for its CSRF token, then submit it, as a browser does."""
    import http.client
    import re
    from urllib.parse import urlencode, urlsplit

    host = urlsplit(base)
    conn = http.client.HTTPConnection(host.hostname, host.port, timeout=10)
    conn.request("GET", path, headers={"Cookie": cookie})
    page = conn.getresponse()
    body = page.read().decode()
    token = re.search(r'name="csrfmiddlewaretoken" value="([^"]+)"', body).group(1)
    csrf_cookie = re.search(r"csrftoken=([^;]+)", page.getheader("Set-Cookie") or "")
    cookies = cookie + (f"; csrftoken={csrf_cookie.group(1)}" if csrf_cookie else "")
    form = urlencode({"csrfmiddlewaretoken": token, "action": "submit", "confirm": "1"})
    conn.request(
        "POST",
        path,
        body=form,
        headers={
            "Cookie": cookies,
            "Content-Type": "application/x-www-form-urlencoded",
            "Referer": base + path,
            "Origin": base,
        },
    )
    status = conn.getresponse().status
    conn.close()
    return status


def test_the_deadline_is_closed_once_by_two_sweeping_processes_with_no_socket_open(
    quiz, student, mentor, sites
):
    Mentorship.objects.create(mentor=mentor, student=student)
    attempt = attempt_start(quiz=quiz, user=student)
    cookies = {"mentor": cookie_of(mentor)}
    a, b = sites

    async def scenario() -> list[dict]:
        views = []
        async with (
            socket(a, "/ws/mentor/live/", cookies["mentor"]) as on_a,
            socket(b, "/ws/mentor/live/", cookies["mentor"]) as on_b,
        ):
            for view in (on_a, on_b):
                await next_of(view, "snapshot")
            # Due in a second; no student socket is open, nor ever was.
            await database_sync_to_async(Attempt.objects.filter(pk=attempt.pk).update)(
                deadline=timezone.now() + timedelta(seconds=1)
            )
            for view in (on_a, on_b):
                views.append(await progress(view, "expired"))
            # Both processes sweep every 0.3 s: the attempt is still announced only once.
            for view in (on_a, on_b):
                with pytest.raises(TimeoutError):
                    await progress(view, "expired", timeout=1.5)
        return views

    views = asyncio.run(asyncio.wait_for(scenario(), 60))
    assert [v["attempt"] for v in views] == [attempt.pk, attempt.pk]
    assert {v["status"] for v in views} == {"expired"}
    assert Attempt.objects.filter(user=student, quiz=quiz).count() == 1
    assert Attempt.objects.get(pk=attempt.pk).status == "expired"
