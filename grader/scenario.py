"""The scripted scenario of a check run (grader.checkrun), paced by the grader.

Every manual step waits for the grader's "I did it" (or Yes / No), never for frames, so
the grader has time to act and to look; the rules (grader.checks) then judge each frame
by what preceded it. Steps, in order:

1. the student logs in (or is logged in already: the check starts from that state);
2. the bot joins, a second bot leaves an unread message and goes offline, and the bot
   sends three messages, edits the second (to a text without the word "edited") and
   deletes the third, which was unread;
3. the grader says whether the unread counter for the bot went down (6.12);
4. the grader opens the dialogue with the bot and touches nothing, then clicks or
   scrolls its history (8.2, the waiting messages);
5. the bot writes into the open dialogue: it must be read by itself (8.2);
6. the grader says whether the edited message shows an edited mark (6.13);
7. the grader sends, edits and deletes messages and tries an empty one (6.12, 6.13, 7.3);
8. the server cuts the student's connection and the bot writes meanwhile; a client that
   shows no reconnect attempt within a few seconds is reloaded by the grader (8.1);
9. the connection loss of items 11.1/11.2; no attempt within a few seconds ends the run.
"""

from __future__ import annotations

import asyncio
import contextlib
from typing import Any, Protocol

from grader import checks, waits
from grader.agent import Agent
from grader.bot import Bot, BotError
from grader.recorder import Frame


class CheckRun(Protocol):
    """What the scenario needs of a run (grader.checkrun.CheckRun)."""

    agent: Agent
    login: str
    options: Any  # grader.checkrun.RunOptions
    bot: Bot | None
    helper: Bot | None
    fingerprints: set[Any]

    def mark(self, name: str, note: str = "", **info: Any) -> Frame: ...
    def announce(self, step: str, prompt: str) -> None: ...
    def student_conn(self) -> Any: ...
    async def until(
        self, predicate: waits.Predicate, timeout: float, *, since: int | None = None
    ) -> Frame | None: ...
    async def ask(self, step: str, prompt: str, kind: str = "done") -> str | None: ...


EDITED_TEXT = "Hello again from the checker (2 of 3), with a new text"


async def play(run: CheckRun) -> None:
    o = run.options
    login = run.login
    online = run.student_conn() is not None
    if not online and await run.until(waits.logged_in(login), o.login_timeout) is None:
        run.mark("no-login", f"{login!r} did not log in")
        return
    bot = await _bots(run)
    await _screen(run, bot)
    await _cut(run, bot)
    await _loss(run)


async def _bots(run: CheckRun) -> str:
    login = run.login
    run.announce("bot", "The checker bot joins the chat.")

    def read_later(frame: dict[str, Any]) -> None:
        """The bot reads what the student sends it, a moment later (the sender sees both)."""
        message = (frame.get("payload") or {}).get("message") or {}
        if frame.get("type") == "MSG_SEND" and message.get("from") == login:
            asyncio.get_running_loop().call_later(0.5, _read, message.get("id"))

    def _read(message_id: Any) -> None:
        if run.bot is not None and run.bot.connected and isinstance(message_id, str):
            with contextlib.suppress(BotError):  # deleted meanwhile
                run.bot.read(message_id)

    bot = run.bot = run.agent.connect_bot(on_push=read_later)
    run.agent.revive.append(bot)
    helper = run.helper = run.agent.new_bot(f"{bot.login}-off")
    helper.connect()
    helper.send(login, "A message from a user who is now offline: it stays unread")
    helper.disconnect()
    run.mark(
        checks.M_BOT,
        f"bots {bot.login!r} and {helper.login!r} joined",
        bot=bot.login,
        helper=helper.login,
    )
    m1 = bot.send(login, "Hello from the checker (1 of 3)")["id"]
    m2 = bot.send(login, "Hello from the checker (2 of 3)")["id"]
    m3 = bot.send(login, "This message will be deleted (3 of 3)")["id"]
    bot.edit(m2, EDITED_TEXT)
    bot.delete(m3)
    run.mark(
        checks.M_MESSAGES,
        "the bot sent 3 messages, edited one and deleted one",
        unread=[m1, m2],
        edited=m2,
        deleted=m3,
    )
    return bot.login


async def _screen(run: CheckRun, bot: str) -> None:
    """What a person does in the client and sees on its screen, one prompt at a time."""
    o = run.options
    await run.ask(
        checks.S_COUNTER,
        f"Look at the user list in the student's client: the bot “{bot}” sent 3 messages "
        "and deleted one of them while it was unread. Does its unread counter show 2?",
        "yesno",
    )
    await run.ask(
        checks.S_OPEN,
        f"Open the dialogue with “{bot}”. Do not scroll, click or type in it yet. "
        "Press “I did it” once it is open.",
    )
    clicked = await run.ask(
        checks.S_CLICK,
        f"Now click the message history of the dialogue with “{bot}” (or scroll it), once. "
        "Press “I did it”.",
    )
    if clicked is not None and run.student_conn() is not None:
        run.announce(
            "open-message",
            "The bot writes into the open dialogue now. Do nothing: the client must mark "
            f"it read by itself within {o.react_timeout:g} s.",
        )
        assert run.bot is not None  # joined in _bots, before any prompt
        m4 = run.bot.send(run.login, "Sent while your dialogue with me is open")["id"]
        sent = run.mark(checks.M_OPEN_MESSAGE, "the bot wrote into the open dialogue", msg=m4)
        await run.until(_read_by(run.login, m4), o.react_timeout, since=sent.seq)
    await run.ask(
        checks.S_EDITED,
        "In the dialogue, does the bot's second message show its new text (“…with a new "
        "text”) and an edited mark?",
        "yesno",
    )
    await run.ask(
        checks.S_ACTIONS,
        f"In the student's client: send “{bot}” a message, edit it, delete a message of "
        "your own, and try to send an empty message (zero characters: it must not go). "
        "Look at the screen, then press “I did it”; the connection is cut after that.",
    )


def _read_by(login: str, msg: str) -> waits.Predicate:
    return lambda f: (
        f.dir == "in" and f.type == "MSG_READ" and f.login == login and f.info.get("msg") == msg
    )


async def _cut(run: CheckRun, bot: str) -> None:
    """8.1: the student's socket closes and the bot writes; delivery on the next login."""
    o = run.options
    login = run.login
    run.announce(
        "delivery",
        "The server closes the student's connection now and the bot writes meanwhile. "
        "Do nothing: the client should reconnect and log in by itself.",
    )
    conn = run.student_conn()
    if conn is None:
        run.mark(checks.M_SKIPPED, "the student was not online", step=checks.M_CUT)
        return
    run.agent.kick(conn)
    assert run.bot is not None  # joined in _bots, before any prompt
    sent = run.bot.send(login, "Sent while you were offline")
    cut = run.mark(
        checks.M_CUT,
        "the server closed the student's connection",
        msg=sent["id"],
        delivered=bool(sent.get("status", {}).get("isDelivered")),
        conn=conn,
    )
    back = None
    if await run.until(waits.attempt(login, run.fingerprints), o.attempt_timeout, since=cut.seq):
        back = await run.until(waits.logged_in(login), o.reconnect_timeout, since=cut.seq)
    else:
        run.mark(checks.M_NO_ATTEMPT, "no reconnect attempt after the cut", step=checks.M_CUT)
    if back is None:
        # Delivery on login (8.1) needs a login, whoever makes it.
        run.announce(
            checks.S_RELOAD,
            f"The client did not come back by itself. Reload the student's page and log in "
            f"as “{login}” again.",
        )
        back = await run.until(waits.logged_in(login), o.prompt_timeout, since=cut.seq)
    if back is not None:
        await run.until(waits.delivered(sent["id"]), o.react_timeout, since=cut.seq)
        await run.until(waits.settled(login, back.conn), o.window, since=back.seq - 1)


async def _loss(run: CheckRun) -> None:
    """11.1/11.2: every socket closed, the state wiped, the server down for `outage` s."""
    o = run.options
    login = run.login
    run.announce(
        "loss",
        f"Connection loss simulated: every socket closed, all users and messages wiped, and "
        f"the server down for {o.outage:g} s. The client should say so, reconnect and log "
        "in by itself.",
    )
    loss = run.mark(checks.M_LOSS, "connection loss simulated", outage=o.outage)
    run.agent.simulate_loss(o.outage)
    attempt = waits.attempt(login, run.fingerprints)
    if await run.until(attempt, o.outage + o.attempt_timeout, since=loss.seq) is None:
        run.mark(checks.M_NO_ATTEMPT, "no reconnect attempt after the loss", step=checks.M_LOSS)
        return
    back = await run.until(waits.logged_in(login), o.outage + o.reconnect_timeout, since=loss.seq)
    if back is not None:
        await run.until(waits.settled(login, back.conn), o.window, since=back.seq - 1)
