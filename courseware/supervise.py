"""Run the chat server in a child process of `manage.py serve`, and keep it running.

The site and the chat used to share one process, so a hostile chat client could stall the
quiz pages (a deep JSON frame holds the event loop; a flood of sockets takes its file
descriptors). Now `serve` starts `serve --chat-process` as a child:

- **Restarted.** A child that exits while the parent still runs is started again after a
  pause that doubles from RESTART_MIN_S up to RESTART_MAX_S; it falls back to the minimum
  once a child has run for STABLE_S.
- **Stopped with the parent.** At a graceful stop the parent sends SIGTERM, then SIGKILL
  after STOP_WAIT_S. The child also watches a pipe whose writing end only the parent holds:
  when the parent dies, even by SIGKILL, the pipe reads end-of-file and the child stops
  itself (`watch_parent`).
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import os
import signal
import subprocess
import threading
import time
from collections.abc import Callable

logger = logging.getLogger(__name__)

RESTART_MIN_S = 0.5
RESTART_MAX_S = 30.0
STABLE_S = 60.0
STOP_WAIT_S = 5.0


class Supervisor:
    """Start a child command, restart it with backoff when it dies, stop it on request."""

    def __init__(self, command: list[str], *, name: str = "chat") -> None:
        self.command = command
        self.name = name
        self.proc: subprocess.Popen | None = None
        self.starts = 0
        self._stopping = threading.Event()
        self._lock = threading.Lock()
        # The parent keeps the writing end and never writes: its death closes it.
        self._watch_read, self._watch_write = os.pipe()
        self._thread = threading.Thread(target=self._run, name=f"supervise-{name}", daemon=True)

    def start(self) -> None:
        self._thread.start()

    def _spawn(self) -> subprocess.Popen:
        return subprocess.Popen(  # noqa: S603 - our own manage.py, no shell
            [*self.command, "--watch-fd", str(self._watch_read)],
            pass_fds=[self._watch_read],
            # Its own process group: Ctrl-C in a terminal reaches the parent only, which
            # then stops the child, instead of the child dying first and being restarted.
            start_new_session=True,
        )

    def _run(self) -> None:
        pause = RESTART_MIN_S
        while not self._stopping.is_set():
            with self._lock:
                if self._stopping.is_set():
                    return
                self.proc = self._spawn()
                self.starts += 1
            started = time.monotonic()
            code = self.proc.wait()
            if self._stopping.is_set():
                return
            if time.monotonic() - started >= STABLE_S:
                pause = RESTART_MIN_S
            logger.warning(
                "%s process %s exited with %s; restarting in %.1f s",
                self.name,
                self.proc.pid,
                code,
                pause,
            )
            if self._stopping.wait(pause):
                return
            pause = min(pause * 2, RESTART_MAX_S)

    def stop(self) -> None:
        """Stop the child (SIGTERM, then SIGKILL) and do not restart it."""
        with self._lock:
            self._stopping.set()
            proc = self.proc
        if proc is not None and proc.poll() is None:
            with contextlib.suppress(ProcessLookupError):
                proc.send_signal(signal.SIGTERM)
            try:
                proc.wait(STOP_WAIT_S)
            except subprocess.TimeoutExpired:
                proc.kill()
                proc.wait()
        self._thread.join(STOP_WAIT_S)
        for fd in (self._watch_read, self._watch_write):
            with contextlib.suppress(OSError):
                os.close(fd)


def watch_parent(fd: int, orphaned: Callable[[], None] | None = None) -> None:
    """In the child's event loop: stop gracefully once the parent's pipe closes.

    `orphaned` is called first: what the parent would have cleaned up is left to us.
    """
    loop = asyncio.get_running_loop()

    def readable() -> None:
        try:
            data = os.read(fd, 64)
        except BlockingIOError:
            return
        except OSError:
            data = b""
        if not data:  # end of file: the parent is gone
            loop.remove_reader(fd)
            logger.warning("the serving parent process is gone: stopping the chat process")
            if orphaned is not None:
                orphaned()
            os.kill(os.getpid(), signal.SIGTERM)

    os.set_blocking(fd, False)
    loop.add_reader(fd, readable)
    # The parent may have died before the reader was added: a closed pipe is readable, so
    # the first loop iteration notices it anyway.
