"""P.1 and P.2: protocol errors and request floods (no points; for the grader).

Rules (the reference server's expectations, no score item):

- P.1: FAILED when any request of the student's connections got an ERROR, login errors
  (a mistyped password, item 1.4) aside.
- P.2: FAILED when one connection sends more requests within a second than the user list
  explains (`burst` plus two per listed user), repeats one request more than `repeats`
  times within `repeat_span` seconds, or the student's browser opens (or tries to open)
  more than `conn_burst` connections within a second.
"""

from __future__ import annotations

from collections import defaultdict, deque
from typing import Any

from grader.checks.recording import (
    FAILED,
    LOGIN_ERRORS,
    NOT_OBSERVED,
    PASSED,
    Recording,
    Result,
    make_result,
    seconds,
)
from grader.recorder import OUT, Frame


def protocol_errors(rec: Recording) -> Result:
    """P.1: every ERROR the student's connections received, with the request behind it."""
    found = [f for f in rec.frames if f.dir == OUT and f.type == "ERROR" and rec.student(f)]
    if not found and not rec.requests():
        return make_result("P.1", NOT_OBSERVED, "The client sent no request while the check ran.")
    login_errors = [f for f in found if f.info.get("error") in LOGIN_ERRORS]
    bad = [f for f in found if f not in login_errors]
    details = []
    if login_errors:
        details.append(
            f"{len(login_errors)} login error(s), as when the grader tries a wrong password "
            "(item 1.4): not counted as mistakes."
        )
    if not bad:
        return make_result(
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
    return make_result(
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
    attempts = [f for f in rec.frames if rec.attempt(f)]
    worst_conns = _densest(attempts)
    details = [
        f"{total} request(s) in all; at most {len(worst_burst)} within one second.",
        f"{len(attempts)} connection(s) opened or tried by the student's browser; at most "
        f"{len(worst_conns)} within one second.",
    ]
    if len(worst_repeat) > limits.repeats:
        first = worst_repeat[0]
        return make_result(
            "P.2",
            FAILED,
            f"The client sent the same {first.type or 'malformed'} request {len(worst_repeat)} "
            f"times within {seconds(limits.repeat_span)}.",
            details,
            worst_repeat[:3] + worst_repeat[-1:],
        )
    if len(worst_burst) > burst_limit:
        return make_result(
            "P.2",
            FAILED,
            f"The client sent {len(worst_burst)} requests within one second (the user list "
            f"explains at most {burst_limit}).",
            details,
            worst_burst[:3] + worst_burst[-1:],
        )
    if len(worst_conns) > limits.conn_burst:
        span = worst_conns[-1].t - worst_conns[0].t
        return make_result(
            "P.2",
            FAILED,
            f"The client opened or tried {len(worst_conns)} connections within "
            f"{seconds(span)} (at most {limits.conn_burst} a second are expected; reconnects "
            "should back off).",
            details,
            worst_conns[:3] + worst_conns[-1:],
        )
    if not total:
        return make_result("P.2", NOT_OBSERVED, "The client sent no request while the check ran.")
    return make_result("P.2", PASSED, "No request flood.", details)


def _densest(frames: list[Frame]) -> list[Frame]:
    """The most frames within any one second."""
    window: deque[Frame] = deque()
    worst: list[Frame] = []
    for f in frames:
        window.append(f)
        while f.t - window[0].t > 1.0:
            window.popleft()
        if len(window) > len(worst):
            worst = list(window)
    return worst
