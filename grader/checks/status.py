"""8.1 and 8.2: the delivered and read status of messages."""

from __future__ import annotations

from dataclasses import dataclass

from chat import frames as errors
from grader.checks.recording import (
    FAILED,
    M_CUT,
    M_MESSAGES,
    M_OPEN_MESSAGE,
    NOT_OBSERVED,
    PASSED,
    S_CLICK,
    S_OPEN,
    S_RELOAD,
    Recording,
    Result,
    clock,
    make_result,
    seconds,
    with_replies,
)
from grader.recorder import OUT, Frame


def delivered(rec: Recording) -> Result:
    """8.1 "the status becomes delivered when the recipient logs in, or at once if online".

    The run cuts the student's connection and the bot writes meanwhile; on the student's
    next login (by itself, or after the grader reloads the client) the client must fetch
    the history with the bot within `react` seconds, which marks the message delivered.
    PASSED then; FAILED if it logged in and did not; NOT_OBSERVED if it never logged in
    again or the check ended sooner.
    """
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
    reload = rec.prompted(S_RELOAD)
    if reload is not None and reload.t < login.start:
        details.append(
            "The client did not come back by itself; the grader reloaded it and logged in."
        )
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


@dataclass
class _Part:
    """One half of 8.2: its verdict and the sentence that says why."""

    status: str
    text: str
    evidence: list[Frame | None]


def _first_reads(rec: Recording) -> dict[str, Frame]:
    """Each message's FIRST accepted MSG_READ from the student."""
    first: dict[str, Frame] = {}
    for f in rec.requests("MSG_READ"):
        if rec.ok(f):
            first.setdefault(f.info.get("msg") or "", f)
    return first


def _own_sends(rec: Recording, after: float) -> list[Frame]:
    return [
        f
        for f in rec.requests("MSG_SEND")
        if f.info.get("to") == rec.bot_login and f.t > after and (f.info.get("text_len") or 0)
    ]


def _unread_part(rec: Recording, unread: list[str], reads: dict[str, Frame]) -> _Part:
    """The messages waiting when the dialogue opened: read on a 6.8 action (or on opening)."""
    react = rec.limits.react
    if not unread:
        return _Part(PASSED, "No message was waiting when the dialogue opened.", [])
    opened, click = rec.prompted(S_OPEN), rec.prompted(S_CLICK)
    clicked = rec.confirmed(S_CLICK)
    start = (opened or click or rec.frames[0]).t
    sends = _own_sends(rec, start)
    causes: list[tuple[float, str]] = []  # (when, why), so the first read names the cause
    late: list[str] = []
    for msg in unread:
        r = reads.get(msg)
        if r is None:
            continue
        send = next((f for f in sends if f.t <= r.t), None)
        if clicked is not None and r.t > clicked.t + react:
            if send is not None:
                late.append(
                    f"read only with the student's own message, {seconds(r.t - clicked.t)} "
                    "after the grader clicked the history"
                )
            else:
                late.append(f"read only {seconds(r.t - clicked.t)} after the click")
        elif send is not None and (click is None or r.t >= click.t) and clicked is None:
            causes.append((r.t, "after the student's own message (a 6.8 action)"))
        elif click is not None and r.t >= click.t:
            causes.append((r.t, "after the grader clicked or scrolled the history"))
        else:
            causes.append((r.t, "as soon as the dialogue opened"))
    missing = [m for m in unread if m not in reads]
    evidence: list[Frame | None] = [opened, click, clicked, *(reads.get(m) for m in unread)]
    if late:
        return _Part(
            FAILED,
            f"The messages waiting in the dialogue were {late[0]}; clicking or scrolling the "
            f"history must mark them read within {seconds(react)}.",
            [*evidence, *sends[:1]],
        )
    if missing:
        if clicked is None and not sends:
            return _Part(
                NOT_OBSERVED,
                f"{len(missing)} of the {len(unread)} waiting message(s) never became read, "
                "and the grader did not confirm clicking the history.",
                evidence,
            )
        return _Part(
            FAILED,
            f"{len(missing)} of the {len(unread)} message(s) waiting in the dialogue never "
            "became read, though the grader clicked the history or the student replied.",
            [*evidence, *sends[:1]],
        )
    first, why = min(causes)
    return _Part(
        PASSED,
        f"The {len(unread)} waiting message(s) became read {why} (the first at {clock(first)}).",
        evidence,
    )


def _open_part(rec: Recording, reads: dict[str, Frame]) -> _Part:
    """The message that arrives while the dialogue is open: read by itself within `react`."""
    react = rec.limits.react
    open_message = rec.mark(M_OPEN_MESSAGE)
    if open_message is None:
        return _Part(
            NOT_OBSERVED,
            "The bot never wrote into the open dialogue (the dialogue step did not finish).",
            [],
        )
    msg = open_message.info.get("msg") or ""
    r = reads.get(msg)
    sends = _own_sends(rec, open_message.t)
    send = next((f for f in sends if r is None or f.t <= r.t), None)
    if r is not None and (send is None or send.t > r.t) and r.t - open_message.t <= react:
        return _Part(
            PASSED,
            f"The message sent into the open dialogue was read {seconds(r.t - open_message.t)} "
            "after it arrived, with no action in the client.",
            [open_message, r],
        )
    if r is not None and send is not None:
        return _Part(
            FAILED,
            "The message sent into the open dialogue was read only together with the "
            f"student's own next message, {seconds(r.t - open_message.t)} after it arrived "
            f"(it must be read by itself within {seconds(react)}).",
            [open_message, send, r],
        )
    if r is not None:
        return _Part(
            FAILED,
            f"The message sent into the open dialogue was read only "
            f"{seconds(r.t - open_message.t)} after it arrived; the limit is {seconds(react)}.",
            [open_message, r],
        )
    return _Part(
        FAILED,
        f"The message sent into the open dialogue was never read (watched for "
        f"{seconds(rec.frames[-1].t - open_message.t)}).",
        [open_message, *sends[:1]],
    )


def read(rec: Recording) -> Result:
    """8.2 "the status becomes read when the recipient opens a dialogue with unread messages
    and performs one of the 6.8 actions, or already has such a dialogue open".

    The messages waiting when the dialogue opened must become read on the grader's click
    or scroll (confirmed with "I did it"), within `react` seconds of the confirmation; read
    only with the student's own later message is too late. A message the bot sends into
    the open dialogue must be read by itself within `react` seconds, before any message of
    the student's. Each read is judged by its FIRST MSG_READ. PASSED needs both halves;
    FAILED if either fails; NOT_OBSERVED otherwise (e.g. the dialogue step was skipped).
    """
    messages = rec.mark(M_MESSAGES)
    if messages is None:
        return make_result("8.2", NOT_OBSERVED, "The checker bot sent no messages.")
    reads = rec.requests("MSG_READ")
    wrong = [f for f in reads if (rec.reply(f) or f).info.get("error") == errors.NOT_RECIPIENT]
    if wrong:
        return make_result(
            "8.2",
            FAILED,
            "The client marked as read a message the user did not receive (its own).",
            [],
            with_replies(rec, wrong),
        )
    first = _first_reads(rec)
    unread = list(messages.info.get("unread", []))
    parts = [_unread_part(rec, unread, first), _open_part(rec, first)]
    details = [p.text for p in parts]
    evidence = [f for p in parts for f in p.evidence]
    failed = [p for p in parts if p.status == FAILED]
    if failed:
        return make_result("8.2", FAILED, failed[0].text, details, evidence)
    if all(p.status == PASSED for p in parts):
        return make_result(
            "8.2",
            PASSED,
            "Every message the bot sent became read on the grader's action or, in the open "
            "dialogue, by itself.",
            details,
            evidence,
        )
    if not first and rec.confirmed(S_CLICK) is None and rec.mark(M_OPEN_MESSAGE) is None:
        return make_result(
            "8.2",
            NOT_OBSERVED,
            "The student never opened the dialogue with the bot, so no message could become read.",
        )
    missing = next(p for p in parts if p.status == NOT_OBSERVED)
    return make_result("8.2", NOT_OBSERVED, missing.text, details, evidence)
