"""One automatic check of a student's client: the run's machinery, then the report.

The run records the frames of the student's connections and of its bots, drives the
scenario (grader.scenario) that prompts the grader and waits for the client, and when it
ends grader.checks judges the recording and the report is saved.

The grader answers prompts from the console: "I did it" for an action in the client,
Yes or No for what the screen shows, Skip to move on, Stop to end the run. A run that no
console has watched for `abandon_after` seconds is ended ("interrupted"), so a closed
console never keeps the room busy.
"""

from __future__ import annotations

import asyncio
import logging
import time
from collections import deque
from dataclasses import asdict, dataclass
from typing import Any

from channels.db import database_sync_to_async
from django.urls import reverse

from grader import checks, scenario
from grader.agent import Agent, CommandError
from grader.bot import Bot
from grader.models import CheckReport
from grader.recorder import MARK, OUT, REFUSED, Frame, fingerprint
from grader.waits import Predicate

logger = logging.getLogger(__name__)


@dataclass(frozen=True)
class RunOptions:
    """How long each step waits, in seconds."""

    login_timeout: float = 120.0  # for the student to log in at the start
    prompt_timeout: float = 180.0  # for the grader to do what a prompt asks
    react_timeout: float = 10.0  # for what the client does by itself
    attempt_timeout: float = 5.0  # for a first reconnect attempt; none: failed at once
    reconnect_timeout: float = 30.0  # for the client to come back after its socket closed
    outage: float = 3.0  # the server refuses connections this long after the loss
    window: float = 5.0  # after a login: the user lists and per-user requests
    abandon_after: float = 120.0  # no console watching this long ends the run
    max_frames: int = 20_000

    def limits(self) -> checks.Limits:
        return checks.Limits(window=self.window, react=self.react_timeout)


ANSWERS = {"done": ("done",), "yesno": ("yes", "no")}  # what each kind of prompt accepts


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
        self.asks: str | None = None  # the answer the prompt waits for: "done" or "yesno"
        self.deadline: float | None = None
        self.results: list[checks.Result] | None = None
        self.bot: Bot | None = None
        self.helper: Bot | None = None
        self.task: asyncio.Task | None = None
        self.fingerprints: set[Any] = set()  # the student's browser (grader.recorder)
        self._waiters: list[tuple[Predicate, asyncio.Future]] = []
        self._skip = asyncio.Event()
        self._answer: asyncio.Future | None = None
        self._stopping = False
        self._abandoned = False
        self._watchdog: asyncio.Task | None = None

    # -- recording --------------------------------------------------------------------------

    def _keep(self, f: Frame) -> bool:
        """The student's, the bots' and not-yet-logged-in connections; the timeline."""
        return f.dir in (MARK, REFUSED) or f.bot or f.login is None or f.login == self.login

    def sink(self, f: Frame) -> None:
        if not self._keep(f):
            return
        if (
            f.dir == OUT
            and f.type == "USER_LOGIN"
            and not f.bot
            and f.info.get("login") == self.login
        ):
            self._learn(f.conn)
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

    def _learn(self, conn: Any) -> None:
        """Remember the handshake of a socket the student logged in on."""
        found = fingerprint(self.agent.hub.peers.get(conn) or {})
        if found is not None:
            self.fingerprints.add(found)

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
        conn = self.student_conn()
        if conn is not None:
            # Either login order works: the state as it is now is the starting point.
            self._learn(conn)
            self.mark(
                checks.M_ONLINE,
                f"{self.login!r} was logged in already",
                conn=conn,
                peer=self.agent.hub.peers.get(conn) or {},
            )
        if conn is None:
            self.announce("login", f"Log in as “{self.login}” in the student's client.")
        else:
            self.announce("login", f"“{self.login}” is logged in: the check starts from there.")
        self.task = asyncio.ensure_future(self._main())
        self._watchdog = asyncio.ensure_future(self._watch_consoles())

    def skip(self) -> None:
        """The grader moves on from the current wait."""
        self._skip.set()

    def answer(self, answer: str) -> None:
        """The grader's "I did it" (done), or Yes / No, for the current prompt."""
        if self.asks is None or answer not in ANSWERS[self.asks]:
            raise CommandError("the current step does not ask for that")
        if self._answer is not None and not self._answer.done():
            self._answer.set_result(answer)

    def stop(self) -> None:
        """The grader ends the run; what was seen so far is still judged and saved."""
        if self.task is not None and self.active and not self._stopping:
            self._stopping = True
            self.task.cancel()

    async def _watch_consoles(self) -> None:
        """End a run nobody watches any more: its console was closed mid-run."""
        unwatched_since = time.monotonic()
        while self.active:
            await asyncio.sleep(min(2.0, self.options.abandon_after / 4))
            if self.agent.watched:
                unwatched_since = time.monotonic()
            elif time.monotonic() - unwatched_since > self.options.abandon_after:
                self._abandoned = True
                self.stop()
                return

    def state(self) -> dict[str, Any]:
        return {
            "login": self.login,
            "report_id": self.report_id,
            "report_url": reverse("chat:report", args=[self.report_id]),
            "status": self.status,
            "step": self.step,
            "prompt": self.prompt,
            "asks": self.asks,
            "deadline": self.deadline,
            "bot": self.bot.login if self.bot else None,
            "results": [
                {"code": r.code, "title": r.item.title, "status": r.status, "summary": r.summary}
                for r in self.results or []
            ],
        }

    def announce(self, step: str, prompt: str) -> None:
        self.step, self.prompt = step, prompt
        self.mark(checks.M_STEP, prompt, step=step)
        self.agent.changed()

    # -- waiting ----------------------------------------------------------------------------

    async def until(
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
        try:
            return await self._wait(future, timeout)
        finally:
            self._waiters.remove(entry)

    async def ask(self, step: str, prompt: str, kind: str = "done") -> str | None:
        """Prompt the grader and wait for their answer ("done", "yes", "no"); None if skipped.

        The answer is marked on the timeline, so the rules know what the grader confirmed
        and when, whatever their pace.
        """
        self.announce(step, prompt)
        self.asks = kind
        self._answer = asyncio.get_running_loop().create_future()
        try:
            answer = await self._wait(self._answer, self.options.prompt_timeout)
        finally:
            self.asks, self._answer = None, None
            self.agent.changed()
        if answer is not None:
            note = f"the grader answered {answer!r}"
            self.mark(checks.M_CONFIRMED, note, step=step, answer=answer)
        return answer

    async def _wait(self, future: asyncio.Future, timeout: float) -> Any:
        self.deadline = time.time() + timeout
        self.agent.changed()
        skipped = asyncio.ensure_future(self._skip.wait())
        try:
            done, _ = await asyncio.wait(
                {future, skipped}, timeout=timeout, return_when=asyncio.FIRST_COMPLETED
            )
        finally:
            skipped.cancel()
            self.deadline = None
            self.agent.changed()
        if future in done:
            return future.result()
        if skipped in done:
            self._skip.clear()
            self.mark(checks.M_SKIPPED, f"the grader skipped the {self.step} step", step=self.step)
        return None

    def student_conn(self) -> Any:
        for conn, user in self.agent.hub.room.state.conns.items():
            if user is not None and user.login == self.login:
                return conn
        return None

    # -- start and end ----------------------------------------------------------------------

    async def _main(self) -> None:
        status = "finished"
        try:
            await scenario.play(self)
        except asyncio.CancelledError:
            if self._abandoned:
                status = "interrupted"
                self.mark("abandoned", "no console watched the check; it was ended")
            else:
                status = "stopped"
                self.mark("stopped", "the grader stopped the check")
        except Exception:
            logger.exception("the check of %r failed", self.login)
            status = "interrupted"
            self.mark("error", "the check itself failed; see the chat server's log")
        finally:
            await self._finish(status)

    def _leave(self) -> None:
        """The bots go, and offline users of this check leave the room's user lists."""
        for bot in (self.bot, self.helper):
            if bot is None:
                continue
            if bot in self.agent.revive:
                self.agent.revive.remove(bot)
            bot.disconnect()
        state = self.agent.hub.room.state
        for login in (self.bot and self.bot.login, self.helper and self.helper.login, self.login):
            if login:
                state.forget(login)

    async def _finish(self, status: str) -> None:
        self.announce("report", "Judging what the server saw and saving the report.")
        self._leave()
        self.mark(checks.M_END, f"check ended ({status})")
        self.active = False
        if self._watchdog is not None:
            self._watchdog.cancel()
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
    self_check: bool = False,
) -> dict[str, Any]:
    """Start the automatic check of the client that logs in as `login`, in the agent's room.

    `self_check`: the student runs it on their own client (the report never counts).
    """
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
            self_check=self_check,
        ).pk

    # Not on the shared database thread, where a slow query would stall every consumer;
    # database_sync_to_async closes the connection afterwards.
    report_id = await database_sync_to_async(create, thread_sensitive=False)()
    run = CheckRun(agent, login=login, report_id=report_id, options=run_options)
    agent.run = run
    run.start()
    agent.retap()
    return run.state()
