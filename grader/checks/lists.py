"""5.1 and 5.4: what the client asks for after every login."""

from __future__ import annotations

from grader.checks.recording import (
    FAILED,
    NOT_OBSERVED,
    PASSED,
    Recording,
    Result,
    clock,
    make_result,
    names,
    no_login,
    seconds,
    with_replies,
)


def users_listed(rec: Recording) -> Result:
    """5.1: after logging in, the client asks for both the online and the offline users."""
    judged = [s for s in rec.sessions if s.judged(rec.limits.window)]
    if not judged:
        return no_login(rec, "5.1")
    bad = [s for s in judged if len(s.lists) < 2]
    if bad:
        s = bad[0]
        missing = " and ".join(k for k in ("USER_ACTIVE", "USER_INACTIVE") if k not in s.lists)
        return make_result(
            "5.1",
            FAILED,
            f"After logging in at {clock(s.start)} the client did not request {missing} within "
            f"{seconds(rec.limits.window)}, so it cannot list every registered user with an "
            "online indicator.",
            [f"{len(bad)} of {len(judged)} logins lacked a request."],
            [s.login, *s.lists.values()],
        )
    s = judged[-1]
    return make_result(
        "5.1",
        PASSED,
        f"After each of {len(judged)} login(s) the client requested USER_ACTIVE and USER_INACTIVE.",
        [
            f"Login at {clock(x.start)}: lists requested "
            f"{seconds(max(f.t for f in x.lists.values()) - x.start)} later."
            for x in judged
        ],
        with_replies(rec, s.lists.values()),
    )


def unread_counts(rec: Recording) -> Result:
    """5.4: after the lists, one unread count (or history) request per listed user."""
    judged = [s for s in rec.sessions if s.judged(rec.limits.window) and s.lists]
    if not judged:
        if any(s.judged(rec.limits.window) for s in rec.sessions):
            return make_result(
                "5.4",
                NOT_OBSERVED,
                "The client never fetched the user list, so there were no users to count for.",
            )
        return no_login(rec, "5.4")
    for s in judged:
        missing = [u for u in s.listed if u not in s.per_user]
        if missing:
            return make_result(
                "5.4",
                FAILED,
                f"After logging in at {clock(s.start)} the client asked for no unread count "
                f"(MSG_COUNT_NOT_READED_FROM_USER) or history (MSG_FROM_USER) of "
                f"{names(missing)} within {seconds(rec.limits.window)}.",
                [f"Listed users: {names(s.listed)}."],
                [s.login, *s.lists.values(), *s.per_user.values()],
            )
    s = judged[-1]
    kinds = sorted({f.type or "" for f in s.per_user.values() if f.info.get("peer") in s.listed})
    return make_result(
        "5.4",
        PASSED,
        f"After each of {len(judged)} login(s) the client asked the server about every listed "
        f"user ({' / '.join(kinds) or 'no other users were listed'}).",
        [f"Login at {clock(x.start)}: {len(x.listed)} other user(s) listed." for x in judged],
        [s.login, *(s.per_user[u] for u in s.listed if u in s.per_user)],
    )
