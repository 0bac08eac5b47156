"""Run an ASGI application on several loopback addresses with uvicorn or daphne.

uvicorn is the default: with its sans-I/O WebSocket implementation and uvloop the chat
relays about twice as many messages per second as under daphne (BENCHMARKS.md), and its
send waits while a peer's socket is full, which is what lets chat bound a slow reader.
"""

from __future__ import annotations

import contextlib
import gc
import logging
import os
import socket
from collections.abc import Callable
from typing import Any

from django.conf import settings

SERVERS = ("uvicorn", "daphne")
# Allocations between two young-generation collections (CPython's default: 700).
GC_YOUNG_THRESHOLD = 10_000

# Set in `manage.py serve`'s site process when the chat runs in a child process: the Unix
# socket where that child serves the grader console (grader.bridge relays to it).
_chat_console: str | None = None


def set_chat_console(path: str | None) -> None:
    global _chat_console
    _chat_console = path


def chat_console() -> str | None:
    """Where the chat process serves the console socket, if the chat runs apart from us."""
    return _chat_console


_at_stop: list[Callable[[], None]] = []


def at_stop(callback: Callable[[], None]) -> None:
    """Call `callback` once the server has shut down gracefully (SIGTERM, Ctrl-C).

    uvicorn ends by re-raising the signal, so atexit handlers never run: the chat cluster
    gives up its Redis leases here instead, and the other processes need not wait them out.
    """
    _at_stop.append(callback)


def _stopped() -> None:
    while _at_stop:
        try:
            _at_stop.pop(0)()
        except Exception:
            logging.getLogger(__name__).exception("a shutdown callback failed")


def bind(host: str, port: int) -> socket.socket:
    family = socket.AF_INET6 if ":" in host else socket.AF_INET
    sock = socket.socket(family, socket.SOCK_STREAM)
    sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
    if family == socket.AF_INET6:
        sock.setsockopt(socket.IPPROTO_IPV6, socket.IPV6_V6ONLY, 1)
    sock.bind((host, port))
    sock.listen(2048)
    sock.set_inheritable(True)
    return sock


def bind_unix(path: str) -> socket.socket:
    """A listening Unix socket at `path`; its directory's mode decides who may connect."""
    # A chat process that was killed leaves its socket file behind; its successor takes over.
    with contextlib.suppress(FileNotFoundError):
        os.unlink(path)
    sock = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
    sock.bind(path)
    sock.listen(128)
    return sock


def run(
    application: Any,
    binds: list[tuple[str, int]],
    *,
    server: str = "uvicorn",
    on_start: Callable[[], None] | None = None,
    unix: str | None = None,
) -> None:
    """Serve until interrupted; each (host, port) gets its own listening socket.

    `on_start` is called once in the server's event loop before the first connection (the
    chat's console listener starts there). `unix`: also listen on this Unix socket path.
    """
    _settle_collector()
    if server == "daphne":
        _run_daphne(application, binds, on_start, unix)
    else:
        _run_uvicorn(application, binds, on_start, unix)


def _settle_collector() -> None:
    """Fewer and shorter garbage collections for the life of a server process.

    What start-up built (apps, models, URLconf, templates) lives as long as the process:
    frozen, a full collection no longer walks it. A page or a frame allocates hundreds of
    objects, so the default threshold collected the young generation every few requests.
    Under the quiz cohort's steps the collector took about 3 % of a site process's CPU,
    under 1 % after (BENCHMARKS.md). Cyclic garbage lives a little longer; the rest is
    freed as before.
    """
    gc.freeze()
    gc.set_threshold(GC_YOUNG_THRESHOLD, *gc.get_threshold()[1:])


def _run_uvicorn(
    application: Any,
    binds: list[tuple[str, int]],
    on_start: Callable[[], None] | None = None,
    unix: str | None = None,
) -> None:
    import uvicorn

    from courseware import guard

    # Connection caps, a handshake deadline and a header limit (courseware.guard).
    http, ws, _ = guard.protocols(guard.limits_from_settings())
    config = uvicorn.Config(
        application,
        loop="uvloop",
        http=http,
        ws=ws,
        # An idle kept-alive HTTP socket is closed after this.
        timeout_keep_alive=settings.SERVER_KEEPALIVE_TIMEOUT,
        # Browsers offer permessage-deflate; the reference (ws) and daphne decline it,
        # and accepting it halves chat throughput.
        ws_per_message_deflate=False,
        ws_max_size=settings.CHAT_TRANSPORT_MAX_BYTES,
        # Channels' router has no lifespan support.
        lifespan="off",
        access_log=False,
        log_config=None,
    )
    server = uvicorn.Server(config)
    if on_start is not None:
        startup = server.startup

        async def startup_then_hook(sockets: Any = None) -> None:
            await startup(sockets=sockets)
            on_start()

        server.startup = startup_then_hook  # type: ignore[method-assign]
    shutdown = server.shutdown

    async def shutdown_then_hooks(sockets: Any = None) -> None:
        await shutdown(sockets=sockets)
        _stopped()

    server.shutdown = shutdown_then_hooks  # type: ignore[method-assign]
    sockets = [bind(host, port) for host, port in binds]
    server.run(sockets=sockets + ([bind_unix(unix)] if unix else []))


def _run_daphne(
    application: Any,
    binds: list[tuple[str, int]],
    on_start: Callable[[], None] | None = None,
    unix: str | None = None,
) -> None:
    from daphne.server import Server

    def ready() -> None:
        from twisted.internet import reactor as installed

        # Twisted declares the reactor by its zope interfaces, whose methods mypy reads as
        # if `self` were their first argument.
        reactor: Any = installed
        if on_start is not None:
            reactor.callLater(0, on_start)  # runs inside the running asyncio loop
        reactor.addSystemEventTrigger("after", "shutdown", _stopped)

    # Twisted endpoint strings need the colons of IPv6 addresses escaped.
    endpoints = [
        f"tcp:port={port}:interface={host.replace(':', chr(92) + ':')}" for host, port in binds
    ]
    if unix:
        endpoints.append(f"unix:{unix.replace(':', chr(92) + ':')}")
    Server(
        application=application,
        endpoints=endpoints,
        websocket_max_message_size=settings.CHAT_TRANSPORT_MAX_BYTES,
        websocket_max_frame_size=settings.CHAT_TRANSPORT_MAX_BYTES,
        # Chat sessions may stay open all day, as with the reference server.
        websocket_timeout=-1,
        ready_callable=ready,
    ).run()
