"""8.1 and 8.2: the delivered and read status of messages."""

from __future__ import annotations

from chat import frames as errors
from grader.checks.recording import (
    FAILED,
    M_CUT,
    M_MESSAGES,
    M_OPEN_MESSAGE,
    NOT_OBSERVED,
    PASSED,
    Recording,
    Result,
    clock,
    make_result,
    seconds,
    with_replies,
)
from grader.recorder import OUT


def delivered(rec: Recording) -> Result:
    """8.1: a message sent while the student was offline is delivered when they log in."""
    cut = rec.mark(M_CUT)
    if cut is None:
        reason = "the student was not online" if rec.skipped(M_CUT) else "the step did not run"
        return make_result(
            "8.1",
            NOT_OBSERVED,
            f"No message was sent to the student while offline ({reason}).",
        )
    msg = cut.info.get("msg")
    if cut.info.get("delivered"):
        return make_result(
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
        return make_result(
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
        return make_result(
            "8.1",
            PASSED,
            f"The message sent while the student was offline became delivered "
            f"{seconds(deliver.t - login.start)} after the student logged in again (the client "
            "fetched the history with the bot).",
            details,
            [cut, login.login, cause, deliver],
        )
    if deliver is None and rec.end - login.start < rec.limits.react:
        return make_result(
            "8.1",
            NOT_OBSERVED,
            "The check ended too soon after the student logged in again.",
            details,
            [cut, login.login],
        )
    late = f" It was delivered only after {seconds(deliver.t - login.start)}." if deliver else ""
    return make_result(
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
        return make_result("8.2", NOT_OBSERVED, "The checker bot sent no messages.")
    expected: list[str] = list(messages.info.get("unread", []))
    open_message = rec.mark(M_OPEN_MESSAGE)
    if open_message is not None:
        expected.append(open_message.info["msg"])
    reads = rec.requests("MSG_READ")
    done = {f.info.get("msg"): f for f in reads if rec.ok(f)}
    wrong = [f for f in reads if (rec.reply(f) or f).info.get("error") == errors.NOT_RECIPIENT]
    if wrong:
        return make_result(
            "8.2",
            FAILED,
            "The client marked as read a message the user did not receive (its own).",
            [],
            with_replies(rec, wrong),
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
        return make_result(
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
        return make_result(
            "8.2",
            FAILED,
            f"The client had the dialogue with the bot open (it read or sent messages there) "
            f"but never marked {why} as read.",
            [f"Read: {len(done)} of {len(expected)}."],
            [*done.values(), *replied[:2], open_message],
        )
    return make_result(
        "8.2",
        NOT_OBSERVED,
        "The student never opened the dialogue with the bot, so no message could become read.",
    )
