"""6.2, 6.12, 6.13 and 7.3: the dialogue with the checker bot."""

from __future__ import annotations

from chat import frames as errors
from grader.checks.recording import (
    FAILED,
    M_ACTIONS,
    M_DIALOGUE,
    M_MESSAGES,
    NOT_OBSERVED,
    PASSED,
    Recording,
    Result,
    clock,
    make_result,
    with_replies,
)
from grader.recorder import OUT


def history(rec: Recording) -> Result:
    """6.2: the client fetches the dialogue's history from the server."""
    bot = rec.bot_login
    if bot is None:
        return make_result(
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
        return make_result(
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
        return make_result(
            "6.2",
            FAILED,
            f"The client showed the dialogue with {bot!r} (it sent or read messages there) but "
            "never asked the server for its history (MSG_FROM_USER).",
            [],
            used[:4],
        )
    return make_result(
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
        return make_result(code, NOT_OBSERVED, f"The client never {verb} a message{note}.")
    done = [f for f in tried if rec.ok(f)]
    failed = [f for f in tried if not rec.ok(f)]
    not_sender = [f for f in failed if (rec.reply(f) or f).info.get("error") == errors.NOT_SENDER]
    empty = [f for f in tried if kind == "MSG_EDIT" and f.info.get("text_len") == 0]
    if empty:
        return make_result(
            code,
            FAILED,
            "The client sent an edit with an empty text; the new text must not be empty (7.3).",
            [],
            with_replies(rec, empty),
        )
    if not_sender:
        return make_result(
            code,
            FAILED,
            f"The client tried to {'edit' if kind == 'MSG_EDIT' else 'delete'} a message that "
            "is not the user's own; the server refused it.",
            [],
            with_replies(rec, not_sender),
        )
    if not done:
        return make_result(
            code,
            FAILED,
            f"Every {kind} the client sent was refused by the server.",
            [],
            with_replies(rec, failed),
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
    return make_result(
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
        return make_result(
            "7.3",
            FAILED,
            f"The client sent {len(empty)} empty message(s).",
            [],
            with_replies(rec, empty),
        )
    if not sent:
        return make_result("7.3", NOT_OBSERVED, "The client sent no message while the check ran.")
    return make_result(
        "7.3",
        PASSED,
        f"The client sent {len(sent)} message(s), none of them empty.",
        [
            "Whether the send button refuses an empty text is for the grader to try; nothing "
            "empty reached the server."
        ],
        sent[:2],
    )
