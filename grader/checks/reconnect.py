"""11.1 and 11.2: coming back after the simulated connection loss.

Rules, in the task's words (fun-chat-task.md §11):

- 11.1 "if the connection drops suddenly, a message is shown and reconnection is
  attempted". PASSED when, after the loss, the student's browser opens a connection again
  (logged in or not); FAILED when it only tried while the server was down and then gave up,
  or never tried. A socket counts as the student's when it logs in as them, or when its
  handshake (address, Origin, User-Agent) matches a socket they logged in on
  (Recording.attempt). The message on screen is the grader's call.
- 11.2 "after reconnecting, the app logs the current user in again without any user
  action". PASSED when a reconnected socket logs the student in; FAILED when the client
  reconnected and never logged in, was refused, or never reconnected.

The run stops waiting when the client shows no attempt within a few seconds
(`M_NO_ATTEMPT`), so a client without reconnect is failed at once.
"""

from __future__ import annotations

from dataclasses import dataclass

from grader.checks.recording import (
    FAILED,
    M_LOSS,
    M_NO_ATTEMPT,
    NOT_OBSERVED,
    PASSED,
    Recording,
    Result,
    clock,
    make_result,
    seconds,
)
from grader.recorder import IN, KICK, OPEN, OUT, REFUSED, Frame


@dataclass
class Reconnect:
    loss: Frame
    was_online: bool
    refused: list[Frame]  # the student's attempts while the server was down
    opens: list[Frame]  # the student's accepted connections after the loss
    login: Frame | None  # the first successful USER_LOGIN reply on one of them
    login_errors: list[Frame]
    tried_login: bool  # any USER_LOGIN request on them


def _reconnect(rec: Recording) -> Reconnect | None:
    loss = rec.mark(M_LOSS)
    if loss is None:
        return None
    after = [f for f in rec.frames if f.seq > loss.seq]
    kicked = any(f.dir == KICK and rec.student(f) for f in after)
    refused = [f for f in after if f.dir == REFUSED and rec.attempt(f)]
    opens = [f for f in after if f.dir == OPEN and rec.attempt(f)]
    if not opens and not rec.fingerprints:
        # Handshakes unknown (a socket from another process): with no other client around,
        # a new anonymous connection can only be the student's.
        before = {f.conn for f in rec.frames if f.seq < loss.seq and not f.bot and f.dir == OPEN}
        if not before - rec.student_conns:
            opens = [f for f in after if f.dir == OPEN and not f.bot and f.conn not in rec.foreign]
    conns = {f.conn for f in opens} | {
        f.conn
        for f in after
        if f.dir == OUT and f.type == "USER_LOGIN" and f.conn in rec.student_conns
    }
    logins = [
        f
        for f in after
        if f.dir == OUT
        and f.type == "USER_LOGIN"
        and f.conn in conns
        and f.info.get("login") == rec.login
    ]
    requests = [f for f in after if f.dir == IN and f.type == "USER_LOGIN" and f.conn in conns]
    login_errors = [rec.reply(f) or f for f in requests if not rec.ok(f)]
    return Reconnect(
        loss,
        kicked,
        refused,
        opens,
        logins[0] if logins else None,
        login_errors,
        bool(requests),
    )


def _first_open(r: Reconnect) -> Frame | None:
    if r.login is not None:
        return next((f for f in r.opens if f.conn == r.login.conn), r.opens[0] if r.opens else None)
    return r.opens[0] if r.opens else None


def reconnects(rec: Recording) -> Result:
    """11.1: after the simulated loss the client tries again until it is back."""
    r = _reconnect(rec)
    if r is None:
        return make_result("11.1", NOT_OBSERVED, "No connection loss was simulated.")
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
    opened = _first_open(r)
    if opened is not None:
        how = "and logged in" if r.login is not None else "and never logged in"
        details.append(
            f"{len(r.opens)} connection(s) opened after the loss; those that did not log in "
            "were tied to the student's browser by address, Origin and User-Agent."
        )
        details.append("Whether it told the user about the lost connection is the grader's call.")
        return make_result(
            "11.1",
            PASSED,
            f"The client reconnected {seconds(opened.t - r.loss.t)} after the loss {how}.",
            details,
            [r.loss, *r.refused[:3], opened],
        )
    stopped = next((m for m in rec.marks.get(M_NO_ATTEMPT, []) if m.seq > r.loss.seq), None)
    if r.refused:
        return make_result(
            "11.1",
            FAILED,
            f"The client tried to reconnect while the server was down ({len(r.refused)} "
            "attempt(s)) and gave up before it came back.",
            details,
            [r.loss, *r.refused[:5]],
        )
    waited = seconds((stopped or rec.frames[-1]).t - r.loss.t)
    return make_result(
        "11.1",
        FAILED,
        f"The client made no attempt to reconnect in the {waited} after the loss.",
        details,
        [r.loss, stopped],
    )


def relogs_in(rec: Recording) -> Result:
    """11.2: after reconnecting, the client logs the same user in again on its own."""
    r = _reconnect(rec)
    if r is None:
        return make_result("11.2", NOT_OBSERVED, "No connection loss was simulated.")
    opened = _first_open(r)
    if r.login is not None:
        start = opened or r.login
        return make_result(
            "11.2",
            PASSED,
            f"The client logged {rec.login!r} in again {seconds(r.login.t - r.loss.t)} after the "
            f"loss, {seconds(r.login.t - start.t)} after its new connection opened.",
            [
                "A login a split second after the socket opens needs no user action; a person "
                "typing takes seconds."
            ],
            [r.loss, opened, rec.by_seq.get(r.login.cause or -1), r.login],
        )
    if r.login_errors:
        return make_result(
            "11.2",
            FAILED,
            "The client tried to log in again after reconnecting but the server refused it.",
            [],
            [r.loss, *r.login_errors[:3]],
        )
    if opened is not None:
        return make_result(
            "11.2",
            FAILED,
            f"The client reconnected {seconds(opened.t - r.loss.t)} after the loss and never "
            f"logged {rec.login!r} in ({len(r.opens)} connection(s) opened, none sent "
            "USER_LOGIN).",
            [f"Watched until {seconds(rec.frames[-1].t - opened.t)} after it reconnected."],
            [r.loss, *r.opens[:3]],
        )
    return make_result(
        "11.2",
        FAILED,
        "The client never reconnected, so it could not log in again.",
        [],
        [r.loss],
    )
