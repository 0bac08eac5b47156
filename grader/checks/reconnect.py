"""11.1 and 11.2: coming back after the simulated connection loss."""

from __future__ import annotations

from dataclasses import dataclass

from grader.checks.recording import (
    FAILED,
    M_LOSS,
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
    if r.opened is not None:
        how = (
            "it logged in as the student"
            if r.attributed_by_login
            else "it did not log in; it is taken for the student's as no other client was connected"
        )
        return make_result(
            "11.1",
            PASSED,
            f"The client reconnected {seconds(r.opened.t - r.loss.t)} after the loss ({how}).",
            [*details, "Whether it told the user about the lost connection is the grader's call."],
            [r.loss, *r.refused[:3], r.opened],
        )
    if r.refused:
        return make_result(
            "11.1",
            FAILED,
            "The client tried to reconnect while the server was down and gave up before it "
            "came back.",
            details,
            [r.loss, *r.refused[:5]],
        )
    waited = seconds(rec.end - r.loss.t)
    return make_result(
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
        return make_result("11.2", NOT_OBSERVED, "No connection loss was simulated.")
    if r.login is not None:
        opened = r.opened or r.login
        return make_result(
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
        return make_result(
            "11.2",
            FAILED,
            "The client tried to log in again after reconnecting but the server refused it.",
            [],
            [r.loss, *r.login_errors[:3]],
        )
    if r.opened is not None:
        return make_result(
            "11.2",
            FAILED,
            f"The client reconnected but did not log {rec.login!r} in again within "
            f"{seconds(rec.end - r.opened.t)}.",
            [],
            [r.loss, r.opened],
        )
    return make_result(
        "11.2",
        FAILED,
        "The client never reconnected, so it could not log in again.",
        [],
        [r.loss],
    )
