"""6.2, 6.12, 6.13 and 7.3: the dialogue with the checker bot.

Rules, in the task's words (fun-chat-task.md §6, §7):

- 6.2 "full history in both directions": PASSED when the client fetches the history with
  the bot (MSG_FROM_USER); FAILED when it wrote or read there without ever fetching it.
- 6.12 "the user can delete their own messages; the message also disappears on the
  recipient's side, and if it was unread the recipient's unread counter goes down":
  PASSED when the server accepted a MSG_DELETE of the student's own message and the
  grader did not answer "No" about the counter after the bot deleted an unread message;
  FAILED on a refused delete or that "No".
- 6.13 "the user can edit their own messages; the edit mark and the new text are visible
  to both sides, and the new text must obey 7.3": PASSED on an accepted MSG_EDIT with
  text; FAILED on an empty edit, a refused one, or the grader's "No" about the edit mark.
- 7.3 "an empty message (zero characters) cannot be sent": FAILED when a MSG_SEND with an
  empty text reaches the server; PASSED when the grader confirmed the actions step (which
  asks them to try an empty message) and none arrived; NOT_OBSERVED without that.
"""

from __future__ import annotations

from chat import frames as errors
from grader.checks.recording import (
    FAILED,
    M_MESSAGES,
    NOT_OBSERVED,
    PASSED,
    S_ACTIONS,
    S_COUNTER,
    S_EDITED,
    S_OPEN,
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
        after_prompt = rec.prompted(S_OPEN)
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
        prompt = rec.prompted(S_ACTIONS)
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
    "deleted": "the deleted message vanished and the unread count for the bot went down",
    "edited": "the bot's edited message shows its new text and an edited mark",
}


def _with_bot_hint(result: Result, rec: Recording, verb: str, step: str) -> Result:
    """The grader's answer about the recipient's side, when the run asked it."""
    mark = rec.mark(M_MESSAGES)
    if not mark or not mark.info.get(verb):
        return result
    answer = rec.confirmed(step)
    if answer is None or answer.info.get("answer") not in ("yes", "no"):
        result.details.append(
            f"The bot {verb} one of its messages at {clock(mark.t)}: check that {_BOT_HINTS[verb]}."
        )
        return result
    if answer.info["answer"] == "yes":
        result.details.append(f"The grader saw that {_BOT_HINTS[verb]} ({clock(answer.t)}).")
        result.evidence.append(answer.seq)
        return result
    return make_result(
        result.code,
        FAILED,
        f"The bot {verb} one of its messages, and the grader saw that on the student's screen "
        f"it is not so that {_BOT_HINTS[verb]}.",
        [result.summary, *result.details],
        [mark, answer, *(rec.by_seq.get(seq) for seq in result.evidence)],
    )


def delete_own(rec: Recording) -> Result:
    """6.12: deleting one's own message; the recipient's counter after the bot's delete."""
    result = _own_message_action(rec, "6.12", "MSG_DELETE", "deleted")
    return _with_bot_hint(result, rec, "deleted", S_COUNTER)


def edit_own(rec: Recording) -> Result:
    """6.13: editing one's own message, never to an empty text; the edit mark on screen."""
    result = _own_message_action(rec, "6.13", "MSG_EDIT", "edited")
    return _with_bot_hint(result, rec, "edited", S_EDITED)


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
    tried = rec.confirmed(S_ACTIONS)
    if tried is None:
        return make_result(
            "7.3",
            NOT_OBSERVED,
            "The grader did not confirm trying to send an empty message, so nothing shows that "
            f"the client refuses one ({len(sent)} non-empty message(s) sent).",
            [],
            sent[:2],
        )
    return make_result(
        "7.3",
        PASSED,
        f"The grader tried to send an empty message (confirmed at {clock(tried.t)}) and nothing "
        "empty reached the server.",
        [f"The client sent {len(sent)} message(s), none of them empty."],
        [tried, *sent[:2]],
    )
