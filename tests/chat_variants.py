"""A corpus of Fun Chat client variants, each with the verdicts the automatic check owes it.

The clients are one page, tests/funchat_variants/ (client.js), whose query-string switches
turn on what students' clients really do: read only on scroll or on send, reconnect in a
storm or never, log in again by themselves or not, let an empty message go, show no edited
mark, keep a deleted message in the unread counter, skip the per-user history requests.
The `Grader` plays a person at the console: it answers each prompt by acting in the
client's page (Playwright) and looking at it, after a chosen delay.
"""

from __future__ import annotations

import contextlib
import functools
import http.server
import itertools
import json
import threading
import time
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any
from urllib.parse import urlencode

from websockets.sync.client import connect

PAGES = Path(__file__).resolve().parent / "funchat_variants"
CODES = ("5.1", "5.4", "6.2", "6.12", "6.13", "7.3", "8.1", "8.2", "11.1", "11.2", "P.1", "P.2")
PASSED, FAILED, NOT_OBSERVED = "passed", "failed", "not_observed"

# Short waits keep one run to seconds; the grader's delay is set per timing.
RUN_OPTIONS = {
    "login_timeout": 20,
    "prompt_timeout": 20,
    "react_timeout": 1.5,
    "attempt_timeout": 2,
    "reconnect_timeout": 5,
    "outage": 1,
    "window": 1.5,
    "abandon_after": 60,
}


def verdicts(**failed_or_unseen: str) -> dict[str, str]:
    """Every item passed except those named (`i8_2="failed"` is item 8.2)."""
    changes = {name[1:].replace("_", "."): status for name, status in failed_or_unseen.items()}
    assert set(changes) <= set(CODES), changes
    return {code: changes.get(code, PASSED) for code in CODES}


@dataclass(frozen=True)
class Variant:
    name: str
    why: str
    switches: dict[str, str] = field(default_factory=dict)
    expected: dict[str, str] = field(default_factory=verdicts)


VARIANTS = (
    Variant("correct", "does everything right"),
    Variant(
        "read-on-scroll",
        "marks read only when the history is clicked or scrolled: the message written into "
        "the open dialogue stays unread",
        {"read": "scroll"},
        verdicts(i8_2=FAILED),
    ),
    Variant(
        "read-on-send",
        "marks read only when the student sends: late, whenever the grader gets to it",
        {"read": "send"},
        verdicts(i8_2=FAILED),
    ),
    Variant(
        "reconnect-storm",
        "retries every 100 ms while the server is down, then logs in again",
        {"reconnect": "storm"},
        verdicts(iP_2=FAILED),
    ),
    Variant(
        "storm-without-login",
        "retries every 100 ms and reconnects, but never logs in again by itself",
        {"reconnect": "storm", "relogin": "0"},
        verdicts(i11_2=FAILED, iP_2=FAILED),
    ),
    Variant(
        "never-reconnects",
        "shows the loss and stays offline; the grader reloads it after the cut",
        {"reconnect": "none"},
        verdicts(i11_1=FAILED, i11_2=FAILED),
    ),
    Variant(
        "reconnects-without-login",
        "reconnects with backoff and shows its login form again",
        {"relogin": "0"},
        verdicts(i11_2=FAILED),
    ),
    Variant(
        "sends-empty",
        "its send button lets an empty message go",
        {"empty": "allow"},
        verdicts(i7_3=FAILED),
    ),
    Variant(
        "no-edited-mark",
        "shows the new text of an edited message but no edited mark",
        {"edited": "none"},
        verdicts(i6_13=FAILED),
    ),
    Variant(
        "stale-counter",
        "a deleted unread message still counts in the user list's unread counter (the "
        "grader sees it after the bot's deletion: 6.12)",
        {"counter": "stale"},
        verdicts(i6_12=FAILED),
    ),
    Variant(
        "lazy-lists",
        "asks no user's history after logging in: no unread counters, and what was sent "
        "while it was offline is not delivered on login",
        {"lists": "lazy"},
        verdicts(i5_4=FAILED, i8_1=FAILED),
    ),
)


@dataclass(frozen=True)
class Timing:
    """How the grader works: how long they take at each prompt, and when they log in."""

    name: str
    delay: float
    login_first: bool  # log in, then Start check (the README's order), or the other way


TIMINGS = (
    Timing("quick-grader-logs-in-late", 0.2, login_first=False),
    Timing("slow-grader-logs-in-first", 2.0, login_first=True),
)


@contextlib.contextmanager
def static_site() -> Iterator[str]:
    """The variant pages over HTTP on loopback, from a thread; yields the base URL."""

    class Quiet(http.server.SimpleHTTPRequestHandler):
        def log_message(self, format: str, *args: Any) -> None:
            pass

    handler = functools.partial(Quiet, directory=str(PAGES))
    server = http.server.ThreadingHTTPServer(("127.0.0.1", 0), handler)
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    try:
        yield f"http://127.0.0.1:{server.server_address[1]}/index.html"
    finally:
        server.shutdown()
        server.server_close()
        thread.join(5)


class Console:
    """The console's socket, as the console page uses it: commands out, run states in."""

    def __init__(self, site: int, room: str, cookie: str) -> None:
        self.stack = contextlib.ExitStack()
        self.ws = self.stack.enter_context(
            connect(
                f"ws://127.0.0.1:{site}/ws/chat/console/?world={room}",
                additional_headers={"Cookie": cookie, "Origin": f"http://127.0.0.1:{site}"},
                open_timeout=10,
            )
        )
        self.run: dict[str, Any] | None = None
        self.replies: dict[int, dict[str, Any]] = {}
        self.changed = threading.Condition()
        self.refs = itertools.count(1)
        self.reader = threading.Thread(target=self._read, daemon=True)
        self.reader.start()

    def _read(self) -> None:
        with contextlib.suppress(Exception):  # the socket closes at the end
            while True:
                message = json.loads(self.ws.recv())
                with self.changed:
                    if message.get("kind") == "reply":
                        self.replies[message.get("ref")] = message
                        data = message.get("data")
                        if isinstance(data, dict) and "run" in data:
                            self.run = data["run"] or self.run
                    elif "run" in message and message["run"] is not None:
                        self.run = message["run"]
                    self.changed.notify_all()

    def command(self, cmd: str, **fields: Any) -> dict[str, Any]:
        ref = next(self.refs)
        self.ws.send(json.dumps({"cmd": cmd, "ref": ref, **fields}))
        with self.changed:
            if not self.changed.wait_for(lambda: ref in self.replies, timeout=10):
                raise AssertionError(f"the console got no reply to {cmd}")
            return self.replies.pop(ref)

    def wait(self, wanted: Callable[[dict[str, Any]], bool], timeout: float) -> dict[str, Any]:
        with self.changed:
            if not self.changed.wait_for(
                lambda: self.run is not None and wanted(self.run), timeout
            ):
                raise AssertionError(f"the run never got there; it is at {self.run}")
            assert self.run is not None
            return dict(self.run)

    def close(self) -> None:
        self.stack.close()
        self.reader.join(5)


class SelfCheckPage:
    """The student's self-check page, used as the Grader uses a Console."""

    ANSWERS = {"done": "I did it", "yes": "Yes", "no": "No"}

    def __init__(self, page: Any) -> None:
        self.page = page

    def state(self) -> dict[str, Any] | None:
        # One read of the whole box: attribute by attribute, the page may re-render in
        # between and pair one step's name with the next step's question.
        return self.page.locator("#run").evaluate(
            """box => box.dataset.status === undefined ? null : {
                status: box.dataset.status, step: box.dataset.step,
                asks: box.dataset.asks || null, bot: box.dataset.bot || null,
                prompt: document.getElementById("run-prompt").innerText,
            }"""
        )

    def wait(self, wanted: Callable[[dict[str, Any]], bool], timeout: float) -> dict[str, Any]:
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            state = self.state()
            if state is not None and wanted(state):
                return state
            self.page.wait_for_timeout(100)
        raise AssertionError(f"the self-check never got there; it is at {self.state()}")

    def command(self, cmd: str, *, answer: str) -> dict[str, Any]:
        assert cmd == "run.answer"
        button = self.page.get_by_role("button", name=self.ANSWERS[answer], exact=True)
        try:
            button.click(timeout=10_000)
        except Exception as error:  # say where the run was instead of only "timeout"
            raise AssertionError(f"no {answer!r} button; the run is at {self.state()}") from error
        return {"ok": True}


def client_url(base: str, server: str, switches: dict[str, str]) -> str:
    """The variant page that talks to the chat at `server` (a ws:// URL)."""
    return f"{base}?{urlencode({'server': server, **switches})}"


class Grader:
    """A person at the console and the student's client: acts and looks, then answers."""

    def __init__(
        self, console: Console | SelfCheckPage, page: Any, *, login: str, delay: float
    ) -> None:
        self.console = console
        self.page = page
        self.login = login
        self.delay = delay
        self.done_steps: list[str] = []

    def log_in(self) -> None:
        status = self.page.locator("#status")
        logins = int(status.get_attribute("data-logins") or 0)
        self.page.get_by_label("Login").fill(self.login)
        self.page.get_by_label("Password").fill("pw")
        self.page.get_by_role("button", name="Log in").click()
        try:
            # The login may be over by the time we look: the check moves on at once.
            self.page.locator(f'#status[data-logins="{logins + 1}"]').wait_for(state="attached")
        except Exception as error:
            raise AssertionError(f"the client did not log in: {status.inner_text()}") from error

    def play(self, *, timeout: float = 90) -> dict[str, Any]:
        """Answer every prompt until the run ends; its final state (with the results)."""
        deadline = time.monotonic() + timeout
        handled: set[tuple[str, str]] = set()
        while True:
            state = self.console.wait(
                lambda s: (
                    s["status"] != "running"
                    or ((s["asks"] or s["step"] in ("login", "reload")) and key(s) not in handled)
                ),
                timeout=max(1, deadline - time.monotonic()),
            )
            if state["status"] != "running":
                return state
            handled.add(key(state))
            time.sleep(self.delay)
            self.done_steps.append(state["step"])
            if state["step"] in ("login", "reload"):
                if "is logged in" not in state["prompt"]:
                    if state["step"] == "reload":
                        self.page.reload()
                    self.log_in()
                if not state["asks"]:
                    continue
            answer = self.act(state)
            reply = self.console.command("run.answer", answer=answer)
            assert reply["ok"] or "does not ask" in reply.get("error", ""), reply

    def act(self, state: dict[str, Any]) -> str:
        """Do what the prompt asks in the client; Yes or No from what the screen shows."""
        step, bot = state["step"], state["bot"]
        page = self.page
        if step == "counter":
            badge = page.locator(f'#users li[data-login="{bot}"] .unread')
            return "yes" if badge.inner_text() == "2" else "no"
        if step == "open":
            page.locator(f'#users li[data-login="{bot}"]').click()
        elif step == "click":
            page.locator("#messages").click()
        elif step == "edited":
            edited = page.locator("#messages li", has_text="with a new text")
            shown = edited.count() == 1 and "edited" in edited.locator(".meta").inner_text()
            return "yes" if shown else "no"
        elif step in ("actions", "send"):
            self.send("Hi checker")
        if step in ("actions", "edit"):
            page.locator("#messages li.mine").last.get_by_role("button", name="Edit").click()
            page.locator("#text").fill("Hi checker, changed")
            page.locator("#send").click()
        if step in ("actions", "delete"):
            self.send("going away")
            page.locator("#messages li.mine").last.get_by_role("button", name="Delete").click()
        if step in ("actions", "empty"):
            page.locator("#text").fill("")
            if page.locator("#send").is_enabled():
                page.locator("#send").click()
        return "yes" if state["asks"] == "yesno" else "done"

    def send(self, text: str) -> None:
        self.page.locator("#text").fill(text)
        self.page.locator("#send").click()
        self.page.locator("#messages li.mine", has_text=text).last.wait_for()


def key(state: dict[str, Any]) -> tuple[str, str]:
    return state["step"], state["prompt"]


def mismatches(expected: dict[str, str], results: list[dict[str, Any]]) -> list[str]:
    """Lines naming each item whose verdict is not the expected one (with its summary)."""
    got = {r["code"]: r for r in results}
    lines = []
    for code, status in expected.items():
        result = got.get(code, {"status": "missing", "summary": ""})
        if result["status"] != status:
            lines.append(f"{code}: expected {status}, got {result['status']}: {result['summary']}")
    return lines
