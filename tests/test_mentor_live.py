"""The mentors' live socket on the full site ASGI stack: who gets in, what they see."""

from __future__ import annotations

from types import SimpleNamespace

import pytest
from asgiref.sync import sync_to_async
from channels.layers import get_channel_layer
from channels.testing import WebsocketCommunicator

from courseware.asgi import site_application
from quizzes import live
from quizzes.attempts import attempt_answer, attempt_start
from quizzes.models import Attempt
from tests.quizkit import (
    ORIGIN,
    session_cookie,
)

pytestmark = pytest.mark.django_db(transaction=True)
PATH = "/ws/mentor/live/"


@pytest.fixture
def world(people):
    """alice (mentor's) and bob (mentor2's) each have an attempt of the demo test open."""
    alice_attempt = attempt_start(quiz=people.quiz, user=people.alice)
    question = alice_attempt.questions.get(position=0)
    attempt_answer(attempt=alice_attempt, position=0, option_ids=question.option_order[:1])
    bob_attempt = attempt_start(quiz=people.quiz, user=people.bob)
    return SimpleNamespace(
        **vars(people),
        alice_attempt=alice_attempt,
        bob_attempt=bob_attempt,
        cookies={
            "student": session_cookie(people.alice),
            "mentor": session_cookie(people.mentor),
            "other mentor": session_cookie(people.other_mentor),
            "admin": session_cookie(people.admin),
        },
    )


def socket(world, viewer: str | None, origin=ORIGIN, path: str = PATH) -> WebsocketCommunicator:
    headers = [origin]
    if viewer is not None:
        headers.append(world.cookies[viewer])
    return WebsocketCommunicator(site_application, path, headers=headers)


async def event_for(attempt: Attempt, event: str) -> dict:
    def build() -> dict:
        fresh = Attempt.objects.select_related("user").get(pk=attempt.pk)
        return live.progress_event(fresh, event)

    return await sync_to_async(build)()


@pytest.mark.parametrize(
    ("viewer", "origin"),
    [
        (None, ORIGIN),
        ("student", ORIGIN),
        ("mentor", (b"origin", b"http://evil.example")),
    ],
)
async def test_strangers_students_and_foreign_origins_are_refused_at_the_handshake(
    world, viewer, origin
):
    client = socket(world, viewer, origin)
    connected, _ = await client.connect()
    assert connected is False
    # Let the refused consumer end here: cancelled at the loop's close instead, its Redis
    # receive can hang the test run (channels_redis with the Redis layer).
    await client.disconnect()


async def test_a_mentor_gets_a_snapshot_of_their_students_open_attempts_only(world):
    client = socket(world, "mentor")
    connected, _ = await client.connect()
    assert connected
    snapshot = await client.receive_json_from()
    assert snapshot["type"] == "snapshot"
    (only,) = snapshot["attempts"]
    assert only == {
        "event": "snapshot",
        "quiz": world.quiz.pk,
        "attempt": world.alice_attempt.pk,
        "user": world.alice.pk,
        "username": "alice",
        "number": 1,
        "status": "open",
        "answered": 1,
        "total": 4,
        "started_at": world.alice_attempt.started_at.isoformat(),
        "deadline": None,
    }
    await client.disconnect()


async def test_an_admin_gets_every_students_open_attempts(world):
    client = socket(world, "admin")
    assert (await client.connect())[0]
    snapshot = await client.receive_json_from()
    assert {a["username"] for a in snapshot["attempts"]} == {"alice", "bob"}
    await client.disconnect()


async def test_progress_events_are_forwarded_only_for_the_mentors_own_students(world):
    mentor, other = socket(world, "mentor"), socket(world, "other mentor")
    for client in (mentor, other):
        assert (await client.connect())[0]
        await client.receive_json_from()  # the snapshot
    layer = get_channel_layer()
    group = live.progress_group(world.quiz.pk)
    await layer.group_send(group, await event_for(world.bob_attempt, "answered"))
    await layer.group_send(group, await event_for(world.alice_attempt, "answered"))

    got = await mentor.receive_json_from()
    assert (got["type"], got["event"], got["user"], got["answered"]) == (
        "progress",
        "answered",
        world.alice.pk,
        1,
    )
    assert await mentor.receive_nothing(timeout=0.2)
    bobs = await other.receive_json_from()
    assert (bobs["username"], bobs["event"]) == ("bob", "answered")
    assert await other.receive_nothing(timeout=0.2)
    for client in (mentor, other):
        await client.disconnect()


async def test_a_student_answering_on_their_own_socket_updates_their_mentors_view(world):
    mentor = socket(world, "mentor")
    assert (await mentor.connect())[0]
    await mentor.receive_json_from()
    student = socket(world, "student", path=f"/ws/quizzes/attempts/{world.alice_attempt.pk}/")
    assert (await student.connect())[0]
    assert (await student.receive_json_from())["type"] == "state"
    online = await mentor.receive_json_from()
    assert (online["event"], online["username"]) == ("online", "alice")

    options = await sync_to_async(
        lambda: world.alice_attempt.questions.get(position=1).option_values
    )()
    await student.send_json_to({"type": "answer", "question": 1, "options": options[:1]})
    assert (await student.receive_json_from())["type"] == "saved"
    answered = await mentor.receive_json_from()
    assert (answered["event"], answered["answered"], answered["total"]) == ("answered", 2, 4)

    await student.disconnect()
    offline = await mentor.receive_json_from()
    assert offline["event"] == "offline"
    await mentor.disconnect()


async def test_quick_answers_reach_the_mentors_view_as_the_newest_snapshot_once_a_second(world):
    """The first answer shows at once; of three more within the second only the newest
    travels, when the second is up; one still waiting when the page closes is sent
    before "offline"."""
    mentor = socket(world, "mentor")
    assert (await mentor.connect())[0]
    await mentor.receive_json_from()
    path = f"/ws/quizzes/attempts/{world.alice_attempt.pk}/"
    student = socket(world, "student", path=path)
    assert (await student.connect())[0]
    assert (await student.receive_json_from())["type"] == "state"
    assert (await mentor.receive_json_from())["event"] == "online"
    values = await sync_to_async(
        lambda: [q.option_values for q in world.alice_attempt.questions.order_by("position")]
    )()

    async def answer(position: int) -> None:
        await student.send_json_to(
            {"type": "answer", "question": position, "options": values[position][:1]}
        )
        while (await student.receive_json_from())["type"] != "saved":
            pass

    for position in (1, 2, 3):
        await answer(position)
    first = await mentor.receive_json_from(timeout=0.5)
    assert (first["event"], first["answered"]) == ("answered", 2)
    assert await mentor.receive_nothing(timeout=0.3)
    newest = await mentor.receive_json_from(timeout=2)
    assert (newest["event"], newest["answered"]) == ("answered", 4)
    await answer(3)  # the same answer again: due in a second, but the page closes first
    await student.disconnect()
    last, offline = [await mentor.receive_json_from(timeout=2) for _ in range(2)]
    assert (last["event"], last["answered"], offline["event"]) == ("answered", 4, "offline")
    assert await mentor.receive_nothing(timeout=1.2)
    await mentor.disconnect()


async def test_refresh_sends_a_new_snapshot_and_junk_is_ignored(world):
    client = socket(world, "mentor")
    assert (await client.connect())[0]
    await client.receive_json_from()
    await client.send_to(text_data="not json {")
    await client.send_json_to({"type": "nonsense"})
    assert await client.receive_nothing(timeout=0.2)
    await client.send_json_to({"type": "refresh"})
    again = await client.receive_json_from()
    assert again["type"] == "snapshot" and len(again["attempts"]) == 1
    await client.disconnect()


async def test_two_students_answers_within_a_second_travel_as_one_message_one_frame_each(world):
    """The process's sockets share one batch (live.ProgressBatch): alice's and bob's
    answers after the first go as one channel-layer message, which the view unpacks into
    a frame per student it may see."""
    admin, mentor = socket(world, "admin"), socket(world, "mentor")
    for client in (admin, mentor):
        assert (await client.connect())[0]
        await client.receive_json_from()  # the snapshot
    listener = get_channel_layer()
    channel = await listener.new_channel()
    await listener.group_add(live.progress_group(world.quiz.pk), channel)
    students = []
    for attempt, who in ((world.alice_attempt, world.alice), (world.bob_attempt, world.bob)):
        path = f"/ws/quizzes/attempts/{attempt.pk}/"
        cookie = await sync_to_async(session_cookie)(who)
        student = WebsocketCommunicator(site_application, path, headers=[ORIGIN, cookie])
        assert (await student.connect())[0]
        assert (await student.receive_json_from())["type"] == "state"
        students.append((student, attempt))
    for _ in students:
        assert (await listener.receive(channel))["event"] == "online"
    for client, online in ((admin, 2), (mentor, 1)):
        for _ in range(online):
            assert (await client.receive_json_from())["event"] == "online"

    async def answer(student, attempt, position: int) -> None:
        values = await sync_to_async(
            lambda: attempt.questions.get(position=position).option_values
        )()
        await student.send_json_to({"type": "answer", "question": position, "options": values[:1]})
        while (await student.receive_json_from())["type"] != "saved":
            pass

    await answer(*students[0], 1)  # the first after a quiet spell goes at once, alone
    assert (await listener.receive(channel))["type"] == "quiz.progress"
    for student, attempt in students:
        await answer(student, attempt, 2)
    message = await listener.receive(channel)
    assert message["type"] == "quiz.progress.many"
    assert sorted(e["username"] for e in message["events"]) == ["alice", "bob"]

    frames = [await admin.receive_json_from(timeout=3) for _ in range(3)]
    assert [(f["type"], f["username"], f["answered"]) for f in frames[:1]] == [
        ("progress", "alice", 2)
    ]
    assert sorted((f["type"], f["username"], f["answered"]) for f in frames[1:]) == [
        ("progress", "alice", 3),
        ("progress", "bob", 1),
    ]
    # bob is not the mentor's student: of the batch, only alice's frame.
    mine = [await mentor.receive_json_from(timeout=3) for _ in range(2)]
    assert [(f["username"], f["answered"]) for f in mine] == [("alice", 2), ("alice", 3)]
    assert await mentor.receive_nothing(timeout=0.3)
    for student, _ in students:
        await student.disconnect()
    for client in (admin, mentor):
        await client.disconnect()
