"""The score items a chat server can observe, judged from a recorded frame list.

Pure functions over Frames (chat.recorder) and the markers a check run leaves on the
timeline (chat.checkrun): no sockets, clock or database, so every rule is unit-tested on
hand-made recordings. Item numbers and points are the task's (fun-chat-task.md §2, §7).

Each item is PASSED when the server saw the client do its part, FAILED when it saw the
client do something wrong or leave out something it must do on its own, and NOT_OBSERVED
when the recording cannot tell (for example, the grader never performed the action). What
the screen shows stays the grader's call.
"""

from __future__ import annotations

from collections import defaultdict, deque
from collections.abc import Iterable, Sequence
from dataclasses import dataclass, field
from datetime import UTC, datetime
from typing import Any

from chat import frames as errors
from chat.recorder import CLOSE, IN, KICK, MARK, OPEN, OUT, REFUSED, Frame

PASSED, FAILED, NOT_OBSERVED = "passed", "failed", "not_observed"

# Marker names a check run writes (chat.checkrun) and the rules read.
M_START, M_END = "run-start", "run-end"
M_BOT = "bot-ready"
M_MESSAGES = "bot-messages"
M_DIALOGUE = "prompt-dialogue"
M_OPEN_MESSAGE = "open-dialogue-message"
M_ACTIONS = "prompt-actions"
M_CUT = "cut"
M_LOSS = "loss"
M_SKIPPED = "skipped"

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
        self.sessions = self._sessions()

    def mark(self, name: str) -> Frame | None:
        found = self.marks.get(name)
        return found[0] if found else None

    def skipped(self, step: str) -> bool:
        return any(m.info.get("step") == step for m in self.marks.get(M_SKIPPED, []))

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


def _result(
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


def _with_replies(rec: Recording, requests: Iterable[Frame]) -> list[Frame | None]:
    out: list[Frame | None] = []
    for f in requests:
        out += [f, rec.reply(f)]
    return out


def _names(logins: Iterable[str], limit: int = 8) -> str:
    logins = list(logins)
    shown = ", ".join(repr(x) for x in logins[:limit])
    return shown + (f" and {len(logins) - limit} more" if len(logins) > limit else "")


def _no_login(rec: Recording, code: str) -> Result:
    return _result(
        code,
        NOT_OBSERVED,
        f"The student ({rec.login!r}) did not log in while the check ran, so the requests a "
        "client makes after logging in were not seen.",
    )


# -- 5.1, 5.4: after every login ------------------------------------------------------------


def users_listed(rec: Recording) -> Result:
    """5.1: after logging in, the client asks for both the online and the offline users."""
    judged = [s for s in rec.sessions if s.judged(rec.limits.window)]
    if not judged:
        return _no_login(rec, "5.1")
    bad = [s for s in judged if len(s.lists) < 2]
    if bad:
        s = bad[0]
        missing = " and ".join(k for k in ("USER_ACTIVE", "USER_INACTIVE") if k not in s.lists)
        return _result(
            "5.1",
            FAILED,
            f"After logging in at {clock(s.start)} the client did not request {missing} within "
            f"{seconds(rec.limits.window)}, so it cannot list every registered user with an "
            "online indicator.",
            [f"{len(bad)} of {len(judged)} logins lacked a request."],
            [s.login, *s.lists.values()],
        )
    s = judged[-1]
    return _result(
        "5.1",
        PASSED,
        f"After each of {len(judged)} login(s) the client requested USER_ACTIVE and USER_INACTIVE.",
        [
            f"Login at {clock(x.start)}: lists requested "
            f"{seconds(max(f.t for f in x.lists.values()) - x.start)} later."
            for x in judged
        ],
        _with_replies(rec, s.lists.values()),
    )


def unread_counts(rec: Recording) -> Result:
    """5.4: after the lists, one unread count (or history) request per listed user."""
    judged = [s for s in rec.sessions if s.judged(rec.limits.window) and s.lists]
    if not judged:
        if any(s.judged(rec.limits.window) for s in rec.sessions):
            return _result(
                "5.4",
                NOT_OBSERVED,
                "The client never fetched the user list, so there were no users to count for.",
            )
        return _no_login(rec, "5.4")
    for s in judged:
        missing = [u for u in s.listed if u not in s.per_user]
        if missing:
            return _result(
                "5.4",
                FAILED,
                f"After logging in at {clock(s.start)} the client asked for no unread count "
                f"(MSG_COUNT_NOT_READED_FROM_USER) or history (MSG_FROM_USER) of "
                f"{_names(missing)} within {seconds(rec.limits.window)}.",
                [f"Listed users: {_names(s.listed)}."],
                [s.login, *s.lists.values(), *s.per_user.values()],
            )
    s = judged[-1]
    kinds = sorted({f.type or "" for f in s.per_user.values() if f.info.get("peer") in s.listed})
    return _result(
        "5.4",
        PASSED,
        f"After each of {len(judged)} login(s) the client asked the server about every listed "
        f"user ({' / '.join(kinds) or 'no other users were listed'}).",
        [f"Login at {clock(x.start)}: {len(x.listed)} other user(s) listed." for x in judged],
        [s.login, *(s.per_user[u] for u in s.listed if u in s.per_user)],
    )


# -- 6.2, 6.12, 6.13, 7.3: the dialogue with the bot ------------------------------------------


def history(rec: Recording) -> Result:
    """6.2: the client fetches the dialogue's history from the server."""
    bot = rec.bot_login
    if bot is None:
        return _result(
            "6.2", NOT_OBSERVED, "The checker bot never joined, so no dialogue was opened."
        )
    fetched = [f for f in rec.requests("MSG_FROM_USER") if f.info.get("peer") == bot and rec.ok(f)]
    if fetched:
        first = fetched[0]
        reply = rec.reply(first)
        after_prompt = rec.mark(M_DIALOGUE)
        details = [f"{len(fetched)} history request(s) for {bot!r}."]
        if after_prompt and any(f.t >= after_prompt.t for f in fetched):
            details.append("One came after the grader was asked to open the dialogue.")
        return _result(
            "6.2",
            PASSED,
            f"The client fetched the history with {bot!r} (first at {clock(first.t)}, "
            f"{reply.info.get('messages') if reply else '?'} message(s)).",
            details,
            [first, reply],
        )
    bot_ids = _bot_message_ids(rec)
    used = [
        f
        for f in rec.requests()
        if (f.type == "MSG_SEND" and f.info.get("to") == bot)
        or (f.type == "MSG_READ" and f.info.get("msg") in bot_ids)
    ]
    if used:
        return _result(
            "6.2",
            FAILED,
            f"The client showed the dialogue with {bot!r} (it sent or read messages there) but "
            "never asked the server for its history (MSG_FROM_USER).",
            [],
            used[:4],
        )
    return _result(
        "6.2",
        NOT_OBSERVED,
        f"The dialogue with {bot!r} was not opened and its history was never requested.",
    )


def _bot_message_ids(rec: Recording) -> set[str]:
    return {
        f.info["msg"]
        for f in rec.frames
        if f.dir == OUT and f.bot and f.type == "MSG_SEND" and f.info.get("msg")
    }


def _own_message_action(rec: Recording, code: str, kind: str, verb: str) -> Result:
    """6.12 and 6.13: the student's MSG_DELETE or MSG_EDIT of its own messages."""
    tried = rec.requests(kind)
    if not tried:
        prompt = rec.mark(M_ACTIONS)
        note = " (the grader was asked to at " + clock(prompt.t) + ")" if prompt else ""
        return _result(code, NOT_OBSERVED, f"The client never {verb} a message{note}.")
    done = [f for f in tried if rec.ok(f)]
    failed = [f for f in tried if not rec.ok(f)]
    not_sender = [f for f in failed if (rec.reply(f) or f).info.get("error") == errors.NOT_SENDER]
    empty = [f for f in tried if kind == "MSG_EDIT" and f.info.get("text_len") == 0]
    if empty:
        return _result(
            code,
            FAILED,
            "The client sent an edit with an empty text; the new text must not be empty (7.3).",
            [],
            _with_replies(rec, empty),
        )
    if not_sender:
        return _result(
            code,
            FAILED,
            f"The client tried to {'edit' if kind == 'MSG_EDIT' else 'delete'} a message that "
            "is not the user's own; the server refused it.",
            [],
            _with_replies(rec, not_sender),
        )
    if not done:
        return _result(
            code,
            FAILED,
            f"Every {kind} the client sent was refused by the server.",
            [],
            _with_replies(rec, failed),
        )
    first = done[0]
    pushes = [
        f
        for f in rec.frames
        if f.dir == OUT and f.cause == first.seq and f.conn != first.conn and f.type == kind
    ]
    details = [f"{len(done)} {kind} request(s) succeeded."]
    if pushes:
        details.append(f"The recipient ({pushes[0].login!r}) was told at once.")
    if failed:
        details.append(f"{len(failed)} more were refused (see P.1).")
    return _result(
        code,
        PASSED,
        f"The client {verb} its own message(s); the server accepted it and told the recipient.",
        details,
        [first, *pushes[:1], rec.reply(first)],
    )


# What the grader should look for on the student's screen once the bot itself has
# deleted or edited one of its messages (items 6.12 and 6.13).
_BOT_HINTS = {
    "deleted": "it vanished from the student's screen and the unread count went down",
    "edited": "the student's screen shows the new text and an edited mark",
}


def _with_bot_hint(result: Result, rec: Recording, verb: str) -> Result:
    mark = rec.mark(M_MESSAGES)
    if mark and mark.info.get(verb):
        result.details.append(
            f"The bot {verb} one of its messages at {clock(mark.t)}: check that {_BOT_HINTS[verb]}."
        )
    return result


def delete_own(rec: Recording) -> Result:
    """6.12: deleting one's own message."""
    return _with_bot_hint(_own_message_action(rec, "6.12", "MSG_DELETE", "deleted"), rec, "deleted")


def edit_own(rec: Recording) -> Result:
    """6.13: editing one's own message, never to an empty text."""
    return _with_bot_hint(_own_message_action(rec, "6.13", "MSG_EDIT", "edited"), rec, "edited")


def no_empty_message(rec: Recording) -> Result:
    """7.3: no MSG_SEND with a zero-length text ever reaches the server."""
    sent = rec.requests("MSG_SEND")
    empty = [f for f in sent if f.info.get("text_len") == 0]
    if empty:
        return _result(
            "7.3",
            FAILED,
            f"The client sent {len(empty)} empty message(s).",
            [],
            _with_replies(rec, empty),
        )
    if not sent:
        return _result("7.3", NOT_OBSERVED, "The client sent no message while the check ran.")
    return _result(
        "7.3",
        PASSED,
        f"The client sent {len(sent)} message(s), none of them empty.",
        [
            "Whether the send button refuses an empty text is for the grader to try; nothing "
            "empty reached the server."
        ],
        sent[:2],
    )


# -- 8.1, 8.2: delivery and read status -------------------------------------------------------


def delivered(rec: Recording) -> Result:
    """8.1: a message sent while the student was offline is delivered when they log in."""
    cut = rec.mark(M_CUT)
    if cut is None:
        reason = "the student was not online" if rec.skipped(M_CUT) else "the step did not run"
        return _result(
            "8.1",
            NOT_OBSERVED,
            f"No message was sent to the student while offline ({reason}).",
        )
    msg = cut.info.get("msg")
    if cut.info.get("delivered"):
        return _result(
            "8.1",
            NOT_OBSERVED,
            "The student was still online when the bot sent its message, so there was nothing "
            "to deliver later.",
            [],
            [cut],
        )
    logins = [s for s in rec.sessions if s.start > cut.t]
    deliver = next(
        (
            f
            for f in rec.frames
            if f.dir == OUT and f.bot and f.type == "MSG_DELIVER" and f.info.get("msg") == msg
        ),
        None,
    )
    online = [
        f
        for f in rec.frames
        if f.dir == OUT
        and f.bot
        and f.type == "MSG_SEND"
        and f.info.get("delivered") is True
        and f.info.get("to") == rec.login
    ]
    details = []
    if online:
        details.append(
            f"{len(online)} message(s) sent while the student was online were delivered at once."
        )
    if not logins:
        return _result(
            "8.1",
            NOT_OBSERVED,
            "The student did not log in again after the server closed its connection, so "
            "delivery on login could not be seen.",
            details,
            [cut],
        )
    login = logins[0]
    if deliver is not None and deliver.t - login.start <= rec.limits.react:
        cause = rec.by_seq.get(deliver.cause or -1)
        return _result(
            "8.1",
            PASSED,
            f"The message sent while the student was offline became delivered "
            f"{seconds(deliver.t - login.start)} after the student logged in again (the client "
            "fetched the history with the bot).",
            details,
            [cut, login.login, cause, deliver],
        )
    if deliver is None and rec.end - login.start < rec.limits.react:
        return _result(
            "8.1",
            NOT_OBSERVED,
            "The check ended too soon after the student logged in again.",
            details,
            [cut, login.login],
        )
    late = f" It was delivered only after {seconds(deliver.t - login.start)}." if deliver else ""
    return _result(
        "8.1",
        FAILED,
        f"The student logged in again at {clock(login.start)} but the client did not fetch the "
        f"history with the bot within {seconds(rec.limits.react)}, so the message sent while "
        f"they were offline stayed undelivered.{late}",
        details,
        [cut, login.login, *login.requests[:6], deliver],
    )


def read(rec: Recording) -> Result:
    """8.2: the bot's messages become read when the student has the dialogue open."""
    messages = rec.mark(M_MESSAGES)
    if messages is None:
        return _result("8.2", NOT_OBSERVED, "The checker bot sent no messages.")
    expected: list[str] = list(messages.info.get("unread", []))
    open_message = rec.mark(M_OPEN_MESSAGE)
    if open_message is not None:
        expected.append(open_message.info["msg"])
    reads = rec.requests("MSG_READ")
    done = {f.info.get("msg"): f for f in reads if rec.ok(f)}
    wrong = [f for f in reads if (rec.reply(f) or f).info.get("error") == errors.NOT_RECIPIENT]
    if wrong:
        return _result(
            "8.2",
            FAILED,
            "The client marked as read a message the user did not receive (its own).",
            [],
            _with_replies(rec, wrong),
        )
    missing = [m for m in expected if m not in done]
    if not missing:
        details = [f"{len(expected)} message(s) from the bot were marked read."]
        if open_message is not None:
            sent = open_message.t
            got = done[open_message.info["msg"]].t
            details.append(
                f"The one sent while the dialogue was open was read {seconds(got - sent)} later."
            )
        return _result(
            "8.2",
            PASSED,
            "Every message the bot sent became read once the dialogue was open.",
            details,
            [done[m] for m in expected],
        )
    replied = [
        f
        for f in rec.requests("MSG_SEND")
        if f.info.get("to") == rec.bot_login and f.t > messages.t
    ]
    if done or replied or open_message is not None:
        if open_message is not None and missing == [open_message.info["msg"]]:
            why = "the message that arrived while the dialogue was open"
        else:
            why = f"{len(missing)} of the bot's {len(expected)} message(s)"
        return _result(
            "8.2",
            FAILED,
            f"The client had the dialogue with the bot open (it read or sent messages there) "
            f"but never marked {why} as read.",
            [f"Read: {len(done)} of {len(expected)}."],
            [*done.values(), *replied[:2], open_message],
        )
    return _result(
        "8.2",
        NOT_OBSERVED,
        "The student never opened the dialogue with the bot, so no message could become read.",
    )


# -- 11.1, 11.2: the simulated connection loss -----------------------------------------------


@dataclass
class Reconnect:
    loss: Frame
    was_online: bool
    refused: list[Frame]
    opened: Frame | None  # the connection attributed to the student's client
    attributed_by_login: bool
    login: Frame | None  # the successful USER_LOGIN reply on it
    login_errors: list[Frame]


def _reconnect(rec: Recording) -> Reconnect | None:
    loss = rec.mark(M_LOSS)
    if loss is None:
        return None
    kicked = [f for f in rec.frames if f.dir == KICK and f.seq > loss.seq and rec.student(f)]
    after = [f for f in rec.frames if f.seq > loss.seq]
    refused = [f for f in after if f.dir == REFUSED]
    opens = [f for f in after if f.dir == OPEN and not f.bot]
    logins = [
        f
        for f in after
        if f.dir == OUT
        and f.type == "USER_LOGIN"
        and f.conn in rec.student_conns
        and f.info.get("login") == rec.login
    ]
    login = logins[0] if logins else None
    opened = next((f for f in opens if login is not None and f.conn == login.conn), None)
    by_login = opened is not None
    if opened is None:
        others = {
            f.conn for f in rec.frames if f.seq < loss.seq and not f.bot and f.dir == OPEN
        } - rec.student_conns
        # With no other client around, a new anonymous connection can only be the student's.
        opened = next((f for f in opens if f.conn in rec.student_conns or not others), None)
    login_errors = [
        rec.reply(f) or f
        for f in after
        if f.dir == IN and f.type == "USER_LOGIN" and f.conn in rec.student_conns and not rec.ok(f)
    ]
    return Reconnect(loss, bool(kicked), refused, opened, by_login, login, login_errors)


def reconnects(rec: Recording) -> Result:
    """11.1: after the simulated loss the client tries again until it is back."""
    r = _reconnect(rec)
    if r is None:
        return _result("11.1", NOT_OBSERVED, "No connection loss was simulated.")
    outage = float(r.loss.info.get("outage", 0))
    details = [
        f"The loss was simulated at {clock(r.loss.t)}; the server refused connections "
        f"for {seconds(outage)}."
    ]
    if r.refused:
        details.append(
            f"{len(r.refused)} connection attempt(s) were refused while the server was down, "
            f"the first {seconds(r.refused[0].t - r.loss.t)} after the loss."
        )
    if not r.was_online:
        details.append("The student's client was not connected when the loss was simulated.")
    if r.opened is not None:
        how = (
            "it logged in as the student"
            if r.attributed_by_login
            else "it did not log in; it is taken for the student's as no other client was connected"
        )
        return _result(
            "11.1",
            PASSED,
            f"The client reconnected {seconds(r.opened.t - r.loss.t)} after the loss ({how}).",
            [*details, "Whether it told the user about the lost connection is the grader's call."],
            [r.loss, *r.refused[:3], r.opened],
        )
    if r.refused:
        return _result(
            "11.1",
            FAILED,
            "The client tried to reconnect while the server was down and gave up before it "
            "came back.",
            details,
            [r.loss, *r.refused[:5]],
        )
    waited = seconds(rec.end - r.loss.t)
    return _result(
        "11.1",
        FAILED,
        f"The client made no attempt to reconnect in the {waited} after the loss.",
        details,
        [r.loss],
    )


def relogs_in(rec: Recording) -> Result:
    """11.2: after reconnecting, the client logs the same user in again on its own."""
    r = _reconnect(rec)
    if r is None:
        return _result("11.2", NOT_OBSERVED, "No connection loss was simulated.")
    if r.login is not None:
        opened = r.opened or r.login
        return _result(
            "11.2",
            PASSED,
            f"The client logged {rec.login!r} in again {seconds(r.login.t - r.loss.t)} after the "
            f"loss, {seconds(r.login.t - opened.t)} after its new connection opened.",
            [
                "A login a split second after the socket opens needs no user action; a person "
                "typing takes seconds."
            ],
            [r.loss, r.opened, rec.by_seq.get(r.login.cause or -1), r.login],
        )
    if r.login_errors:
        return _result(
            "11.2",
            FAILED,
            "The client tried to log in again after reconnecting but the server refused it.",
            [],
            [r.loss, *r.login_errors[:3]],
        )
    if r.opened is not None:
        return _result(
            "11.2",
            FAILED,
            f"The client reconnected but did not log {rec.login!r} in again within "
            f"{seconds(rec.end - r.opened.t)}.",
            [],
            [r.loss, r.opened],
        )
    return _result(
        "11.2",
        FAILED,
        "The client never reconnected, so it could not log in again.",
        [],
        [r.loss],
    )


# -- protocol hygiene -------------------------------------------------------------------------


def protocol_errors(rec: Recording) -> Result:
    """P.1: every ERROR the student's connections received, with the request behind it."""
    found = [f for f in rec.frames if f.dir == OUT and f.type == "ERROR" and rec.student(f)]
    if not found and not rec.requests():
        return _result("P.1", NOT_OBSERVED, "The client sent no request while the check ran.")
    login_errors = [f for f in found if f.info.get("error") in LOGIN_ERRORS]
    bad = [f for f in found if f not in login_errors]
    details = []
    if login_errors:
        details.append(
            f"{len(login_errors)} login error(s), as when the grader tries a wrong password "
            "(item 1.4): not counted as mistakes."
        )
    if not bad:
        return _result(
            "P.1",
            PASSED,
            "The server answered no request of the client with an ERROR."
            if not found
            else "Apart from login errors, no request of the client got an ERROR.",
            details,
            login_errors[:4],
        )
    counts: dict[str, int] = defaultdict(int)
    for f in bad:
        counts[f.info.get("error") or "?"] += 1
    details += [
        f"{error!r}: {n} time(s)" for error, n in sorted(counts.items(), key=lambda kv: -kv[1])
    ]
    evidence: list[Frame | None] = []
    for f in bad:
        evidence += [rec.by_seq.get(f.cause or -1), f]
    return _result(
        "P.1",
        FAILED,
        f"{len(bad)} request(s) of the client got an ERROR from the server.",
        details,
        evidence,
    )


def floods(rec: Recording) -> Result:
    """P.2: bursts of requests far beyond what the user list needs, or one request repeated."""
    limits = rec.limits
    listed = max((len(s.listed) for s in rec.sessions), default=0)
    burst_limit = limits.burst + 2 * listed
    by_conn: dict[Any, list[Frame]] = defaultdict(list)
    for f in rec.requests():
        by_conn[f.conn].append(f)
    worst_burst: list[Frame] = []
    worst_repeat: list[Frame] = []
    for requests in by_conn.values():
        window: deque[Frame] = deque()
        for f in requests:
            window.append(f)
            while f.t - window[0].t > 1.0:
                window.popleft()
            if len(window) > len(worst_burst):
                worst_burst = list(window)
        same: dict[str, deque[Frame]] = defaultdict(deque)
        for f in requests:
            q = same[f.info.get("key") or f.text]
            q.append(f)
            while f.t - q[0].t > limits.repeat_span:
                q.popleft()
            if len(q) > len(worst_repeat):
                worst_repeat = list(q)
    total = sum(len(r) for r in by_conn.values())
    details = [f"{total} request(s) in all; at most {len(worst_burst)} within one second."]
    if len(worst_repeat) > limits.repeats:
        first = worst_repeat[0]
        return _result(
            "P.2",
            FAILED,
            f"The client sent the same {first.type or 'malformed'} request {len(worst_repeat)} "
            f"times within {seconds(limits.repeat_span)}.",
            details,
            worst_repeat[:3] + worst_repeat[-1:],
        )
    if len(worst_burst) > burst_limit:
        return _result(
            "P.2",
            FAILED,
            f"The client sent {len(worst_burst)} requests within one second (the user list "
            f"explains at most {burst_limit}).",
            details,
            worst_burst[:3] + worst_burst[-1:],
        )
    if not total:
        return _result("P.2", NOT_OBSERVED, "The client sent no request while the check ran.")
    return _result("P.2", PASSED, "No request flood.", details)


RULES = (
    users_listed,
    unread_counts,
    history,
    delete_own,
    edit_own,
    no_empty_message,
    delivered,
    read,
    reconnects,
    relogs_in,
    protocol_errors,
    floods,
)


def evaluate(frames: Sequence[Frame], *, login: str, limits: Limits | None = None) -> list[Result]:
    """Every item's verdict, in the task's order."""
    rec = Recording(frames, login=login, limits=limits or Limits())
    return [rule(rec) for rule in RULES]


def relevant(frames: Sequence[Frame], *, login: str) -> list[Frame]:
    """The frames a report keeps: the student's and the bots' connections, and the timeline."""
    rec = Recording(frames, login=login, limits=Limits())
    loss = rec.mark(M_LOSS)
    return [
        f
        for f in rec.frames
        if f.dir in (MARK, REFUSED)
        or f.bot
        or rec.student(f)
        or (loss is not None and f.seq > loss.seq and f.dir == OPEN)
    ]
