"""courseware.supervise with stand-in children: restarts back off, a stop is final."""

from __future__ import annotations

import os
import sys
import time

import pytest

from courseware import supervise


def python(code: str) -> list[str]:
    # The supervisor appends `--watch-fd N`; `python -c` leaves it in sys.argv.
    return [sys.executable, "-c", code]


@pytest.fixture
def quick(monkeypatch) -> None:
    monkeypatch.setattr(supervise, "RESTART_MIN_S", 0.2)
    monkeypatch.setattr(supervise, "RESTART_MAX_S", 0.8)
    monkeypatch.setattr(supervise, "STOP_WAIT_S", 1.0)


def test_a_child_that_keeps_dying_is_restarted_with_a_growing_pause(quick):
    """Pauses of 0.2, 0.4, 0.8, 0.8 s: about five starts in two seconds, never a tight loop."""
    supervisor = supervise.Supervisor(python("raise SystemExit(3)"))
    supervisor.start()
    time.sleep(2.0)
    supervisor.stop()
    assert 3 <= supervisor.starts <= 6
    starts = supervisor.starts
    time.sleep(0.5)
    assert supervisor.starts == starts  # stopped means stopped


def test_stop_kills_a_child_that_ignores_sigterm(quick):
    code = "import signal, time; signal.signal(signal.SIGTERM, signal.SIG_IGN); time.sleep(60)"
    supervisor = supervise.Supervisor(python(code))
    supervisor.start()
    deadline = time.monotonic() + 5
    while supervisor.proc is None and time.monotonic() < deadline:
        time.sleep(0.02)
    time.sleep(0.3)  # the child has installed its handler
    started = time.monotonic()
    supervisor.stop()
    assert supervisor.proc.poll() is not None
    assert time.monotonic() - started < 3


def test_the_child_reads_end_of_file_once_the_parent_side_of_the_pipe_is_gone(quick):
    """What a SIGKILLed parent leaves: the watched pipe closes and the child can tell."""
    code = (
        "import os, sys\n"
        "fd = int(sys.argv[sys.argv.index('--watch-fd') + 1])\n"
        "raise SystemExit(0 if os.read(fd, 1) == b'' else 1)\n"
    )
    supervisor = supervise.Supervisor(python(code))
    supervisor._stopping.set()  # start one child by hand, no restarts
    proc = supervisor._spawn()
    os.close(supervisor._watch_write)  # as the kernel does when the parent dies
    assert proc.wait(5) == 0
    os.close(supervisor._watch_read)
