"""Hand-made recordings for the check rules' tests: a Script builds frames one by one.

Times are explicit (`dt` per frame), so a test can replay one client's behaviour with the
grader acting sooner or later and expect the same verdicts.
"""

from __future__ import annotations

import json
from typing import Any

from grader import checks
from grader.recorder import IN, MARK, OUT, Frame, digest

STUDENT = "ann"
BOT = "chk-0001"
LIMITS = checks.Limits(window=2, react=3)


class Script:
    """Builds a recording frame by frame, with a clock that moves 10 ms per frame."""

    def __init__(self) -> None:
        self.frames: list[Frame] = []
        self.t = 1_000.0

    def add(self, direction: str, conn: Any = None, body: Any = None, **fields: Any) -> Frame:
        self.t += fields.pop("dt", 0.01)
        parsed = body if isinstance(body, dict) else None
        frame = Frame(
            seq=len(self.frames) + 1,
            t=self.t,
            dir=direction,
            conn=conn,
            type=(parsed or {}).get("type") if direction in (IN, OUT) else fields.pop("type", None),
            text=json.dumps(body) if body is not None else fields.pop("text", ""),
            info=digest(direction, parsed) if direction in (IN, OUT) else fields.pop("info", {}),
            **fields,
        )
        self.frames.append(frame)
        return frame

    def request(
        self,
        conn: Any,
        kind: str,
        payload: Any = None,
        *,
        login: str | None = STUDENT,
        bot: bool = False,
        dt: float = 0.01,
    ) -> Frame:
        return self.add(
            IN,
            conn,
            {"id": f"r{len(self.frames)}", "type": kind, "payload": payload},
            login=login,
            bot=bot,
            dt=dt,
        )

    def reply(
        self, request: Frame, payload: Any, kind: str | None = None, *, login: str | None = STUDENT
    ) -> Frame:
        body = {"id": request.id, "type": kind or request.type, "payload": payload}
        return self.add(OUT, request.conn, body, cause=request.seq, login=login, bot=request.bot)

    def push(
        self,
        conn: Any,
        kind: str,
        payload: Any,
        *,
        login: str = STUDENT,
        bot: bool = False,
        cause: int | None = None,
    ) -> Frame:
        return self.add(
            OUT,
            conn,
            {"id": None, "type": kind, "payload": payload},
            login=login,
            bot=bot,
            cause=cause,
        )

    def mark(self, name: str, dt: float = 0.01, **info: Any) -> Frame:
        return self.add(MARK, type=name, info=info, text=name, dt=dt)

    def login(self, conn: Any, login: str = STUDENT, peer: dict | None = None) -> Frame:
        self.add("open", conn, info=peer or {})
        request = self.request(
            conn, "USER_LOGIN", {"user": {"login": login, "password": "x"}}, login=None
        )
        return self.reply(request, {"user": {"login": login, "isLogined": True}}, login=login)

    def lists(self, conn: Any, online: list[str], offline: list[str]) -> None:
        active = self.request(conn, "USER_ACTIVE")
        self.reply(active, {"users": [{"login": u, "isLogined": True} for u in [STUDENT, *online]]})
        inactive = self.request(conn, "USER_INACTIVE")
        self.reply(inactive, {"users": [{"login": u, "isLogined": False} for u in offline]})

    def history(self, conn: Any, peer: str, messages: int = 0, dt: float = 0.01) -> Frame:
        request = self.request(conn, "MSG_FROM_USER", {"user": {"login": peer}}, dt=dt)
        self.reply(request, {"messages": [{}] * messages})
        return request

    def bot_sends(self, to: str = STUDENT, delivered: bool = True) -> str:
        msg = f"m{len(self.frames)}"
        request = self.request(
            "b", "MSG_SEND", {"message": {"to": to, "text": "hi"}}, login=BOT, bot=True
        )
        message = {
            "id": msg,
            "from": BOT,
            "to": to,
            "text": "hi",
            "status": {"isDelivered": delivered},
        }
        self.reply(request, {"message": message}, login=BOT)
        return msg

    def prompt(self, step: str, dt: float = 0.01) -> Frame:
        """The run shows the grader the prompt of `step`."""
        return self.add(MARK, type=checks.M_STEP, info={"step": step}, text=step, dt=dt)

    def confirm(self, step: str, answer: str = "done", dt: float = 0.01) -> Frame:
        """The grader presses "I did it" (or Yes / No) for `step`."""
        info = {"step": step, "answer": answer}
        return self.add(MARK, type=checks.M_CONFIRMED, info=info, text=answer, dt=dt)

    def read(self, conn: Any, msg: str, dt: float = 0.01) -> Frame:
        """The student's client marks `msg` read and the server agrees."""
        request = self.request(conn, "MSG_READ", {"message": {"id": msg}}, dt=dt)
        self.reply(request, {"message": {"id": msg, "status": {"isReaded": True}}})
        return request

    def say(self, conn: Any, text: str = "hi", dt: float = 0.01) -> Frame:
        """The student sends the bot a message."""
        return self.request(conn, "MSG_SEND", {"message": {"to": BOT, "text": text}}, dt=dt)

    def verdict(self, code: str) -> checks.Result:
        results = checks.evaluate(self.frames, login=STUDENT, limits=LIMITS)
        return next(r for r in results if r.code == code)


def with_bot() -> Script:
    s = Script()
    s.add("open", "b", bot=True)
    s.mark(checks.M_BOT, bot=BOT, helper=f"{BOT}-off")
    return s
