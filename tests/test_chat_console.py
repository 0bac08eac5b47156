"""The grader console: who may use it, what it shows live, its controls, and saved reports."""

from __future__ import annotations

import json
import uuid

import pytest
from channels.db import database_sync_to_async
from django.template.loader import render_to_string
from django.utils import timezone

from chat import rooms
from courseware.models import Mentorship
from grader.agent import get_agent
from grader.models import CheckReport
from tests.consolekit import (
    ORIGIN,
    ChatClient,
    Console,
    cookie_for,
    make_report,
    open_console,
    refused,
)

pytestmark = pytest.mark.usefixtures("fresh_chat")


@pytest.fixture
def cookies(student, mentor) -> dict[str, tuple[bytes, bytes]]:
    """Session cookies, made before the async test starts (the ORM is sync)."""
    return {"student": cookie_for(student), "mentor": cookie_for(mentor)}


# -- pages ----------------------------------------------------------------------------------------


def test_the_console_page_is_for_mentors_and_admins_only(
    client, student, other_student, mentor, admin_user
):
    Mentorship.objects.create(mentor=mentor, student=student)
    response = client.get("/chat/console/")
    assert response.status_code == 302 and response["Location"].startswith("/accounts/login/")
    client.force_login(student)
    assert client.get("/chat/console/").status_code == 403
    for user in (mentor, admin_user):
        client.force_login(user)
        page = client.get("/chat/console/")
        assert page.status_code == 200
        html = page.content.decode()
        assert 'id="frames"' in html and "grader/console.js" in html
        assert f'<option value="{student.pk}">alice</option>' in html  # link the report to them
        # A mentor is offered only their own students; an admin everyone.
        offered = f'<option value="{other_student.pk}">bob</option>' in html
        assert offered is user.is_staff


def test_a_student_sees_only_their_own_reports_and_others_are_not_found(
    client, student, other_student, mentor
):
    own, other = make_report(student), make_report(other_student, login="bob-client")
    for url in ["/chat/reports/", f"/chat/reports/{own.pk}/"]:
        response = client.get(url)
        assert response.status_code == 302 and "/accounts/login/" in response["Location"]

    client.force_login(student)
    listing = client.get("/chat/reports/").content.decode()
    assert "My chat checks" in listing and "ann&lt;script&gt;" in listing
    assert "bob-client" not in listing
    assert client.get(f"/chat/reports/{own.pk}/").status_code == 200
    for suffix in ["/", ".md", ".json"]:
        assert client.get(f"/chat/reports/{other.pk}{suffix}").status_code == 404

    # A mentor sees the reports of the students assigned to them (courseware.mentoring).
    for assigned in (student, other_student):
        Mentorship.objects.create(mentor=mentor, student=assigned)
    client.force_login(mentor)
    listing = client.get("/chat/reports/").content.decode()
    assert "bob-client" in listing and "ann&lt;script&gt;" in listing
    assert client.get(f"/chat/reports/{other.pk}/").status_code == 200


def test_the_report_page_shows_each_verdict_with_pretty_printed_evidence(client, student):
    report = make_report(student)
    client.force_login(student)
    html = client.get(f"/chat/reports/{report.pk}/").content.decode()
    assert "ann&lt;script&gt;" in html and "<script>" not in html.split("<main")[1]
    assert '<span class="badge failed">failed</span>' in html
    assert '<span class="badge not_observed">not observed</span>' in html
    assert "1 passed" in html and "10 of 15 observed points passed" in html
    assert "&quot;type&quot;: &quot;MSG_SEND&quot;,\n" in html  # indented JSON


def test_markdown_and_json_exports_download_with_their_content_types(client, mentor, student):
    report = make_report(student, login="ann | x")
    Mentorship.objects.create(mentor=mentor, student=student)
    client.force_login(mentor)

    md = client.get(f"/chat/reports/{report.pk}.md")
    assert md["Content-Type"] == "text/markdown; charset=utf-8"
    assert md["Content-Disposition"] == f'attachment; filename="chat-check-ann-x-{report.pk}.md"'
    text = md.content.decode()
    assert text.startswith("# Fun Chat client check: ann \\| x\n")
    assert "| 7.3 An empty message cannot be sent | 5 | failed |" in text
    assert '```json\n{\n  "id": "1",\n  "type": "MSG_SEND",' in text
    assert "- Result: 1 passed, 1 failed, 1 not observed; 10 of 15 points" in text

    exported = client.get(f"/chat/reports/{report.pk}.json")
    assert exported["Content-Type"] == "application/json; charset=utf-8"
    assert exported["Content-Disposition"].endswith(f'-{report.pk}.json"')
    data = json.loads(exported.content)
    assert data["format"] == "courseware.chat-check/1"
    assert data["student"]["username"] == "alice"
    assert [i["status"] for i in data["items"]] == ["failed", "passed", "not_observed"]
    assert data["counts"] == {"passed": 1, "failed": 1, "not_observed": 1}


def test_the_api_for_mentor_pages_gives_each_students_latest_finished_report(
    student, other_student
):
    older = make_report(student, started_at=timezone.now() - timezone.timedelta(days=1))
    newer = make_report(student)
    make_report(student, status=CheckReport.Status.RUNNING)  # no verdict yet: left out
    assert list(CheckReport.objects.for_students([student, other_student])) == [newer, older]
    assert CheckReport.objects.latest_for_students([student.pk, other_student.pk]) == {
        student.pk: newer
    }
    html = render_to_string("grader/_report_summary.html", {"report": newer})
    assert f'href="/chat/reports/{newer.pk}/"' in html
    assert "1 passed" in html and "1 failed" in html and "1 not observed" in html
    assert f'href="/chat/reports/{newer.pk}.md"' in html
    assert "No chat check yet" in render_to_string("grader/_report_summary.html", {"report": None})


# -- the console socket ---------------------------------------------------------------------------


@pytest.mark.django_db(transaction=True)
async def test_the_console_socket_refuses_strangers_students_and_foreign_origins(
    control, cookies, student, mentor
):
    for headers in [[ORIGIN], [ORIGIN, cookies["student"]]]:
        assert await refused(Console(*headers)) == (False, 4403)
    evil = await refused(Console((b"origin", b"http://evil.example"), cookies["mentor"]))
    assert evil[0] is False
    no_origin = await refused(Console(cookies["mentor"]))
    assert no_origin[0] is False


@pytest.mark.django_db(transaction=True)
async def test_a_mentor_watches_a_clients_frames_live_with_the_password_masked(
    control, cookies, mentor
):
    console = await open_console(ORIGIN, cookies["mentor"])
    client = ChatClient()
    assert (await client.connect())[0]
    await client.login("ann")

    await console.until(
        lambda m: any(f["type"] == "USER_LOGIN" and f["dir"] == "out" for f in m.get("frames", []))
    )
    login_in = next(f for f in console.frames() if f["type"] == "USER_LOGIN" and f["dir"] == "in")
    assert "s3cret" not in login_in["text"] and '"***"' in login_in["text"]
    presence = await console.until(lambda m: "ann" in (m.get("presence") or {}).get("users", []))
    assert presence["presence"]["conns"][0]["login"] == "ann"

    await client.disconnect()
    await console.disconnect()


@pytest.mark.django_db(transaction=True)
async def test_a_bad_command_gets_an_error_and_the_console_stays_open(control, cookies, mentor):
    console = await open_console(ORIGIN, cookies["mentor"])
    await console.send_to(text_data="{not json")
    reply = await console.until(lambda m: m["kind"] == "reply" and m["ref"] is None)
    assert reply["error"] == "that was not JSON"
    reply = await console.command("loss", outage=600)
    assert reply["ok"] is False and "outage must be a number from 0 to 60" in reply["error"]
    reply = await console.command("format-disk")
    assert reply == {
        "kind": "reply",
        "ref": reply["ref"],
        "ok": False,
        "error": "unknown command 'format-disk'",
    }
    reply = await console.command("kick", conn=12345)
    assert reply["ok"] is False and "no connection 12345" in reply["error"]
    assert (await console.command("watch"))["ok"] is True
    await console.disconnect()


@pytest.mark.django_db(transaction=True)
async def test_disconnect_one_and_connection_loss_close_sockets_as_a_restart_would(
    control, cookies, mentor
):
    console = await open_console(ORIGIN, cookies["mentor"])
    ann, ben = ChatClient(), ChatClient()
    for client, login in [(ann, "ann"), (ben, "ben")]:
        assert (await client.connect())[0]
        await client.login(login)
    await ann.frame()  # ben's login push

    conn = next(c for c, u in get_agent().hub.room.state.conns.items() if u and u.login == "ann")
    assert (await console.command("kick", conn=conn))["ok"]
    assert (await ann.receive_output(timeout=2))["type"] == "websocket.close"
    assert (await ben.frame())["type"] == "USER_EXTERNAL_LOGOUT"  # ann is offline at once

    assert (await console.command("loss", outage=5))["ok"]
    assert (await ben.receive_output(timeout=2))["type"] == "websocket.close"
    assert get_agent().hub.room.state.conns == {}
    refused = await ChatClient().connect()
    assert refused[0] is False  # the server plays "down" for 5 s
    down = await console.until(lambda m: (m.get("presence") or {}).get("down_for", 0) > 0)
    assert down["presence"]["total"] == 0
    assert any(f["dir"] == "refused" for f in console.frames())
    await console.disconnect()


@pytest.mark.django_db(transaction=True)
async def test_the_console_bot_sends_edits_deletes_and_reads_with_a_student(
    control, cookies, mentor
):
    console = await open_console(ORIGIN, cookies["mentor"])
    ann = ChatClient()
    assert (await ann.connect())[0]
    await ann.login("ann")

    bot = (await console.command("bot.connect"))["data"]
    assert bot["connected"] and bot["login"].startswith("chk-")
    assert (await ann.frame())["type"] == "USER_EXTERNAL_LOGIN"
    sent = (await console.command("bot.send", to="ann", text="Hi from the grader"))["data"]
    pushed = await ann.frame()
    assert pushed["payload"]["message"] == sent and sent["from"] == bot["login"]

    assert (await console.command("bot.edit", to="ann", text="Hi, edited"))["ok"]
    assert (await ann.frame())["payload"]["message"]["text"] == "Hi, edited"

    await ann.request("MSG_SEND", {"message": {"to": bot["login"], "text": "hello bot"}}, "s1")
    assert (await ann.frame())["id"] == "s1"
    assert (await console.command("bot.read", peer="ann"))["data"] == {"read": 1}
    assert (await ann.frame())["type"] == "MSG_READ"

    assert (await console.command("bot.delete", to="ann"))["ok"]
    assert (await ann.frame())["payload"]["message"]["status"] == {"isDeleted": True}
    history = (await console.command("bot.history", peer="ann"))["data"]["messages"]
    assert [m["text"] for m in history] == ["hello bot"]
    # The bot's frames show in the log like anyone's.
    await console.until(lambda m: any(f["bot"] for f in m.get("frames") or []))

    await ann.disconnect()
    await console.disconnect()


@pytest.mark.django_db(transaction=True)
async def test_a_check_started_from_the_console_is_saved_for_the_chosen_student(
    control, cookies, mentor, student, other_student
):
    await database_sync_to_async(Mentorship.objects.create)(mentor=mentor, student=student)
    console = await open_console(ORIGIN, cookies["mentor"])
    for stranger in (999_999, other_student.pk):  # no such account; not this mentor's
        bad = await console.command("run.start", login="ann", student_id=stranger)
        assert bad["ok"] is False and bad["error"] == "no such student of yours"

    started = await console.command(
        "run.start", login="ann", student_id=student.pk, grader_id=student.pk
    )
    assert started["ok"], started
    state = started["data"]
    assert (
        state["step"] == "login" and state["report_url"] == f"/chat/reports/{state['report_id']}/"
    )
    assert (await console.command("run.start", login="x"))[
        "error"
    ] == "a check of 'ann' is already running"

    assert (await console.command("run.stop"))["ok"]
    await console.until(lambda m: (m.get("run") or {}).get("status") == "stopped", timeout=10)
    report = await database_sync_to_async(CheckReport.objects.get)(pk=state["report_id"])
    assert report.status == "stopped"
    assert (report.student_id, report.grader_id) == (student.pk, mentor.pk)  # not what was claimed
    # Nobody logged in as "ann": the server saw nothing to judge.
    assert {i["status"] for i in report.items} == {"not_observed"}
    await console.disconnect()


@pytest.mark.django_db(transaction=True)
async def test_nothing_is_recorded_once_no_console_watches(control, cookies, mentor):
    console = await open_console(ORIGIN, cookies["mentor"])
    hub = get_agent().hub
    assert hub.tap is not None
    assert (await console.command("unwatch"))["ok"]
    assert hub.tap is None
    await console.disconnect()


@pytest.mark.django_db(transaction=True)
async def test_a_console_watches_one_room_and_not_the_shared_world(control, cookies, settings):
    settings.CHAT_ROOMS = True
    room = await open_console(ORIGIN, cookies["mentor"], world="room.grader1")
    shared = await open_console(ORIGIN, cookies["mentor"])
    in_room, outside = ChatClient("/rooms/Grader1"), ChatClient("/")
    for client, login in [(in_room, "ann"), (outside, "zed")]:
        assert (await client.connect())[0]
        await client.login(login)

    await room.until(lambda m: "ann" in (m.get("presence") or {}).get("users", []))
    await shared.until(lambda m: "zed" in (m.get("presence") or {}).get("users", []))
    assert {f["login"] for f in room.frames()} <= {None, "ann"}
    assert {f["login"] for f in shared.frames()} <= {None, "zed"}

    # The room's bot and controls act in the room only.
    bot = (await room.command("bot.connect"))["data"]
    assert (await in_room.frame())["payload"]["user"]["login"] == bot["login"]
    assert await outside.receive_nothing(timeout=0.3)
    for client in (in_room, outside):
        await client.disconnect()
    await room.disconnect()
    await shared.disconnect()


@pytest.mark.django_db(transaction=True)
async def test_a_console_for_a_malformed_world_is_refused(control, cookies):
    assert await refused(Console(ORIGIN, cookies["mentor"], world="room.Bad!")) == (False, 4400)


def test_the_console_page_points_a_room_at_its_own_world(client, mentor, settings):
    settings.CHAT_ROOMS = True
    client.force_login(mentor)
    html = client.get("/chat/console/?room=Grader1").content.decode()
    assert 'data-ws-path="/ws/chat/console/?world=room.grader1"' in html
    assert f"ws://localhost:{settings.CHAT_PORT}/rooms/grader1" in html


def test_with_rooms_on_the_console_opens_on_the_shared_room_unchanged_clients_use(
    client, mentor, settings
):
    """A client built for ws://localhost:4000 lands in the shared room: the console starts
    there, and a room of the grader's own is one choice away."""
    settings.CHAT_ROOMS = True
    client.force_login(mentor)
    page = client.get("/chat/console/")
    assert page.status_code == 200
    assert page.context["world"] == "shared"
    assert client.get("/chat/console/?world=room.check-1").context["world"] == "room.check-1"


def test_the_console_offers_every_world_that_exists_now(client, mentor, settings):
    """Rooms held here without Redis; with the cluster, every world some process owns."""
    room = f"room.z{uuid.uuid4().hex[:8]}"
    client.force_login(mentor)
    if settings.REDIS_URL and settings.CHAT_CLUSTER:
        import redis

        from chat.cluster import LAYER

        key = f"{settings.CHANNEL_LAYERS[LAYER]['CONFIG']['prefix']}:lease:{room}"
        owner = redis.Redis.from_url(settings.REDIS_URL)
        owner.set(key, "another-process", px=30_000)
        try:
            html = client.get("/chat/console/").content.decode()
        finally:
            owner.delete(key)
    else:
        rooms.get_hub(room)
        try:
            html = client.get("/chat/console/").content.decode()
        finally:
            rooms.forget(room)
    assert f'<option value="{room}">{rooms.room_label(room)}</option>' in html
    assert f'<option value="{rooms.SHARED}" selected>/</option>' in html
