"""The live attempt socket through the full ASGI application, and the deadline sweeper."""

from __future__ import annotations

import asyncio
import contextlib
import json
import os
import threading
import time
import urllib.request
from datetime import timedelta

import msgpack
import pytest
import websockets
from channels.db import database_sync_to_async
from channels.layers import get_channel_layer
from channels.testing import WebsocketCommunicator
from django.db import connection
from django.urls import reverse
from django.utils import timezone

from quizzes import live
from quizzes.attempts import AttemptClosed, attempt_answer, attempt_start
from quizzes.models import Attempt
from tests.conftest import make_user
from tests.quizkit import (
    ORIGIN,
    client_for,
    drawn,
    form_data,
    key_of,
    key_values,
    next_frame,
    opened,
    session_cookie,
    socket_for,
)
from tests.servers import free_port, server_process

pytestmark = [
    pytest.mark.django_db(transaction=True),
    pytest.mark.usefixtures("fresh_db_after", "own_layer"),
]

db = database_sync_to_async


@pytest.fixture
def attempt(quiz, student) -> Attempt:
    return attempt_start(quiz=quiz, user=student)


@pytest.fixture
def cookie(student) -> tuple[bytes, bytes]:
    return session_cookie(student)


async def closed_with(socket: WebsocketCommunicator) -> int:
    while True:
        message = await socket.receive_output(timeout=3)
        if message["type"] == "websocket.close":
            return message["code"]


async def listen(group: str) -> str:
    layer = get_channel_layer()
    channel = await layer.new_channel()
    await layer.group_add(group, channel)
    return channel


async def events(channel: str, count: int) -> list[dict]:
    layer = get_channel_layer()
    return [await asyncio.wait_for(layer.receive(channel), 3) for _ in range(count)]


async def test_the_owner_gets_the_state_with_saved_answers_and_the_server_clock(attempt, cookie):
    question = (await db(drawn)(attempt))[1]
    await db(attempt_answer)(attempt=attempt, position=1, option_ids=key_of(question))
    await db(Attempt.objects.filter(pk=attempt.pk).update)(
        deadline=timezone.now() + timedelta(minutes=10)
    )
    socket, state = await opened(attempt.pk, cookie)
    assert state["type"] == "state"
    assert state["attempt"] == attempt.pk and state["status"] == "open"
    assert state["answers"] == {"1": key_values(question)}
    assert (state["answered"], state["total"]) == (1, 4)
    assert 595 < state["remaining"] <= 600
    time_frame = await socket.receive_json_from(timeout=3)
    assert time_frame["type"] == "time" and 595 < time_frame["remaining"] <= 600
    await socket.disconnect()


async def test_each_answer_is_saved_as_chosen_and_acknowledged(attempt, cookie):
    socket, _ = await opened(attempt.pk, cookie)
    questions = await db(drawn)(attempt)
    await socket.send_json_to(
        {"type": "answer", "question": 2, "options": key_values(questions[2]), "ref": "a1"}
    )
    saved = await next_frame(socket)
    assert saved == {
        "type": "saved",
        "question": 2,
        "options": key_values(questions[2]),
        "answered": 1,
        "total": 4,
        "ref": "a1",
    }
    stored = await db(lambda: drawn(attempt)[2].answer.chosen)()
    assert stored == key_of(questions[2])
    # An empty list clears the answer.
    await socket.send_json_to({"type": "answer", "question": 2, "options": []})
    assert (await next_frame(socket))["answered"] == 0
    await socket.disconnect()


async def test_bad_frames_get_an_error_frame_and_the_socket_stays_open(attempt, cookie):
    socket, _ = await opened(attempt.pk, cookie)
    questions = await db(drawn)(attempt)
    single = next(q for q in questions if q.version.kind == "single")
    bad = [
        ("{not json", "bad_frame"),
        ("[1, 2]", "bad_frame"),
        (json.dumps({"type": "grade_me"}), "bad_frame"),
        (json.dumps({"type": "answer", "question": "1", "options": []}), "bad_frame"),
        (json.dumps({"type": "answer", "question": 0, "options": [True]}), "bad_frame"),
        (json.dumps({"type": "answer", "question": 99, "options": []}), "bad_answer"),
        # Option ids are not what the page names options by: refused as malformed.
        (json.dumps({"type": "answer", "question": 0, "options": [10**9]}), "bad_frame"),
        (json.dumps({"type": "answer", "question": 0, "options": ["0" * 16]}), "bad_answer"),
        (
            json.dumps(
                {"type": "answer", "question": single.position, "options": single.option_values[:2]}
            ),
            "bad_answer",
        ),
        ("x" * 5000, "too_big"),
    ]
    for text, code in bad:
        await socket.send_to(text_data=text)
        frame = await next_frame(socket)
        assert (frame["type"], frame["code"]) == ("error", code), text[:40]
        assert frame["message"]
    await socket.send_to(bytes_data=b"\x00\x01")
    assert (await next_frame(socket))["code"] == "bad_frame"
    # Still open and working, and nothing was stored.
    await socket.send_json_to({"type": "sync"})
    assert (await next_frame(socket))["answers"] == {}
    await socket.disconnect()


async def test_a_flood_of_frames_is_slowed_down_without_closing(attempt, cookie):
    socket, _ = await opened(attempt.pk, cookie)
    for _ in range(30):
        await socket.send_json_to({"type": "nothing"})
    codes = [(await next_frame(socket))["code"] for _ in range(30)]
    assert "rate_limited" in codes and codes.count("bad_frame") >= 20
    await socket.disconnect()


async def test_other_students_anonymous_visitors_and_foreign_origins_are_refused(
    attempt, other_student, cookie
):
    intruder = await db(session_cookie)(other_student)
    for headers in [
        (ORIGIN, intruder),
        (ORIGIN,),
        ((b"origin", b"http://evil.example"), cookie),
        (cookie,),
    ]:
        socket = socket_for(attempt.pk, *headers)
        connected, _ = await socket.connect()
        assert not connected
        await socket.disconnect()
    socket = socket_for(attempt.pk + 1000, ORIGIN, cookie)
    assert not (await socket.connect())[0]
    await socket.disconnect()


async def test_a_second_socket_takes_over_and_the_first_is_told_and_closed(attempt, cookie):
    first, _ = await opened(attempt.pk, cookie)
    second, state = await opened(attempt.pk, cookie)
    assert state["type"] == "state"
    told = await next_frame(first)
    assert told["type"] == "taken_over" and "another tab" in told["message"]
    assert await closed_with(first) == 4409
    # The new socket carries on.
    question = (await db(drawn)(attempt))[0]
    await second.send_json_to({"type": "answer", "question": 0, "options": key_values(question)})
    assert (await next_frame(second))["type"] == "saved"
    # "Continue here" in the first tab takes it back.
    third, state = await opened(attempt.pk, cookie)
    assert state["answers"] == {"0": key_values(question)}
    assert (await next_frame(second))["type"] == "taken_over"
    await first.disconnect()
    await second.disconnect()
    await third.disconnect()


async def test_a_dropped_socket_reconnects_and_resumes_the_attempt(attempt, cookie):
    socket, _ = await opened(attempt.pk, cookie)
    questions = await db(drawn)(attempt)
    await socket.send_json_to({"type": "answer", "question": 3, "options": wrong_ids(questions[3])})
    await next_frame(socket)
    await socket.disconnect(code=1006)
    again, state = await opened(attempt.pk, cookie)
    assert state["answers"] == {"3": wrong_ids(questions[3])}
    await again.disconnect()


def wrong_ids(question) -> list[str]:
    """One wrong option, by the value the page gives it."""
    return question.values_of([next(o.id for o in question.version.options.all() if not o.correct)])


async def test_at_the_deadline_the_server_grades_the_attempt_and_refuses_late_answers(
    attempt, cookie
):
    questions = await db(drawn)(attempt)
    await db(Attempt.objects.filter(pk=attempt.pk).update)(
        deadline=timezone.now() + timedelta(seconds=1.5)
    )
    socket, state = await opened(attempt.pk, cookie)
    assert 0 < state["remaining"] <= 1.5
    await socket.send_json_to(
        {"type": "answer", "question": 0, "options": key_values(questions[0])}
    )
    assert (await next_frame(socket))["type"] == "saved"
    remaining = [(await socket.receive_json_from(timeout=3))["remaining"] for _ in range(3)]
    assert remaining == sorted(remaining, reverse=True)
    frame = await next_frame(socket)
    while frame["type"] != "finished":
        frame = await next_frame(socket)
    assert frame["status"] == "expired"
    assert frame["result_url"] == f"/quizzes/demo-quiz/attempts/{attempt.pk}/result/"
    assert await closed_with(socket) == 4410
    await socket.disconnect()
    graded = await db(Attempt.objects.get)(pk=attempt.pk)
    assert (graded.status, graded.correct_count) == ("expired", 1)

    # A socket opened afterwards is told at once; a late answer changes nothing.
    late, frame = await opened(attempt.pk, cookie)
    assert frame["type"] == "finished" and frame["status"] == "expired"
    assert await closed_with(late) == 4410
    await late.disconnect()
    with pytest.raises(AttemptClosed):
        await db(attempt_answer)(attempt=attempt, position=1, option_ids=key_of(questions[1]))


async def test_an_answer_after_the_deadline_is_refused_even_before_the_clock_notices(
    attempt, cookie, settings
):
    settings.QUIZ_CLOCK_SECONDS = 30
    socket, _ = await opened(attempt.pk, cookie)
    await db(Attempt.objects.filter(pk=attempt.pk).update)(
        started_at=timezone.now() - timedelta(minutes=5),
        deadline=timezone.now() - timedelta(seconds=1),
    )
    question = (await db(drawn)(attempt))[0]
    await socket.send_json_to({"type": "answer", "question": 0, "options": key_values(question)})
    error = await next_frame(socket)
    assert (error["type"], error["code"]) == ("error", "closed")
    assert (await next_frame(socket))["type"] == "finished"
    assert await closed_with(socket) == 4410
    await socket.disconnect()
    graded = await db(Attempt.objects.get)(pk=attempt.pk)
    assert (graded.status, graded.correct_count) == ("expired", 0)


async def test_submitting_the_form_in_another_tab_closes_the_socket_with_the_result_link(
    attempt, cookie, student
):
    socket, _ = await opened(attempt.pk, cookie)

    def submit() -> int:
        client = client_for(student)
        path = reverse("quizzes:attempt", args=["demo-quiz", attempt.pk])
        data = form_data(attempt, right=4) | {"action": "submit"}
        return client.post(path, data).status_code

    assert await database_sync_to_async(submit)() == 302
    frame = await next_frame(socket)
    assert frame["type"] == "finished" and frame["status"] == "submitted"
    assert await closed_with(socket) == 4410
    await socket.disconnect()


async def test_progress_events_for_the_mentors_view_carry_only_primitives(quiz, student, cookie):
    group = live.progress_group(quiz.pk)
    channel = await listen(group)

    def start() -> int:
        response = client_for(student).post(reverse("quizzes:start", args=["demo-quiz"]))
        return int(response["Location"].rstrip("/").split("/")[-1])

    attempt_id = await db(start)()
    (started,) = await events(channel, 1)
    assert started["event"] == "started"
    socket, _ = await opened(attempt_id, cookie)
    (online,) = await events(channel, 1)
    attempt = await db(Attempt.objects.get)(pk=attempt_id)
    question = (await db(drawn)(attempt))[0]
    await socket.send_json_to({"type": "answer", "question": 0, "options": key_values(question)})
    await next_frame(socket)
    (answered,) = await events(channel, 1)
    await socket.disconnect()
    (offline,) = await events(channel, 1)

    def submit() -> None:
        path = reverse("quizzes:attempt", args=["demo-quiz", attempt_id])
        client_for(student).post(path, {"action": "submit", "confirm": "1"})

    await db(submit)()
    (submitted,) = await events(channel, 1)

    assert [e["event"] for e in (started, online, answered, offline, submitted)] == [
        "started",
        "online",
        "answered",
        "offline",
        "submitted",
    ]
    assert set(started) == {
        "type", "event", "quiz", "attempt", "user", "username", "number", "status", "answered",
        "total", "started_at", "deadline", "submitted_at", "score", "max_score", "accuracy", "at",
    }  # fmt: skip
    assert started["type"] == "quiz.progress"
    assert (started["attempt"], started["user"], started["username"]) == (
        attempt_id,
        student.pk,
        "alice",
    )
    assert (started["answered"], started["total"], started["status"]) == (0, 4, "open")
    assert started["score"] is None and started["submitted_at"] is None
    assert answered["answered"] == 1
    assert (submitted["status"], submitted["answered"], submitted["max_score"]) == (
        "submitted",
        1,
        10,
    )
    assert submitted["score"] == 0 and submitted["accuracy"] == 25
    for event in (started, online, answered, offline, submitted):
        # What the Redis layer must be able to carry.
        assert msgpack.unpackb(msgpack.packb(event)) == event


async def test_the_sweeper_grades_overdue_attempts_once_and_announces_them(
    quiz, student, other_student
):
    def overdue(user) -> Attempt:
        attempt = attempt_start(quiz=quiz, user=user)
        now = timezone.now()
        Attempt.objects.filter(pk=attempt.pk).update(
            started_at=now - timedelta(minutes=10), deadline=now - timedelta(seconds=1)
        )
        return attempt

    late = await db(overdue)(student)
    running = await db(attempt_start)(quiz=quiz, user=other_student)
    progress = await listen(live.progress_group(quiz.pk))
    sockets = await listen(live.attempt_group(late.pk))
    assert await live.sweep_once() == 1
    (expired,) = await events(progress, 1)
    (finished,) = await events(sockets, 1)
    assert (expired["event"], expired["attempt"], expired["status"]) == (
        "expired",
        late.pk,
        "expired",
    )
    assert finished == {
        "type": "attempt.finished",
        "status": "expired",
        "result_url": f"/quizzes/demo-quiz/attempts/{late.pk}/result/",
    }
    assert await live.sweep_once() == 0
    assert (await db(Attempt.objects.get)(pk=running.pk)).status == "open"
    assert (await db(Attempt.objects.get)(pk=late.pk)).status == "expired"


@pytest.mark.live
@pytest.mark.parametrize("server", ["uvicorn", "daphne"])
def test_a_serving_process_grades_an_overdue_attempt_with_no_browser_and_no_request(
    quiz, student, server
):
    attempt = attempt_start(quiz=quiz, user=student)
    question = drawn(attempt)[0]
    attempt_answer(attempt=attempt, position=0, option_ids=key_of(question))
    port = free_port()
    env = {"QUIZ_SWEEP_SECONDS": "0.3", "CHANNEL_LAYER_PREFIX": f"quiztest{os.getpid()}"}
    args = ["serve", "--no-chat", "--site-port", str(port), "--server", server]
    with server_process(args, ports=[port], env=env):
        Attempt.objects.filter(pk=attempt.pk).update(deadline=timezone.now() + timedelta(seconds=1))
        deadline = time.monotonic() + 10
        while Attempt.objects.get(pk=attempt.pk).status == "open" and time.monotonic() < deadline:
            time.sleep(0.2)
    attempt.refresh_from_db()
    assert (attempt.status, attempt.correct_count, attempt.score) == ("expired", 1, 0)


@pytest.mark.live
def test_a_real_browser_style_client_gets_the_clock_and_the_finish_through_the_server(
    quiz, student
):
    attempt = attempt_start(quiz=quiz, user=student)
    cookie = session_cookie(student)[1].decode()
    port = free_port()
    env = {
        "QUIZ_SWEEP_SECONDS": "30",
        "QUIZ_CLOCK_SECONDS": "0.5",
        "CHANNEL_LAYER_PREFIX": f"quiztest{os.getpid()}",
    }

    async def run() -> tuple[list[dict], int]:
        url = f"ws://127.0.0.1:{port}/ws/quizzes/attempts/{attempt.pk}/"
        headers = {"Cookie": cookie}
        async with websockets.connect(
            url, origin=f"http://127.0.0.1:{port}", additional_headers=headers, open_timeout=5
        ) as ws:
            frames = []
            # A 4xxx close ends the iteration with an error, as any code but 1000 does.
            with contextlib.suppress(websockets.exceptions.ConnectionClosedError):
                async for text in ws:
                    frames.append(json.loads(text))
            return frames, ws.close_code

    async def refused() -> None:
        url = f"ws://127.0.0.1:{port}/ws/quizzes/attempts/{attempt.pk}/"
        with pytest.raises(websockets.exceptions.InvalidStatus) as info:
            async with websockets.connect(url, origin="http://evil.example", open_timeout=5):
                pass
        assert info.value.response.status_code == 403

    with server_process(["serve", "--no-chat", "--site-port", str(port)], ports=[port], env=env):
        with urllib.request.urlopen(f"http://127.0.0.1:{port}/quizzes/demo-quiz/", timeout=5) as r:
            assert r.status == 200
        asyncio.run(refused())
        Attempt.objects.filter(pk=attempt.pk).update(deadline=timezone.now() + timedelta(seconds=2))
        frames, code = asyncio.run(run())
    kinds = [f["type"] for f in frames]
    assert kinds[0] == "state" and kinds[-1] == "finished" and "time" in kinds
    assert frames[-1]["status"] == "expired" and code == 4410


@pytest.mark.skipif(
    "connection.vendor != 'postgresql'",
    reason="SQLite has no row locks: several serving processes need PostgreSQL",
)
def test_two_sweepers_at_once_grade_and_announce_every_attempt_exactly_once(quiz):
    """Each serving process sweeps; the row locks make exactly one of them grade each."""
    late = []
    for i in range(6):
        attempt = attempt_start(quiz=quiz, user=make_user(f"late{i}"))
        late.append(attempt.pk)
    now = timezone.now()
    Attempt.objects.update(started_at=now - timedelta(minutes=5), deadline=now)
    barrier = threading.Barrier(3)
    results: list[list] = []
    errors: list[BaseException] = []

    def sweep() -> None:
        barrier.wait()
        try:
            for _ in range(2):
                results.append(live.expire_overdue())
        except BaseException as exc:
            errors.append(exc)
        finally:
            connection.close()

    threads = [threading.Thread(target=sweep) for _ in range(3)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(timeout=60)
    assert errors == []
    events = [event for sends in results for _, event in sends]
    announced = [e["attempt"] for e in events if e["type"] == "quiz.progress"]
    assert sorted(announced) == sorted(late)
    assert set(Attempt.objects.values_list("status", flat=True)) == {"expired"}


async def test_a_saved_answer_takes_no_extra_trip_to_the_database_thread(
    attempt, cookie, monkeypatch
):
    """Channels' dispatch would first hop to the database thread to close stale
    connections, queued behind the process's page requests; database_sync_to_async
    already does that in the hop that saves (courseware.sockets.NoSweepDispatch)."""
    sweeps = []

    async def counted() -> None:
        sweeps.append(1)

    monkeypatch.setattr("channels.consumer.aclose_old_connections", counted)
    socket, _ = await opened(attempt.pk, cookie)
    questions = await db(drawn)(attempt)
    await socket.send_json_to(
        {"type": "answer", "question": 0, "options": key_values(questions[0])}
    )
    assert (await next_frame(socket))["type"] == "saved"
    await socket.disconnect()
    assert sweeps == []
