"""The serving process's event loop, for synchronous code running on a page's thread.

Pages run on worker threads (courseware.asgi). Code there that must await something
that belongs to the loop, such as the channel layer (its Redis connections belong to the
loop that opened them), hands the coroutine to the serving loop. `async_to_sync` on such
a thread would start an event loop, and a Redis connection, for every call.
"""

from __future__ import annotations

import asyncio
from collections.abc import Callable, Coroutine
from typing import Any

from asgiref.sync import async_to_sync

_loop: asyncio.AbstractEventLoop | None = None


def remember() -> None:
    """Record the running loop as the one serving this process (called in it)."""
    global _loop
    _loop = asyncio.get_running_loop()


def start(make: Callable[..., Coroutine[Any, Any, None]], *args: Any) -> None:
    """Run `make(*args)` from synchronous code: handed to the serving loop if there is one.

    The caller does not wait for it there: a busy loop must not hold up the page. With no
    serving loop (tests, management commands) it runs to the end before this returns.
    """
    loop = _loop
    if loop is not None and loop.is_running():
        try:
            running = asyncio.get_running_loop()
        except RuntimeError:
            running = None
        if running is not loop:
            asyncio.run_coroutine_threadsafe(make(*args), loop)
            return
    async_to_sync(make)(*args)
