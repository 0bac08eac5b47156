"""Students run the automatic check on their own client, in a private room of their own."""

from __future__ import annotations

import asyncio
import json
import uuid
from typing import Any

import pytest
from channels.db import database_sync_to_async
from channels.testing import WebsocketCommunicator
from django.utils import timezone

from chat import rooms
from courseware.asgi import application
from courseware.models import Mentorship
from grader import selfcheck
from grader.control import control_channel, listen
from grader.models import CheckReport
from tests.conftest import make_user
from tests.consolekit import ORIGIN, ChatClient, Console, cookie_for, make_report, open_console

pytestmark = pytest.mark.usefixtures("fresh_chat")


@pytest.fixture(autouse=True)
def chat_rooms(settings) -> None:
    settings.CHAT_ROOMS = True


class SelfCheckSocket(Console):
    """The self-check page's socket, with a student's session cookie."""

    def __init__(self, *headers: tuple[bytes, bytes], query: str = "") -> None:
        WebsocketCommunicator.__init__(
            self, application, f"/ws/chat/self-check/{query}", headers=list(headers)
        )
        self.seen: list[dict[str, Any]] = []
        self.refs = iter(range(100, 10_000))


@pytest.fixture
async def control(settings, student, other_student):
    """With REDIS_URL, listen for both students' rooms and the shared one here, as their chat
    server would."""
    if not settings.REDIS_URL:
        yield
        return
    layers = json.loads(json.dumps(settings.CHANNEL_LAYERS))
    layers["default"]["CONFIG"]["prefix"] = f"test-self-{uuid.uuid4().hex[:8]}"
    settings.CHANNEL_LAYERS = layers
    keys = [selfcheck.room_key(student), selfcheck.room_key(other_student), rooms.SHARED]
    tasks = [asyncio.ensure_future(listen(control_channel(key), key)) for key in keys]
    yield
    for task in tasks:
        task.cancel()


@pytest.fixture
def cookies(student, other_student, mentor) -> dict[str, tuple[bytes, bytes]]:
    return {
        "student": cookie_for(student),
        "other": cookie_for(other_student),
        "mentor": cookie_for(mentor),
    }


async def open_self_check(*headers: tuple[bytes, bytes], query: str = "") -> SelfCheckSocket:
    socket = SelfCheckSocket(*headers, query=query)
    connected, _ = await socket.connect()
    assert connected
    assert (await socket.next())["kind"] == "hello"
    snapshot = await socket.until(lambda m: m["kind"] == "reply" and m["ref"] == 0)
    assert snapshot["ok"] and snapshot["data"] == {"run": None}, snapshot
    return socket


# -- pages ------------------------------------------------------------------------------------


def test_each_student_has_a_stable_private_room_nobody_can_guess(student, other_student):
    """The room name is an HMAC of the account: the same every time, different per student."""
    name = selfcheck.room_name(student)
    assert name == selfcheck.room_name(student) != selfcheck.room_name(other_student)
    assert rooms.ROOM_NAME.fullmatch(name) and len(name) == 37
    assert rooms.room_of_path(f"/rooms/{name}") == selfcheck.room_key(student)


def test_the_self_check_page_needs_a_login_and_shows_the_students_own_room(
    client, student, other_student
):
    response = client.get("/chat/self-check/")
    assert response.status_code == 302 and "/accounts/login/" in response["Location"]

    client.force_login(student)
    page = client.get("/chat/self-check/").content.decode()
    assert f"/rooms/{selfcheck.room_name(student)}" in page
    assert selfcheck.room_name(other_student) not in page
    assert "never counts as a grade" in page and 'id="run-form"' in page


def test_without_chat_rooms_the_page_explains_that_self_checks_are_off(client, student, settings):
    settings.CHAT_ROOMS = False
    client.force_login(student)
    page = client.get("/chat/self-check/").content.decode()
    assert 'id="self-check-off"' in page and 'id="run-form"' not in page


def test_the_module_page_links_a_logged_in_student_to_the_self_check(client, student, module):
    assert b"/chat/self-check/" not in client.get(f"/modules/{module.slug}/").content
    client.force_login(student)
    assert b'href="/chat/self-check/"' in client.get(f"/modules/{module.slug}/").content


def test_self_checks_are_the_students_to_see_and_never_their_grade(
    client, student, other_student, mentor
):
    """The student and their mentor see a self-check, marked; the graded report still counts."""
    Mentorship.objects.create(mentor=mentor, student=student)
    graded = make_report(student, login="graded-ann")
    later = timezone.now() + timezone.timedelta(minutes=5)
    own = make_report(student, login="self-ann", self_check=True, started_at=later)
    assert CheckReport.objects.latest_for_students([student])[student.pk] == graded

    client.force_login(other_student)
    assert client.get(own.get_absolute_url()).status_code == 404

    client.force_login(student)
    assert "self-check" in client.get(own.get_absolute_url()).content.decode()
    listed = client.get("/chat/self-check/").content.decode()
    assert "self-ann" in listed and "graded-ann" not in listed
    assert client.get(f"/chat/reports/{own.pk}.json").json()["self_check"] is True

    client.force_login(mentor)
    page = client.get(f"/mentor/students/{student.pk}/").content.decode()
    assert "The student's self-checks" in page and "self-ann" in page
    assert page.count("badge self_check") == 1  # on the self-check only, not the graded one


def test_the_admin_lists_and_filters_self_checks(client, admin_user, student):
    make_report(student, login="self-ann", self_check=True)
    client.force_login(admin_user)
    page = client.get("/admin/grader/checkreport/?self_check__exact=1").content.decode()
    assert "self-ann" in page and "By self check" in page


# -- the socket ------------------------------------------------------------------------------


@pytest.mark.django_db(transaction=True)
async def test_the_self_check_socket_refuses_strangers_and_rooms_off(control, cookies, settings):
    assert await SelfCheckSocket(ORIGIN).connect() == (False, selfcheck.NOT_LOGGED_IN)
    evil = SelfCheckSocket((b"origin", b"http://evil.example"), cookies["student"])
    assert (await evil.connect())[0] is False
    settings.CHAT_ROOMS = False
    assert await SelfCheckSocket(ORIGIN, cookies["student"]).connect() == (
        False,
        selfcheck.NO_ROOMS,
    )


@pytest.mark.django_db(transaction=True)
async def test_a_student_only_runs_a_check_and_the_report_is_their_own_self_check(
    control, cookies, student, other_student
):
    """Other commands are refused; the page's claims about whose report it is are ignored."""
    socket = await open_self_check(ORIGIN, cookies["student"], query="?world=shared")
    for cmd, fields in [("loss", {"outage": 0}), ("kick", {"conn": 1}), ("bot.connect", {})]:
        refused = await socket.command(cmd, **fields)
        assert refused["ok"] is False and "only starts" in refused["error"]

    started = await socket.command(
        "run.start",
        login="ann",
        student_id=other_student.pk,
        grader_id=other_student.pk,
        self_check=False,
        options={"prompt_timeout": 5},
    )
    assert started["ok"], started
    report_id = started["data"]["report_id"]
    assert (await socket.command("run.stop"))["ok"]
    await socket.until(lambda m: (m.get("run") or {}).get("status") == "stopped", timeout=10)
    report = await database_sync_to_async(CheckReport.objects.get)(pk=report_id)
    assert (report.student_id, report.grader_id, report.self_check) == (student.pk, None, True)
    assert report.options["world"] == selfcheck.room_key(student)  # not the shared room
    await socket.disconnect()


@pytest.mark.django_db(transaction=True)
async def test_a_student_never_sees_frames_and_other_students_rooms_stay_apart(
    control, cookies, student, other_student
):
    """Frames of the student's own room stay with the consoles; another student's page runs
    in another room, so it neither sees nor stops this run."""
    mine = await open_self_check(ORIGIN, cookies["student"])
    theirs = await open_self_check(ORIGIN, cookies["other"])
    client = ChatClient(f"/rooms/{selfcheck.room_name(student)}")
    assert (await client.connect())[0]
    await client.login("ann")
    assert (await mine.command("run.start", login="ann"))["ok"]
    await mine.until(lambda m: (m.get("run") or {}).get("step") not in (None, "login"))

    stop = await theirs.command("run.stop")
    assert stop["ok"] is False and stop["error"] == "no check is running"
    assert (await mine.command("run.stop"))["ok"]
    await mine.until(lambda m: (m.get("run") or {}).get("status") == "stopped", timeout=10)
    for message in mine.seen + theirs.seen:
        assert set(message) <= {"kind", "mode", "ref", "ok", "data", "error", "run"}, message
        assert not (isinstance(message.get("data"), dict) and "frames" in message["data"])
    assert not any("ann" in json.dumps(m) for m in theirs.seen)
    for socket in (client, mine, theirs):
        await socket.disconnect()


@pytest.mark.django_db(transaction=True)
async def test_the_graders_console_never_saves_a_self_check(control, cookies, mentor):
    """A console page cannot pass its report off as a student's self-check."""
    make = database_sync_to_async(make_user)
    ann = await make("ann-student")
    await database_sync_to_async(Mentorship.objects.create)(mentor=mentor, student=ann)
    console = await open_console(ORIGIN, cookies["mentor"])
    started = await console.command("run.start", login="ann", student_id=ann.pk, self_check=True)
    assert started["ok"], started
    assert (await console.command("run.stop"))["ok"]
    await console.until(lambda m: (m.get("run") or {}).get("status") == "stopped", timeout=10)
    report = await database_sync_to_async(CheckReport.objects.get)(pk=started["data"]["report_id"])
    assert report.self_check is False
    await console.disconnect()
