"""One automatic check of a student's client: the scripted scenario, then the report.

The run records the frames of the student's connections and of its bots, drives the bot
through a fixed scenario, prompts the grader where a person has to act in the client, and
waits for what the client should do. grader.checks then judges the recording, and the report
is saved. Steps, in order:

1. wait until the student's login is online (the grader logs in in the client);
2. the bot joins, and a second bot leaves an unread message and goes offline;
3. the bot sends three messages, edits the second and deletes the third;
4. the grader opens the dialogue with the bot: the messages must become read, and then one
   sent while the dialogue is open;
5. the grader sends, edits and deletes messages, and tries an empty one;
6. the server cuts the student's connection and the bot writes meanwhile: after the client
   reconnects and logs in by itself, that message must become delivered;
7. the connection loss of items 11.1/11.2: every socket closed, the state wiped, the server
   down for a few seconds; the client must come back and log in again.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import time
from collections import deque
from dataclasses import asdict, dataclass
from typing import Any

from channels.db import database_sync_to_async
from django.urls import reverse

from grader import checks, waits
from grader.agent import Agent, CommandError
from grader.bot import Bot, BotError
from grader.models import CheckReport
from grader.recorder import MARK, REFUSED, Frame
from grader.waits import Predicate

logger = logging.getLogger(__name__)


@dataclass(frozen=True)
class RunOptions:
    """How long each step waits, in seconds."""

    login_timeout: float = 120.0  # for the student to log in at the start
    prompt_timeout: float = 90.0  # for the grader to do what a prompt asks
    react_timeout: float = 10.0  # for what the client does by itself
    reconnect_timeout: float = 30.0  # for the client to come back after its socket closed
    outage: float = 3.0  # the server refuses connections this long after the loss
    window: float = 5.0  # after a login: the user lists and per-user requests
    max_frames: int = 20_000

    def limits(self) -> checks.Limits:
        return checks.Limits(window=self.window, react=self.react_timeout)


class CheckRun:
    """A check of the client logged in (or about to log in) as `login`."""

    def __init__(self, agent: Agent, *, login: str, report_id: int, options: RunOptions) -> None:
        self.agent = agent
        self.recorder = agent.recorder
        self.login = login
        self.report_id = report_id
        self.options = options
        self.frames: deque[Frame] = deque(maxlen=options.max_frames)
        self.dropped = 0
        self.active = False
        self.status = "running"
        self.step = "starting"
        self.prompt = ""
        self.deadline: float | None = None
        self.results: list[checks.Result] | None = None
        self.bot: Bot | None = None
        self.task: asyncio.Task | None = None
        self._waiters: list[tuple[Predicate, asyncio.Future]] = []
        self._skip = asyncio.Event()
        self._stopping = False

    # -- recording --------------------------------------------------------------------------

    def _keep(self, f: Frame) -> bool:
        """The student's, the bots' and not-yet-logged-in connections; the timeline."""
        return f.dir in (MARK, REFUSED) or f.bot or f.login is None or f.login == self.login

    def sink(self, f: Frame) -> None:
        if not self._keep(f):
            return
        if len(self.frames) == self.frames.maxlen:
            self.dropped += 1
        self.frames.append(f)
        for predicate, future in self._waiters:
            if not future.done():
                try:
                    if predicate(f):
                        future.set_result(f)
                except Exception:  # a rule bug must not break the chat's delivery
                    logger.exception("check run predicate failed")
                    future.set_result(None)

    def mark(self, name: str, note: str = "", **info: Any) -> Frame:
        return self.recorder.mark(name, note, **info)

    # -- control ----------------------------------------------------------------------------

    def start(self) -> None:
        self.active = True
        self.recorder.sinks.append(self.sink)
        o = self.options
        self.start_mark = self.mark(
            checks.M_START, f"check of {self.login!r} started", login=self.login, options=asdict(o)
        )
        self._step("login", f"Log in as “{self.login}” in the student's client.")
        self.task = asyncio.ensure_future(self._main())

    def skip(self) -> None:
        """The grader moves on from the current wait."""
        self._skip.set()

    def stop(self) -> None:
        """The grader ends the run; what was seen so far is still judged and saved."""
        if self.task is not None and self.active and not self._stopping:
            self._stopping = True
            self.task.cancel()

    def state(self) -> dict[str, Any]:
        return {
            "login": self.login,
            "report_id": self.report_id,
            "report_url": reverse("chat:report", args=[self.report_id]),
            "status": self.status,
            "step": self.step,
            "prompt": self.prompt,
            "deadline": self.deadline,
            "bot": self.bot.login if self.bot else None,
            "results": [
                {"code": r.code, "title": r.item.title, "status": r.status, "summary": r.summary}
                for r in self.results or []
            ],
        }

    def _step(self, step: str, prompt: str) -> None:
        self.step, self.prompt = step, prompt
        self.mark("step", prompt, step=step)
        self.agent.changed()

    # -- waiting ----------------------------------------------------------------------------

    async def _until(
        self, predicate: Predicate, timeout: float, *, since: int | None = None
    ) -> Frame | None:
        """The first frame the predicate accepts (recorded after `since`, if given), else None.

        None after `timeout` seconds, or when the grader skips the wait.
        """
        if since is not None:
            for f in list(self.frames):
                if f.seq > since and predicate(f):
                    return f
        future: asyncio.Future = asyncio.get_running_loop().create_future()
        entry = (predicate, future)
        self._waiters.append(entry)
        self.deadline = time.time() + timeout
        self.agent.changed()
        skipped = asyncio.ensure_future(self._skip.wait())
        try:
            done, _ = await asyncio.wait(
                {future, skipped}, timeout=timeout, return_when=asyncio.FIRST_COMPLETED
            )
        finally:
            skipped.cancel()
            self._waiters.remove(entry)
            self.deadline = None
            self.agent.changed()
        if future in done:
            return future.result()
        if skipped in done:
            self._skip.clear()
            self.mark(checks.M_SKIPPED, f"the grader skipped the {self.step} step", step=self.step)
        return None

    def _student_conn(self) -> Any:
        for conn, user in self.agent.hub.room.state.conns.items():
            if user is not None and user.login == self.login:
                return conn
        return None

    # -- the scenario -----------------------------------------------------------------------

    async def _main(self) -> None:
        status = "finished"
        try:
            await self._scenario()
        except asyncio.CancelledError:
            status = "stopped"
            self.mark("stopped", "the grader stopped the check")
        except Exception:
            logger.exception("the check of %r failed", self.login)
            status = "interrupted"
            self.mark("error", "the check itself failed; see the chat server's log")
        finally:
            await self._finish(status)

    def _bot_push(self, frame: dict[str, Any]) -> None:
        """The bot reads what the student sends it, a moment later (the sender sees both)."""
        message = (frame.get("payload") or {}).get("message") or {}
        if frame.get("type") == "MSG_SEND" and message.get("from") == self.login:
            asyncio.get_running_loop().call_later(0.5, self._bot_read, message.get("id"))

    def _bot_read(self, message_id: object) -> None:
        if self.bot is not None and self.bot.connected and isinstance(message_id, str):
            with contextlib.suppress(BotError):  # deleted meanwhile
                self.bot.read(message_id)

    async def _scenario(self) -> None:
        o = self.options
        login = self.login
        start = self.start_mark
        online = self._student_conn() is not None
        if not online and await self._until(waits.logged_in(login), o.login_timeout) is None:
            self.mark("no-login", f"{login!r} did not log in")
            return

        self._step("bot", "The checker bot joins the chat.")
        bot = self.bot = self.agent.connect_bot(on_push=self._bot_push)
        self.agent.revive.append(bot)
        helper = self.agent.new_bot(f"{bot.login}-off")
        helper.connect()
        helper.send(login, "A message from a user who is now offline: it stays unread")
        helper.disconnect()
        self.mark(
            checks.M_BOT,
            f"bots {bot.login!r} and {helper.login!r} joined",
            bot=bot.login,
            helper=helper.login,
        )

        m1 = bot.send(login, "Hello from the checker (1 of 3)")["id"]
        m2 = bot.send(login, "Hello from the checker (2 of 3)")["id"]
        m3 = bot.send(login, "This message will be deleted (3 of 3)")["id"]
        bot.edit(m2, "Hello from the checker (2 of 3), edited")
        bot.delete(m3)
        self.mark(
            checks.M_MESSAGES,
            "the bot sent 3 messages, edited one and deleted one",
            unread=[m1, m2],
            edited=m2,
            deleted=m3,
        )

        self._step(
            "dialogue",
            f"Open the dialogue with “{bot.login}” in the student's client and click or scroll "
            "its history: its messages must turn read. On screen, one message must show as "
            "edited and a third must have vanished.",
        )
        self.mark(checks.M_DIALOGUE, "the grader was asked to open the dialogue")
        read = await self._until(waits.read_all(login, {m1, m2}), o.prompt_timeout, since=start.seq)
        if read is not None and self._student_conn() is not None:
            m4 = bot.send(login, "Sent while your dialogue with me is open")["id"]
            self.mark(checks.M_OPEN_MESSAGE, "the bot wrote into the open dialogue", msg=m4)
            await self._until(waits.read_all(login, {m4}), o.react_timeout, since=start.seq)

        self._step(
            "actions",
            f"In the student's client: send “{bot.login}” a message, edit it, delete a message "
            "of your own, and try to send an empty message (nothing may reach the server).",
        )
        self.mark(checks.M_ACTIONS, "the grader was asked to send, edit and delete")
        await self._until(waits.edited_and_deleted(login), o.prompt_timeout, since=start.seq)

        self._step(
            "delivery",
            "The server closes the student's connection now and the bot writes meanwhile. "
            "Do nothing: the client should reconnect and log in by itself.",
        )
        conn = self._student_conn()
        if conn is None:
            self.mark(checks.M_SKIPPED, "the student was not online", step=checks.M_CUT)
        else:
            self.agent.kick(conn)
            sent = bot.send(login, "Sent while you were offline")
            delivered = bool(sent.get("status", {}).get("isDelivered"))
            cut = self.mark(
                checks.M_CUT,
                "the server closed the student's connection",
                msg=sent["id"],
                delivered=delivered,
                conn=conn,
            )
            back = await self._until(waits.logged_in(login), o.reconnect_timeout, since=cut.seq)
            if back is not None:
                await self._until(waits.delivered(sent["id"]), o.react_timeout, since=cut.seq)
                await self._until(waits.settled(login, back.conn), o.window, since=back.seq - 1)

        self._step(
            "loss",
            f"Connection loss simulated: every socket closed, all users and messages wiped, and "
            f"the server down for {o.outage:g} s. The client should say so, reconnect and log "
            "in by itself.",
        )
        loss = self.mark(checks.M_LOSS, "connection loss simulated", outage=o.outage)
        self.agent.simulate_loss(o.outage)
        back = await self._until(
            waits.logged_in(login), o.outage + o.reconnect_timeout, since=loss.seq
        )
        if back is not None:
            await self._until(waits.settled(login, back.conn), o.window, since=back.seq - 1)

    async def _finish(self, status: str) -> None:
        self._step("report", "Judging what the server saw and saving the report.")
        if self.bot is not None:
            if self.bot in self.agent.revive:
                self.agent.revive.remove(self.bot)
            self.bot.disconnect()
        self.mark(checks.M_END, f"check ended ({status})")
        self.active = False
        if self.sink in self.recorder.sinks:
            self.recorder.sinks.remove(self.sink)
        self.agent.retap()
        frames = list(self.frames)
        try:
            self.results = checks.evaluate(frames, login=self.login, limits=self.options.limits())
            await self._save(status, frames, self.results)
        except Exception:
            logger.exception("could not save the check of %r", self.login)
            status = "interrupted"
        self.status = status
        self.step, self.prompt = "done", ""
        self.agent.changed()

    async def _save(self, status: str, frames: list[Frame], results: list[checks.Result]) -> None:
        def save() -> None:
            CheckReport.objects.record_verdict(
                self.report_id,
                status=status,
                frames=frames,
                results=results,
                login=self.login,
                dropped=self.dropped,
            )

        await database_sync_to_async(save, thread_sensitive=False)()


async def start_run(
    agent: Agent,
    *,
    login: str,
    student_id: int | None = None,
    grader_id: int | None = None,
    options: dict[str, Any] | None = None,
) -> dict[str, Any]:
    """Start the automatic check of the client that logs in as `login`, in the agent's room."""
    if agent.running:
        assert agent.run is not None
        raise CommandError(f"a check of {agent.run.login!r} is already running")
    run_options = RunOptions(**(options or {}))

    def create() -> int:
        return CheckReport.objects.begin(
            login=login,
            student_id=student_id,
            grader_id=grader_id,
            # "world": the key reports have always stored the room under.
            options={**asdict(run_options), "world": agent.room},
        ).pk

    # Not on the shared database thread, where a slow query would stall every consumer;
    # database_sync_to_async closes the connection afterwards.
    report_id = await database_sync_to_async(create, thread_sensitive=False)()
    run = CheckRun(agent, login=login, report_id=report_id, options=run_options)
    agent.run = run
    run.start()
    agent.retap()
    return run.state()
