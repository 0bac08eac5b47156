"""The check's rules judge by cause: the same client gets the same verdicts at any grader pace.

Each test replays recorded frame sequences (tests.checkscript) of one client behaviour with
the grader acting sooner or later, and of reconnecting browsers told apart by handshake.
"""

from __future__ import annotations

import pytest

from grader import checks
from tests.checkscript import BOT, LIMITS, Script, with_bot

ANN_BROWSER = {"addr": "127.0.0.1", "port": 50111, "origin": "http://localhost:5173", "agent": "A"}
ZOE_BROWSER = {"addr": "127.0.0.1", "port": 50222, "origin": "http://localhost:5173", "agent": "Z"}


def dialogue(client: str, *, look: float, act: float) -> Script:
    """The dialogue steps for a `client` behaviour; the grader takes `look` s to confirm a
    prompt and `act` s before sending their own message."""
    s = with_bot()
    s.login(1)
    m1, m2 = s.bot_sends(), s.bot_sends()
    s.mark(checks.M_MESSAGES, unread=[m1, m2])
    s.prompt(checks.S_OPEN)
    s.history(1, BOT, messages=2, dt=1)
    if client == "reads-on-open":
        s.read(1, m1)
        s.read(1, m2)
    s.confirm(checks.S_OPEN, dt=look)
    s.prompt(checks.S_CLICK)
    if client in ("good", "slow-in-open-dialogue"):
        s.read(1, m1, dt=1)  # the click, a second after the prompt
        s.read(1, m2)
    s.confirm(checks.S_CLICK, dt=look)
    m4 = s.bot_sends()
    s.mark(checks.M_OPEN_MESSAGE, msg=m4)
    if client in ("good", "reads-on-open"):
        s.read(1, m4, dt=0.4)
        s.read(1, m4, dt=0.3)  # a second read of the same message changes nothing
    elif client == "slow-in-open-dialogue":
        s.read(1, m4, dt=LIMITS.react + 2)
    s.prompt(checks.S_ACTIONS, dt=LIMITS.react)
    s.say(1, dt=act)
    if client == "reads-on-send":
        s.read(1, m1)
        s.read(1, m2)
        s.read(1, m4)
    s.confirm(checks.S_ACTIONS, dt=look)
    return s


CLIENTS = {
    "good": ("passed", "read 0.40 s after it arrived"),
    "reads-on-open": ("passed", "as soon as the dialogue opened"),
    "reads-on-send": ("failed", "read only with the student's own message"),
    "slow-in-open-dialogue": ("failed", "the limit is 3.00 s"),
}


@pytest.mark.parametrize("client", sorted(CLIENTS))
def test_read_status_gets_the_same_verdict_however_slowly_the_grader_acts(client):
    """8.2 depends on the client, not on when the grader confirms or sends."""
    status, text = CLIENTS[client]
    results = [
        dialogue(client, look=look, act=act).verdict("8.2")
        for look, act in ((0.5, 1.0), (12.0, 11.5), (40.0, 3.0))
    ]
    assert {r.status for r in results} == {status}
    assert all(text in " ".join([r.summary, *r.details]) for r in results), results[0]


def test_a_message_into_the_open_dialogue_read_only_with_the_students_reply_fails():
    """Read together with the student's own next message is not "read by itself"."""
    s = with_bot()
    s.login(1)
    m1 = s.bot_sends()
    s.mark(checks.M_MESSAGES, unread=[m1])
    s.prompt(checks.S_CLICK)
    s.read(1, m1, dt=1)
    s.confirm(checks.S_CLICK, dt=2)
    m4 = s.bot_sends()
    s.mark(checks.M_OPEN_MESSAGE, msg=m4)
    s.say(1, dt=2)  # within the limit, but the reply came first
    s.read(1, m4, dt=0.05)
    result = s.verdict("8.2")
    assert result.status == checks.FAILED
    assert "together with the student's own next message" in result.summary


def test_read_status_is_not_observed_when_the_open_dialogue_step_was_skipped():
    """Skipping the click means the bot never writes into the open dialogue: not a pass."""
    s = with_bot()
    s.login(1)
    m1 = s.bot_sends()
    s.mark(checks.M_MESSAGES, unread=[m1])
    s.prompt(checks.S_CLICK)
    s.read(1, m1, dt=1)
    s.mark(checks.M_SKIPPED, step=checks.S_CLICK, dt=5)
    result = s.verdict("8.2")
    assert result.status == checks.NOT_OBSERVED
    assert "never wrote into the open dialogue" in result.summary


def test_a_clicked_history_that_stays_unread_fails_even_without_a_reply():
    s = with_bot()
    s.login(1)
    m1 = s.bot_sends()
    s.mark(checks.M_MESSAGES, unread=[m1])
    s.prompt(checks.S_CLICK)
    s.confirm(checks.S_CLICK, dt=3)
    s.mark(checks.M_END, dt=30)
    result = s.verdict("8.2")
    assert result.status == checks.FAILED and "never" in result.summary


# -- 6.12 and 6.13: what the grader saw -----------------------------------------------------


def test_the_graders_no_about_the_recipients_counter_fails_6_12():
    """6.12 includes the recipient's unread counter going down; the grader reports it."""
    s = with_bot()
    s.login(1)
    s.mark(checks.M_MESSAGES, unread=[], deleted="m3", edited="m2")
    own = s.request(1, "MSG_DELETE", {"message": {"id": "m-own"}})
    s.reply(own, {"message": {"id": "m-own", "status": {"isDeleted": True}}})
    assert s.verdict("6.12").status == checks.PASSED
    s.confirm(checks.S_COUNTER, answer="no")
    result = s.verdict("6.12")
    assert result.status == checks.FAILED and "unread count" in result.summary
    s.confirm(checks.S_EDITED, answer="yes")
    assert any("grader saw" in d for d in s.verdict("6.13").details)


# -- 11.1, 11.2, P.2: connections tied to the student's browser --------------------------------


def reconnecting(opens: int, *, logs_in: bool, every: float = 0.1) -> Script:
    """The student logs in from ANN_BROWSER, zoe from another; the loss; then `opens`
    sockets from ANN_BROWSER, the first 3 s after the loss."""
    s = Script()
    s.login(1, peer=ANN_BROWSER)
    s.login(5, login="zoe", peer=ZOE_BROWSER)
    s.mark(checks.M_LOSS, outage=2)
    s.mark("clear")
    s.add("kick", 1)
    s.add("refused", info=ZOE_BROWSER, dt=0.5)  # zoe's browser, not the student's
    s.add("open", 9, info=ZOE_BROWSER, dt=0.1)
    s.t += 2.28
    for n in range(opens):
        s.add("open", 20 + n, info={**ANN_BROWSER, "port": 51000 + n}, dt=every)
        s.add("close", 20 + n, dt=0.01)
    if logs_in:
        s.login(99, peer=ANN_BROWSER)
    s.mark(checks.M_END, dt=5)
    return s


def test_sockets_from_the_students_browser_count_as_a_reconnect_without_a_login():
    """~40 sockets that never log in are the student's: reconnected, never logged in."""
    s = reconnecting(40, logs_in=False)
    reconnect, relogin, flood = s.verdict("11.1"), s.verdict("11.2"), s.verdict("P.2")
    assert reconnect.status == checks.PASSED
    assert "reconnected 3.00 s after the loss and never logged in" in reconnect.summary
    assert relogin.status == checks.FAILED
    assert "reconnected 3.00 s after the loss and never logged 'ann' in" in relogin.summary
    assert "40 connection(s)" in relogin.summary
    assert flood.status == checks.FAILED and "connections within" in flood.summary


def test_another_browsers_sockets_are_never_taken_for_the_students():
    s = reconnecting(0, logs_in=False)
    reconnect = s.verdict("11.1")
    assert reconnect.status == checks.FAILED and "no attempt" in reconnect.summary
    assert not any("attempt(s) were refused" in d for d in reconnect.details)


def test_a_calm_reconnect_with_a_login_passes_and_is_no_flood():
    s = reconnecting(2, logs_in=True, every=0.6)
    assert s.verdict("11.1").status == s.verdict("11.2").status == checks.PASSED
    assert s.verdict("P.2").status == checks.PASSED


def test_a_student_online_before_the_run_is_known_by_the_handshake_the_run_noted():
    """Logged in before Start: the run's note of that socket's handshake ties reconnects."""
    s = Script()
    s.mark(checks.M_ONLINE, conn=1, peer=ANN_BROWSER)
    s.mark(checks.M_LOSS, outage=1)
    s.mark("clear")
    s.add("open", 7, info=ANN_BROWSER, dt=1.5)
    s.mark(checks.M_END, dt=5)
    assert s.verdict("11.1").status == checks.PASSED
    listed = s.verdict("5.1")
    assert listed.status == checks.NOT_OBSERVED and "before the check started" in listed.summary


def test_no_attempt_reports_how_long_the_run_watched():
    s = Script()
    s.login(1, peer=ANN_BROWSER)
    loss = s.mark(checks.M_LOSS, outage=2)
    s.mark(checks.M_NO_ATTEMPT, step=checks.M_LOSS, dt=7)
    s.mark(checks.M_END, dt=0.1)
    result = s.verdict("11.1")
    assert result.status == checks.FAILED
    assert "no attempt to reconnect in the 7.00 s" in result.summary
    assert loss.seq in result.evidence
