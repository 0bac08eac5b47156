"""Nothing a student's browser receives gives the answers away before the review policy allows.

Two walks through a whole attempt of the real "[St2] WebSockets" bank: one with Django's
client and Channels' communicator (both database/layer configurations), one in a real
browser that records every HTTP response and every WebSocket frame it receives. Each
body and frame is searched for correct flags, explanations, question keys and the texts
of the questions this attempt did not draw.
"""

from __future__ import annotations

import json

import pytest
from channels.db import database_sync_to_async
from channels.testing import WebsocketCommunicator
from django.test import Client
from django.urls import reverse
from django.utils import timezone

from courseware.asgi import application
from quizzes.models import Attempt, Quiz
from tests.leakcheck import LeakCheck
from tests.quizkit import (
    ORIGIN,
    client_for,
    drawn,
    key_values,
    session_cookie,
    wrong_values,
)
from tests.servers import free_port, server_process

pytestmark = [pytest.mark.django_db(transaction=True), pytest.mark.usefixtures("fresh_db_after")]


def record(check: LeakCheck, log: list[str], response, name: str) -> None:
    log += check.problems(name, response.content.decode())


async def test_a_whole_attempt_leaks_nothing_in_pages_or_frames(st2, student):
    client = await database_sync_to_async(client_for)(student)
    responses: list[tuple[str, str]] = []

    def fetch(name: str, method: str, path: str, data=None, **kwargs) -> Client:
        response = getattr(client, method)(path, data or {}, follow=True, **kwargs)
        assert response.status_code in (200, 403), (name, response.status_code)
        responses.append((name, response.content.decode()))
        return response

    def walk_start() -> Attempt:
        responses.append(
            ("anonymous test page", Client().get("/quizzes/st2-websockets/").content.decode())
        )
        fetch("test page", "get", "/quizzes/st2-websockets/")
        fetch("start", "post", reverse("quizzes:start", args=["st2-websockets"]))
        return Attempt.objects.get(user=student)

    attempt = await database_sync_to_async(walk_start)()
    check = await database_sync_to_async(LeakCheck)(st2, attempt)
    questions = await database_sync_to_async(drawn)(attempt)

    frames: list[str] = []
    cookie = await database_sync_to_async(session_cookie)(student)
    socket = WebsocketCommunicator(
        application, f"/ws/quizzes/attempts/{attempt.pk}/", headers=[ORIGIN, cookie]
    )
    assert (await socket.connect())[0]
    frames.append(await socket.receive_from(timeout=3))
    for question in questions[:12]:
        await socket.send_json_to(
            {"type": "answer", "question": question.position, "options": key_values(question)}
        )
        frames.append(await socket.receive_from(timeout=3))
    for probe in [
        {"type": "answer", "question": 0, "options": [1]},
        {"type": "answer", "question": 500, "options": []},
        {"type": "sync"},
        {"type": "key"},
    ]:
        await socket.send_json_to(probe)
        frames.append(await socket.receive_from(timeout=3))

    def walk_rest() -> None:
        page = reverse("quizzes:attempt", args=["st2-websockets", attempt.pk])
        fetch("attempt page", "get", page)
        data = {f"was{q.position}": "" for q in questions[12:18]}
        data |= {f"q{q.position}": wrong_values(q) for q in questions[12:18]}
        fetch("save", "post", page, data | {"action": "save"})
        fetch("submit with gaps", "post", page, {"action": "submit"})
        fetch("confirm", "post", reverse("quizzes:confirm", args=["st2-websockets", attempt.pk]))
        for name in ["result", "review"]:
            fetch(name, "get", reverse(f"quizzes:{name}", args=["st2-websockets", attempt.pk]))
        fetch("test page after", "get", "/quizzes/st2-websockets/")

    await database_sync_to_async(walk_rest)()
    # The socket learns of the submit; a socket opened afterwards is told too.
    while True:
        frame = await socket.receive_from(timeout=3)
        frames.append(frame)
        if json.loads(frame)["type"] == "finished":
            break
    await socket.disconnect()
    late = WebsocketCommunicator(
        application, f"/ws/quizzes/attempts/{attempt.pk}/", headers=[ORIGIN, cookie]
    )
    assert (await late.connect())[0]
    frames.append(await late.receive_from(timeout=3))
    await late.disconnect()

    problems: list[str] = []
    for name, body in responses:
        problems += check.problems(name, body)
    for i, frame in enumerate(frames):
        problems += check.problems(f"frame {i}", frame)
    assert problems == []
    assert check.seen >= 30
    graded = await database_sync_to_async(Attempt.objects.get)(pk=attempt.pk)
    assert (graded.status, graded.correct_count) == ("submitted", 12)
    # The walk really reached the pages that matter.
    names = [n for n, _ in responses]
    assert {"attempt page", "confirm", "result", "review"} <= set(names)
    # The shipped policy opens review right after submit, so the search covered the open
    # review page and the result page's missed questions too.
    assert "Review of wrong answers is open." in dict(responses)["review"]
    assert dict(responses)["result"].count('class="feedback-question"') == 8


def test_the_search_finds_explanations_and_the_key_once_the_policy_shows_them(st2, student):
    """The check above is not blind: after the close, a policy with key and explanations
    puts them on the review page, and the same search reports them."""
    client = client_for(student)
    client.post(reverse("quizzes:start", args=["st2-websockets"]))
    attempt = Attempt.objects.get(user=student)
    check = LeakCheck(st2, attempt)
    page = reverse("quizzes:attempt", args=["st2-websockets", attempt.pk])
    client.post(page, {"action": "submit", "confirm": "1"})
    Quiz.objects.filter(pk=st2.pk).update(
        closes_at=timezone.now(), review_show_key=True, review_show_explanations=True
    )
    html = client.get(reverse("quizzes:review", args=["st2-websockets", attempt.pk])).content
    found = check.problems("review", html.decode())
    assert any("explanation" in p for p in found)
    assert any("correct flag" in p for p in found)
    assert not any("undrawn" in p for p in found)


def test_someone_elses_attempt_gives_nothing_away(st2, student, other_student):
    client_for(student).post(reverse("quizzes:start", args=["st2-websockets"]))
    attempt = Attempt.objects.get(user=student)
    intruder = client_for(other_student)
    for name in ["attempt", "confirm", "result", "review"]:
        response = intruder.get(reverse(f"quizzes:{name}", args=["st2-websockets", attempt.pk]))
        assert response.status_code == 404
        assert drawn(attempt)[0].version.text[:40] not in response.content.decode()


@pytest.mark.browser
@pytest.mark.live
def test_a_browser_receives_no_answers_during_a_whole_attempt(browser, st2, student):
    """Every response body and WebSocket frame the browser gets, from the module page on."""
    Quiz.objects.filter(pk=st2.pk).update(cooldown_hours=0)
    port = free_port()
    base = f"http://127.0.0.1:{port}"
    context = browser.new_context()
    _, value = session_cookie(student)
    context.add_cookies(
        [{"name": "sessionid", "value": value.decode().split("=", 1)[1], "url": base}]
    )
    page = context.new_page()
    page.set_default_timeout(10_000)
    bodies: list[tuple[str, str]] = []
    frames: list[str] = []

    def on_response(response) -> None:
        try:
            bodies.append((response.url, response.text()))
        except Exception:  # redirects have no body
            bodies.append((response.url, ""))

    page.on("response", on_response)
    page.on("websocket", lambda ws: ws.on("framereceived", lambda frame: frames.append(frame)))

    with server_process(["serve", "--no-chat", "--site-port", str(port)], ports=[port]):
        page.goto(f"{base}/modules/st2-websockets/")
        page.get_by_role("link", name="[St2] WebSockets auto test").click()
        page.get_by_role("button", name="Start attempt 1").click()
        page.wait_for_selector("#attempt-live:has-text('Connected')")
        attempt = Attempt.objects.get(user=student)
        questions = drawn(attempt)
        for question in questions[:19]:
            for value in key_values(question):
                page.locator(f'input[name="q{question.position}"][value="{value}"]').check()
        page.wait_for_selector("#attempt-live:has-text('All answers saved.')")
        page.reload()
        page.wait_for_selector("#attempt-live:has-text('Connected')")
        page.get_by_role("button", name="Submit attempt").click()
        page.get_by_role("button", name="Submit anyway").click()
        page.wait_for_url("**/result/")
        page.goto(f"{base}/quizzes/st2-websockets/")
        page.goto(f"{base}/quizzes/st2-websockets/attempts/{attempt.pk}/review/")
        page.wait_for_load_state()
        context.close()

    attempt.refresh_from_db()
    assert (attempt.status, attempt.correct_count) == ("submitted", 19)
    check = LeakCheck(st2, attempt)
    problems: list[str] = []
    for url, body in bodies:
        problems += check.problems(url, body)
    for i, frame in enumerate(frames):
        problems += check.problems(f"frame {i}", frame if isinstance(frame, str) else "")
    assert problems == []
    urls = [url for url, _ in bodies]
    assert any(u.endswith("/static/quizzes/attempt.js") for u in urls)
    assert any(u.endswith("/result/") for u in urls) and any(u.endswith("/review/") for u in urls)
    types = [json.loads(f)["type"] for f in frames]
    assert types.count("saved") >= 19 and types.count("state") == 2 and "finished" in types
