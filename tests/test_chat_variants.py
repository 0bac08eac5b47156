"""The automatic check on a corpus of client variants, each played by a grader twice.

Every variant (tests/chat_variants.py) must get its verdict on every item, whether the
grader answers prompts at once or takes longer than the client's time to react, and
whether they log the client in before starting the check or after.
"""

from __future__ import annotations

import itertools
import os
import uuid
from collections.abc import Iterator

import pytest

from tests.chat_variants import (
    RUN_OPTIONS,
    TIMINGS,
    VARIANTS,
    Console,
    Grader,
    SelfCheckPage,
    Timing,
    Variant,
    client_url,
    mismatches,
    static_site,
)
from tests.conftest import PASSWORD
from tests.quizkit import cookie_header
from tests.servers import free_port, server_process

pytestmark = [pytest.mark.live, pytest.mark.browser]
_runs = itertools.count(1)


@pytest.fixture(scope="module")
def chat_site(django_db_setup, django_db_blocker) -> Iterator[tuple[int, int]]:
    """One `manage.py serve` for the module; each run gets a chat room of its own."""
    site, chat = free_port(), free_port(ipv6_too=True)
    args = ["serve", "--site-port", str(site), "--chat-port", str(chat)]
    env = {
        "LOG": "NONE",
        "CHAT_ROOMS": "True",
        "CHAT_PORT": str(chat),  # the self-check page shows students this port
        "CHANNEL_LAYER_PREFIX": uuid.uuid4().hex[:10],
    }
    with django_db_blocker.unblock(), server_process(args, ports=[site, chat], env=env):
        yield site, chat


@pytest.fixture(scope="module")
def pages_url() -> Iterator[str]:
    with static_site() as url:
        yield url


@pytest.mark.django_db(transaction=True)
@pytest.mark.parametrize("timing", TIMINGS, ids=lambda t: t.name)
@pytest.mark.parametrize("variant", VARIANTS, ids=lambda v: v.name)
def test_the_check_gives_each_client_variant_its_verdicts(
    variant: Variant, timing: Timing, chat_site, pages_url, page, mentor
):
    """The run's verdicts are the variant's, item by item, at either grader timing."""
    site, chat = chat_site
    room = f"v{next(_runs)}-{uuid.uuid4().hex[:8]}"
    login = f"st-{uuid.uuid4().hex[:6]}"
    page.goto(client_url(pages_url, f"ws://127.0.0.1:{chat}/rooms/{room}", variant.switches))
    page.locator("#status", has_text="Connected").wait_for()
    console = Console(site, f"room.{room}", cookie_header(mentor))
    grader = Grader(console, page, login=login, delay=timing.delay)
    try:
        if timing.login_first:
            grader.log_in()
        started = console.command("run.start", login=login, options=RUN_OPTIONS)
        assert started["ok"], started
        final = grader.play()
    finally:
        console.close()
    assert final["status"] == "finished", final
    wrong = mismatches(variant.expected, final["results"])
    assert not wrong, f"{variant.name} ({variant.why}), steps {grader.done_steps}:\n" + "\n".join(
        wrong
    )


@pytest.mark.skipif(
    bool(os.environ.get("REDIS_URL")),
    reason="with the Redis chat cluster a room has no owner until a client connects to it, "
    "so the page cannot watch a private room first (a known limit, see the README)",
)
@pytest.mark.django_db(transaction=True)
def test_a_student_checks_their_own_client_from_the_module_page(
    chat_site, pages_url, page, student, module
):
    """The self-check runs in the student's private room with the console's prompts, and
    its report is the student's, marked as a self-check."""
    site, _ = chat_site
    page.goto(f"http://127.0.0.1:{site}/accounts/login/?next=/modules/{module.slug}/")
    page.get_by_label("Login").fill(student.username)
    page.get_by_label("Password").fill(PASSWORD)
    page.get_by_role("button", name="Log in").click()
    page.get_by_role("link", name="check it yourself").click()
    page.get_by_role("heading", name="Check my Fun Chat client").wait_for()
    page.locator("#console-status", has_text="Ready").wait_for()
    server = page.locator("#client-url").inner_text()
    assert "/rooms/self-" in server

    client = page.context.new_page()
    client.goto(client_url(pages_url, server, {}))
    client.locator("#status", has_text="Connected").wait_for()
    grader = Grader(SelfCheckPage(page), client, login="ann-self", delay=0.2)
    grader.log_in()
    page.get_by_label("The login your client uses").fill("ann-self")
    page.locator("summary", has_text="Timing").click()
    for label, value in [
        ("Wait for me at each prompt (s)", "20"),
        ("Wait for what the client does by itself (s)", "1.5"),
        ("Wait for a reconnect (s)", "5"),
        ("Server down after the simulated loss (s)", "1"),
    ]:
        page.get_by_label(label).fill(value)
    page.get_by_role("button", name="Start check").click()
    final = grader.play()
    assert final["status"] == "finished", final

    results = page.locator("#run-results li")
    assert results.count() == 12
    assert results.filter(has_text="passed").count() == 12, "\n".join(results.all_inner_texts())
    page.get_by_role("link", name="Open the report").click()
    page.get_by_role("heading", name="Chat check of").wait_for()
    assert page.locator(".badge.self_check").count() == 1
    assert page.locator("table.items .badge.passed").count() == 12
