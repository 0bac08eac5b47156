"""The vocabulary of the checks: items, verdicts, limits, and a recording indexed for rules.

A Recording is a run's frames (grader.recorder) with the markers a check run leaves on the
timeline (grader.checkrun, grader.scenario), indexed once: the student's connections (by
login, or by handshake after a cut or the loss), login sessions, and each request's reply.
The rule modules beside this one read it.
"""

from __future__ import annotations

from collections import defaultdict
from collections.abc import Iterable
from dataclasses import dataclass, field
from datetime import UTC, datetime
from typing import Any

from chat import frames as errors
from grader.recorder import CLOSE, IN, KICK, MARK, OPEN, OUT, REFUSED, Frame, fingerprint

PASSED, FAILED, NOT_OBSERVED = "passed", "failed", "not_observed"

# Marker names a check run writes (grader.checkrun) and the rules read.
M_START, M_END = "run-start", "run-end"
M_BOT = "bot-ready"
M_MESSAGES = "bot-messages"
M_OPEN_MESSAGE = "open-dialogue-message"
M_CUT = "cut"
M_LOSS = "loss"
M_SKIPPED = "skipped"
M_STEP = "step"  # a prompt shown to the grader (info: step)
M_CONFIRMED = "confirmed"  # the grader pressed "I did it" or answered (info: step, answer)
M_ONLINE = "already-online"  # the student was logged in when the run started (info: peer)
M_NO_ATTEMPT = "no-attempt"  # no reconnect attempt within the run's few seconds (info: step)

# Prompts whose answers the rules read (grader.scenario asks them: counter, open, click,
# edited, actions).
S_COUNTER, S_OPEN, S_CLICK, S_EDITED, S_ACTIONS = "counter", "open", "click", "edited", "actions"
S_RELOAD = "reload"  # the client did not come back after the cut: the grader reloads it

# Errors a person causes by typing (item 1.4 is checked with them), not protocol mistakes.
LOGIN_ERRORS = frozenset({errors.PASSWORD, errors.ALREADY, errors.ANOTHER_USER})

MAX_EVIDENCE = 16


@dataclass(frozen=True)
class Limits:
    """How long the client may take for what it must do on its own, and what is a flood."""

    window: float = 5.0  # after logging in: the user lists and one request per user
    react: float = 10.0  # reading a message in an open dialogue; delivery after a login
    burst: int = 30  # requests per second allowed on top of two per listed user
    repeats: int = 10  # identical requests allowed within `repeat_span` seconds
    repeat_span: float = 2.0
    conn_burst: int = 5  # new connections (or refused attempts) per second


@dataclass(frozen=True)
class Item:
    code: str
    title: str
    points: int


ITEMS = (
    Item("5.1", "All registered users are listed with their online status", 5),
    Item("5.4", "Unread-message count for each user", 10),
    Item("6.2", "Dialogue history in both directions", 5),
    Item("6.12", "Deleting one's own messages", 10),
    Item("6.13", "Editing one's own messages", 10),
    Item("7.3", "An empty message cannot be sent", 5),
    Item("8.1", "Delivered status", 10),
    Item("8.2", "Read status", 10),
    Item("11.1", "Reconnecting after a sudden connection loss", 10),
    Item("11.2", "Logging in again automatically after reconnecting", 10),
    Item("P.1", "Protocol errors caused by the client", 0),
    Item("P.2", "Request floods", 0),
)
ITEM_BY_CODE = {item.code: item for item in ITEMS}


@dataclass
class Result:
    """The verdict on one item, with the frames that show it."""

    code: str
    status: str
    summary: str
    details: list[str] = field(default_factory=list)
    evidence: list[int] = field(default_factory=list)  # frame seqs

    @property
    def item(self) -> Item:
        return ITEM_BY_CODE[self.code]


def clock(t: float) -> str:
    """A frame time as the report shows it: UTC, to the millisecond."""
    return datetime.fromtimestamp(t, UTC).strftime("%H:%M:%S.%f")[:-3]


def seconds(dt: float) -> str:
    return f"{dt:.2f} s" if dt < 10 else f"{dt:.1f} s"


@dataclass
class Session:
    """The student logged in on `conn` at `start` (the reply); it lasted until `end`."""

    conn: Any
    login: Frame
    end: float
    lists: dict[str, Frame] = field(default_factory=dict)  # USER_ACTIVE/INACTIVE request
    listed: list[str] = field(default_factory=list)  # other users in the list replies
    per_user: dict[str, Frame] = field(default_factory=dict)  # first count/history request
    requests: list[Frame] = field(default_factory=list)

    @property
    def start(self) -> float:
        return self.login.t

    def complete(self) -> bool:
        return len(self.lists) == 2 and all(u in self.per_user for u in self.listed)

    def judged(self, window: float) -> bool:
        """Whether the client had its whole window, or did everything before it ended."""
        return self.end - self.start >= window or self.complete()


class Recording:
    """A recorded run, indexed for the rules."""

    def __init__(self, frames: Iterable[Frame], *, login: str, limits: Limits) -> None:
        self.frames = sorted(frames, key=lambda f: f.seq)
        self.login = login
        self.limits = limits
        self.by_seq = {f.seq: f for f in self.frames}
        self.end = self.frames[-1].t if self.frames else 0.0
        self.marks: dict[str, list[Frame]] = defaultdict(list)
        self.student_conns: set[Any] = set()
        self.replies: dict[int, Frame] = {}  # request seq -> the reply on its connection
        for f in self.frames:
            if f.dir == MARK:
                self.marks[f.type or ""].append(f)
            if not f.bot and (
                f.login == login
                or (f.dir in (IN, OUT) and f.type == "USER_LOGIN" and f.info.get("login") == login)
            ):
                # The login on the frame covers a client that logged in before the run began.
                self.student_conns.add(f.conn)
            if f.dir == OUT and f.cause is not None:
                cause = self.by_seq.get(f.cause)
                if cause is not None and cause.dir == IN and cause.conn == f.conn:
                    self.replies.setdefault(f.cause, f)
        bot = self.mark(M_BOT)
        self.bot_login: str | None = bot.info.get("bot") if bot else None
        self.attributed: set[Any] = set()  # the student's by handshake, never logged in
        self._attribute()
        self.sessions = self._sessions()

    def _attribute(self) -> None:
        """Tie connections opened after a cut or the loss to the student's browser.

        A reconnecting client need not log in, so its sockets are known by the handshake:
        the same address, Origin and User-Agent as a connection the student logged in on.
        A socket that logs in as someone else is never the student's. Each check has its
        own room by default, so other browsers on the same machine are rarely in it.
        """
        self.fingerprints = {
            fingerprint(f.info)
            for f in self.frames
            if f.dir == OPEN and f.conn in self.student_conns and not f.bot
        }
        online = self.mark(M_ONLINE)
        if online is not None:
            self.fingerprints.add(fingerprint(online.info.get("peer") or {}))
        self.fingerprints.discard(None)
        self.foreign = {
            f.conn
            for f in self.frames
            if f.dir == OUT
            and f.type == "USER_LOGIN"
            and not f.bot
            and f.info.get("login") not in (None, self.login)
        }
        starts = [m.seq for name in (M_CUT, M_LOSS) for m in self.marks.get(name, [])]
        if not starts or not self.fingerprints:
            return
        for f in self.frames:
            if (
                f.dir == OPEN
                and f.seq > min(starts)
                and not f.bot
                and f.conn not in self.student_conns
                and f.conn not in self.foreign
                and fingerprint(f.info) in self.fingerprints
            ):
                self.student_conns.add(f.conn)
                self.attributed.add(f.conn)

    def attempt(self, f: Frame) -> bool:
        """A refused or accepted connection of the student's browser (after a cut or loss)."""
        if f.bot:
            return False
        if f.dir == OPEN:
            return f.conn in self.student_conns
        if f.dir == REFUSED:
            # Without a known handshake (the student's socket predates the recording's
            # peers), a refused attempt is counted as theirs.
            return not self.fingerprints or fingerprint(f.info) in self.fingerprints
        return False

    def mark(self, name: str) -> Frame | None:
        found = self.marks.get(name)
        return found[0] if found else None

    def skipped(self, step: str) -> bool:
        return any(m.info.get("step") == step for m in self.marks.get(M_SKIPPED, []))

    def prompted(self, step: str) -> Frame | None:
        """When the grader was first shown the prompt of `step`."""
        return next((m for m in self.marks.get(M_STEP, []) if m.info.get("step") == step), None)

    def confirmed(self, step: str) -> Frame | None:
        """The grader's "I did it" (or answer) for `step`, if given."""
        found = [m for m in self.marks.get(M_CONFIRMED, []) if m.info.get("step") == step]
        return found[0] if found else None

    def student(self, f: Frame) -> bool:
        """A frame of one of the student's connections, while it was (or was becoming) theirs."""
        return f.conn in self.student_conns and not f.bot and f.login in (None, self.login)

    def requests(self, kind: str | None = None) -> list[Frame]:
        return [
            f for f in self.frames if f.dir == IN and self.student(f) and kind in (None, f.type)
        ]

    def reply(self, request: Frame) -> Frame | None:
        return self.replies.get(request.seq)

    def ok(self, request: Frame) -> bool:
        reply = self.reply(request)
        return reply is not None and reply.type == request.type

    def _sessions(self) -> list[Session]:
        sessions: list[Session] = []
        open_by_conn: dict[Any, Session] = {}
        for f in self.frames:
            if f.conn in open_by_conn and (
                f.dir in (CLOSE, KICK) or (f.dir == OUT and f.type == "USER_LOGOUT")
            ):
                open_by_conn.pop(f.conn).end = f.t
            elif f.dir == MARK and f.type == "clear":
                for session in open_by_conn.values():
                    session.end = f.t
                open_by_conn.clear()
            if (
                f.dir == OUT
                and f.type == "USER_LOGIN"
                and f.conn in self.student_conns
                and f.info.get("login") == self.login
            ):
                open_by_conn[f.conn] = Session(conn=f.conn, login=f, end=self.end)
                sessions.append(open_by_conn[f.conn])
        for session in sessions:
            self._fill(session)
        return sessions

    def _fill(self, s: Session) -> None:
        """What the client asked for in its first `window` seconds after logging in."""
        until = min(s.end, s.start + self.limits.window)
        for f in self.frames:
            if f.seq <= s.login.seq or f.conn != s.conn or f.dir != IN:
                continue
            if f.t > until:
                break
            s.requests.append(f)
            if f.type in ("USER_ACTIVE", "USER_INACTIVE") and f.type not in s.lists:
                s.lists[f.type] = f
                reply = self.reply(f)
                if reply is not None and reply.type == f.type:
                    for login in reply.info.get("users", []):
                        if login != self.login and login not in s.listed:
                            s.listed.append(login)
            elif f.type in ("MSG_COUNT_NOT_READED_FROM_USER", "MSG_FROM_USER"):
                s.per_user.setdefault(f.info.get("peer") or "", f)


def make_result(
    code: str,
    status: str,
    summary: str,
    details: Iterable[str] = (),
    evidence: Iterable[Frame | None] = (),
) -> Result:
    seqs: list[int] = []
    for f in evidence:
        if f is not None and f.seq not in seqs:
            seqs.append(f.seq)
    return Result(code, status, summary, list(details), seqs[:MAX_EVIDENCE])


def with_replies(rec: Recording, requests: Iterable[Frame]) -> list[Frame | None]:
    out: list[Frame | None] = []
    for f in requests:
        out += [f, rec.reply(f)]
    return out


def names(logins: Iterable[str], limit: int = 8) -> str:
    logins = list(logins)
    shown = ", ".join(repr(x) for x in logins[:limit])
    return shown + (f" and {len(logins) - limit} more" if len(logins) > limit else "")


def no_login(rec: Recording, code: str) -> Result:
    if rec.mark(M_ONLINE) is not None:
        return make_result(
            code,
            NOT_OBSERVED,
            f"The student ({rec.login!r}) was logged in before the check started and did not "
            "log in again while it ran (neither by itself after the cut nor after a reload), "
            "so the requests a client makes after logging in were not seen.",
        )
    return make_result(
        code,
        NOT_OBSERVED,
        f"The student ({rec.login!r}) did not log in while the check ran, so the requests a "
        "client makes after logging in were not seen.",
    )
