from __future__ import annotations

import os
import shutil
import time
from collections.abc import Iterator
from types import SimpleNamespace

import pytest
from django.contrib.auth.models import Group, User
from django.core.management import call_command
from django.db import OperationalError, connections
from django.db.backends.base.operations import BaseDatabaseOperations
from django.db.backends.signals import connection_created
from django.test import override_settings

from courseware.roles import MENTORS, STUDENTS
from tests.servers import LoopThread, free_port, layer_env, server_process

CHROMIUM = "/usr/bin/chromium"
PASSWORD = "correct-horse-battery"
FAST_HASHER = "django.contrib.auth.hashers.MD5PasswordHasher"


def make_user(username: str, *, group: str | None = None, **fields) -> User:
    user = User.objects.create_user(username=username, password=PASSWORD, **fields)
    if group:
        # get_or_create: a transactional test's flush also empties the groups that a data
        # migration made, and later tests must not depend on the order they run in.
        user.groups.add(Group.objects.get_or_create(name=group)[0])
    return user


@pytest.fixture(autouse=True, scope="session")
def fast_password_hasher() -> Iterator[None]:
    """Every account a test makes is hashed with MD5, which is instant, instead of PBKDF2.

    PBKDF2 spends a third of a second of CPU per password by design, on every account made
    and every login, which dominated the run time of the unit tests.
    The variable reaches the server processes the tests start (tests/servers.py passes the
    environment on), so a browser logging in there is checked against the same hasher.
    """
    with pytest.MonkeyPatch.context() as patch, override_settings(PASSWORD_HASHERS=[FAST_HASHER]):
        patch.setenv("PASSWORD_HASHERS", FAST_HASHER)
        yield


def _sqlite_without_fsync(sender, connection, **kwargs) -> None:
    """The test database is thrown away, so SQLite need not wait for the disk at each commit.

    Transactional tests empty every table after each test; on a busy disk those syncs took
    about 40% of their run time (measured: 35 s and 47 s against 22 s and 26 s).
    """
    if connection.vendor == "sqlite":
        with connection.cursor() as cursor:
            cursor.execute("PRAGMA synchronous=OFF")


connection_created.connect(_sqlite_without_fsync)


def _deadlocked(error: OperationalError) -> bool:
    return getattr(error.__cause__, "sqlstate", None) == "40P01"


@pytest.fixture(autouse=True, scope="session")
def flush_retries_a_deadlock() -> Iterator[None]:
    """A transactional test's flush is tried again when PostgreSQL picks it as a deadlock's victim.

    A served site stays up for a whole test module, and its sweeper and sockets keep
    querying while a test's teardown empties the tables. TRUNCATE locks its tables one by
    one, a query locks the tables it joins one by one, so the two can wait on each other;
    PostgreSQL then cancels one of them. When that is the flush, the tables stay full and
    the next test fails on rows it did not make (seen once in CI). Trying again is right:
    the cancelled flush has rolled back and the query it met has finished.
    """
    flush = BaseDatabaseOperations.execute_sql_flush

    def execute_sql_flush(self, sql_list) -> None:
        for tries_left in range(4, -1, -1):
            try:
                return flush(self, sql_list)
            except OperationalError as error:
                if not tries_left or not _deadlocked(error):
                    raise
                time.sleep(0.1)

    with pytest.MonkeyPatch.context() as patch:
        patch.setattr(BaseDatabaseOperations, "execute_sql_flush", execute_sql_flush)
        yield


@pytest.fixture(autouse=True)
def role_groups(request) -> None:
    """The role groups for every database test.

    They come from a data migration, and a transactional test's flush wipes them. No test
    uses serialized_rollback instead: after such a flush, post_migrate recreates content
    types under new ids and restoring the serialized copy fails on them.
    """
    if request.node.get_closest_marker("django_db") or "db" in request.fixturenames:
        request.getfixturevalue("db")
        for name in (STUDENTS, MENTORS):
            Group.objects.get_or_create(name=name)


@pytest.fixture
def student(db) -> User:
    return make_user("alice", group=STUDENTS)


@pytest.fixture
def other_student(db) -> User:
    return make_user("bob", group=STUDENTS)


@pytest.fixture
def mentor(db) -> User:
    return make_user("mentor", group=MENTORS)


@pytest.fixture
def other_mentor(db) -> User:
    return make_user("mentor2", group=MENTORS)


@pytest.fixture
def mentored(student, other_student, mentor, other_mentor) -> None:
    """mentor mentors alice; mentor2 mentors bob."""
    from courseware.models import Mentorship

    Mentorship.objects.create(mentor=mentor, student=student)
    Mentorship.objects.create(mentor=other_mentor, student=other_student)


@pytest.fixture
def people(mentored, demo, student, other_student, mentor, other_mentor, admin_user):
    """The demo test and everyone around it: alice is mentor's student, bob is mentor2's."""
    return SimpleNamespace(
        quiz=demo,
        alice=student,
        bob=other_student,
        mentor=mentor,
        other_mentor=other_mentor,
        admin=admin_user,
    )


@pytest.fixture
def admin_user(db) -> User:
    return User.objects.create_superuser("root", password=PASSWORD)


@pytest.fixture
def admin_client(client, admin_user):
    """A client signed in as the superuser through the login form's password check."""
    client.login(username=admin_user.username, password=PASSWORD)
    return client


@pytest.fixture
def module(db):
    call_command("load_module", "fixtures/modules/st2-websockets.yaml", verbosity=0)
    from courseware.models import Module

    return Module.objects.get(slug="st2-websockets")


@pytest.fixture(scope="module")
def fresh_db_after(django_db_setup, django_db_blocker):
    """When the module is done, leave the database as a fresh test database.

    A transactional test's flush lets post_migrate recreate content types under new ids
    and loses the role groups. A later test with serialized_rollback then fails to
    restore its copy over them, and a later plain test misses the groups. Emptying the
    tables and restoring the serialized copy (when the run made one) avoids both,
    whatever order the test files run in.
    """
    yield
    contents = getattr(connections["default"], "_test_serialized_contents", None)
    with django_db_blocker.unblock():
        call_command("flush", interactive=False, inhibit_post_migrate=bool(contents), verbosity=0)
        if contents:
            connections["default"].creation.deserialize_db_from_string(contents)
        else:
            for name in (STUDENTS, MENTORS):
                Group.objects.get_or_create(name=name)


@pytest.fixture
def st2(module):
    """The shipped "[St2] WebSockets" bank, loaded as mentors load it."""
    from tests.quizkit import ST2, load_quiz

    return load_quiz(ST2)


@pytest.fixture
def demo(module):
    """The small demo test (tests/quiz-demo.yaml): few questions, every one with a wrong option."""
    from tests.quizkit import DEMO, load_quiz

    return load_quiz(DEMO)


@pytest.fixture
def quiz(demo):
    """The test a test file is about when it needs only one: the demo."""
    return demo


@pytest.fixture(scope="module")
def site(django_db_setup, django_db_blocker) -> Iterator[str]:
    """One `manage.py serve` (site only, loopback) per test module, on the test database."""
    from tests.quizkit import serve
    from tests.servers import free_port

    port = free_port()
    with django_db_blocker.unblock(), serve(port):
        yield f"http://127.0.0.1:{port}"


@pytest.fixture(scope="module")
def browser() -> Iterator:
    """Debian's Chromium driven by Playwright; never Playwright's own browser download.

    Module-scoped: Playwright's sync API keeps an event loop running in this thread
    while it is open, which would break asyncio tests in other modules.
    """
    if not shutil.which(CHROMIUM):
        pytest.skip(f"no Chromium at {CHROMIUM}: install Debian's 'chromium' package")
    from playwright.sync_api import sync_playwright

    # Playwright's sync API runs an event loop in this thread; the ORM calls the tests
    # make around it are still plain synchronous calls.
    os.environ["DJANGO_ALLOW_ASYNC_UNSAFE"] = "true"
    with sync_playwright() as p:
        browser = p.chromium.launch(
            executable_path=CHROMIUM,
            args=[
                "--no-sandbox",
                "--disable-gpu",
                "--disable-quic",
                "--no-first-run",
                "--disable-background-networking",
                "--disable-component-update",
                "--disable-sync",
            ],
        )
        yield browser
        browser.close()


@pytest.fixture
def page(browser) -> Iterator:
    context = browser.new_context()
    page = context.new_page()
    page.set_default_timeout(10_000)
    yield page
    context.close()


@pytest.fixture(scope="module")
def probe() -> Iterator:
    """tests/wsprobe.py's misbehaving WebSocket servers, on loopback, for one test module."""
    from tests.wsprobe import Probe

    with Probe().running() as running:
        yield running


@pytest.fixture
def probe_page(page, probe):
    """A blank page served by the probe: an http://127.0.0.1 origin with its JS helpers."""
    page.goto(probe.page)
    return page


@pytest.fixture
def loop_thread() -> Iterator[LoopThread]:
    """An event loop in a thread for asyncio clients, stopped after the test."""
    thread = LoopThread()
    yield thread
    thread.stop()


@pytest.fixture
def served(mentor) -> Iterator[tuple[int, int]]:
    """`manage.py serve`: the site and the chat in one process, as `make run` starts them."""
    site, chat = free_port(), free_port(ipv6_too=True)
    args = ["serve", "--site-port", str(site), "--chat-port", str(chat)]
    with server_process(args, ports=[site, chat], env={"LOG": "NONE", **layer_env()}):
        yield site, chat


@pytest.fixture
def own_layer(settings) -> None:
    """A channel layer of this test run only (other runs may share the Redis server), and
    a quick attempt clock."""
    if os.environ.get("REDIS_URL"):
        config = settings.CHANNEL_LAYERS["default"]["CONFIG"]
        settings.CHANNEL_LAYERS = {
            "default": {
                **settings.CHANNEL_LAYERS["default"],
                "CONFIG": {**config, "prefix": f"quiztest{os.getpid()}"},
            }
        }
    settings.QUIZ_CLOCK_SECONDS = 0.2


@pytest.fixture
def cohort(module, mentor):
    """The hand-computed cohort of tests/mentor_world.py, all assigned to `mentor`.

    s1 first sits an all-wrong attempt that must not count (the last one counts)."""
    from courseware.models import Mentorship
    from tests.mentor_world import STUDENTS as COHORT
    from tests.mentor_world import cohort_letters, make_quiz, sit

    quiz = make_quiz(module)
    students = [make_user(name, group=STUDENTS) for name in COHORT]
    for student in students:
        Mentorship.objects.create(mentor=mentor, student=student)
    sit(quiz, students[0], {"q1": "C", "q2": "B", "q3": "C", "q4": "C", "q5": "C"})
    for index, student in enumerate(students):
        sit(quiz, student, cohort_letters(index))
    return quiz, students


@pytest.fixture
def fresh_chat():
    """Every chat room forgotten before and after the test."""
    from chat import rooms

    rooms.reset()  # the shared world and every room
    yield
    rooms.reset()  # the shared world and every room


@pytest.fixture
async def control(settings):
    """With REDIS_URL the console talks to the chat over Redis: listen here, on our own prefix."""
    import asyncio
    import json
    import uuid

    from grader.control import control_channel, listen

    if not settings.REDIS_URL:
        yield
        return
    layers = json.loads(json.dumps(settings.CHANNEL_LAYERS))
    layers["default"]["CONFIG"]["prefix"] = f"test-console-{uuid.uuid4().hex[:8]}"
    settings.CHANNEL_LAYERS = layers
    # What the owners of these worlds do in a chat server process (chat.cluster).
    tasks = [
        asyncio.ensure_future(listen(control_channel(world), world))
        for world in ("shared", "room.grader1")
    ]
    yield
    for task in tasks:
        task.cancel()
