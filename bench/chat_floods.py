"""The chat attacks of issue 16 on per-frame work, memory and disk; run by chat_attacks.py.

    .venv/bin/python bench/chat_attacks.py deep-frames wide-frames junk-frames \
        non-readers big-history

Each function takes chat_attacks' running server (`Served`) and its options, and returns
its figures: a frame of deep JSON (chat.jscodec's depth limit), junk that the frame log
could write out (LOG, CHAT_LOG_FRAME_CHARS), clients that never read (the outbox's queue
cap, the room's caps in chat.limits) and one dialog's history (CHAT_MAX_DIALOG_CHARS).
Fan-out at 2,000 users needs more descriptors than `ulimit -n 1024`: bench/chat_fanout.py.
"""

from __future__ import annotations

import argparse
import asyncio
import collections
import json
import os
import statistics
import time
from typing import Any

import websockets
from chat_attacks import ATTACKER, VICTIM, Probe, Served, chat_login


async def _user(port: int, login: str, address: str = ATTACKER) -> Any:
    """A logged-in chat connection, from the attackers' address unless told otherwise."""
    ws = await websockets.connect(
        f"ws://127.0.0.1:{port}/", open_timeout=10, max_size=None, local_addr=(address, 0)
    )
    user = {"login": login, "password": "pw"}
    await ws.send(json.dumps({"id": "in", "type": "USER_LOGIN", "payload": {"user": user}}))
    while json.loads(await asyncio.wait_for(ws.recv(), 10))["id"] != "in":
        pass  # pushes of other logins
    return ws


async def _answer(ws: Any, request_id: str) -> dict:
    """The reply to `request_id`; pushes before it are skipped."""
    while (reply := json.loads(await asyncio.wait_for(ws.recv(), 60)))["id"] != request_id:
        pass
    return reply


class _PeakRss:
    """The server's highest RSS, sampled every 50 ms while the block runs."""

    def __init__(self, srv: Served) -> None:
        self.srv = srv
        self.start = self.peak = srv.rss_bytes()
        self._task: asyncio.Task | None = None

    async def _sample(self) -> None:
        while True:
            self.peak = max(self.peak, self.srv.rss_bytes())
            await asyncio.sleep(0.05)

    async def __aenter__(self) -> _PeakRss:
        self._task = asyncio.ensure_future(self._sample())
        return self

    async def __aexit__(self, *exc: object) -> None:
        if self._task is not None:
            self._task.cancel()
        self.peak = max(self.peak, self.srv.rss_bytes())

    def growth_mb(self) -> float:
        return round((self.peak - self.start) / 2**20, 1)


def attack_deep_frames(srv: Served, args: argparse.Namespace) -> dict[str, object]:
    """Two sockets send 1 MB frames of "[" back to back; a logged-in user times USER_ACTIVE."""
    return _two_floods(srv, args, "[" * (1 << 20))


def attack_wide_frames(srv: Served, args: argparse.Namespace) -> dict[str, object]:
    """As deep-frames, with 1 MB frames of 350,000 empty arrays: the most values per byte."""
    return _two_floods(srv, args, "[" + "[]," * ((1 << 20) // 3 - 1) + "0]")


def _two_floods(srv: Served, args: argparse.Namespace, frame: str) -> dict[str, object]:
    async def attack() -> dict[str, object]:
        stop, answered = time.monotonic() + args.seconds, [0]

        async def attacker() -> None:
            async with websockets.connect(
                f"ws://127.0.0.1:{srv.chat}/", max_size=None, local_addr=(ATTACKER, 0)
            ) as ws:
                while time.monotonic() < stop:
                    await ws.send(frame)
                    await asyncio.wait_for(ws.recv(), 60)
                    answered[0] += 1

        user = await _user(srv.chat, "deep-victim", VICTIM)
        attackers = [asyncio.ensure_future(attacker()) for _ in range(2)]
        trips: list[float] = []
        while time.monotonic() < stop:
            started = time.monotonic()
            await user.send(json.dumps({"id": "a", "type": "USER_ACTIVE", "payload": None}))
            await _answer(user, "a")
            trips.append(time.monotonic() - started)
            await asyncio.sleep(0.1)
        await asyncio.gather(*attackers)
        await user.close()
        return {
            "frames_answered": answered[0],
            "worst_chat_round_trip_s": round(max(trips), 3),
            "median_chat_round_trip_s": round(statistics.median(trips), 4),
        }

    with Probe(srv) as probe:
        figures = asyncio.run(attack())
    return {**figures, **probe.figures(), "server_alive": srv.alive()}


def attack_junk_frames(srv: Served, args: argparse.Namespace) -> dict[str, object]:
    """One anonymous socket sends 64 KB junk, half not JSON and half well-formed frames of
    type "error" (LOG=ERROR logs those): what the server writes to disk meanwhile."""
    log = srv.folder / "server.log"
    disk_before, log_before = srv.disk_bytes(), log.stat().st_size

    async def attack() -> int:
        junk = os.urandom(32 << 10).hex()
        error = json.dumps({"id": "j", "type": "error", "payload": {"junk": junk[:-60]}})
        sent, stop = 0, time.monotonic() + args.seconds
        async with websockets.connect(
            f"ws://127.0.0.1:{srv.chat}/", max_size=None, local_addr=(ATTACKER, 0)
        ) as ws:
            while time.monotonic() < stop:
                await ws.send(junk if sent % 2 else error)
                await asyncio.wait_for(ws.recv(), 60)
                sent += 1
        return sent

    frames = asyncio.run(attack())
    time.sleep(1)  # the log handler's last lines
    return {
        "junk_frames": frames,
        "log_growth_mb": round((log.stat().st_size - log_before) / 2**20, 2),
        "disk_write_mb": round((srv.disk_bytes() - disk_before) / 2**20, 2),
        "server_alive": srv.alive(),
    }


def attack_non_readers(srv: Served, args: argparse.Namespace) -> dict[str, object]:
    """100 users log in and never read; another sends them 10,000 messages of 32 KB, round
    robin. The server's memory growth, the answers, then a fresh login's time."""

    async def attack() -> dict[str, object]:
        sinks = [await _user(srv.chat, f"sink{i}") for i in range(100)]
        for sink in sinks:
            sink.transport.pause_reading()  # from now on this client reads nothing
        sender = await _user(srv.chat, "flooder")
        answers: collections.Counter[str] = collections.Counter()
        async with _PeakRss(srv) as rss:
            for i in range(10_000):
                message = {"to": f"sink{i % 100}", "text": "x" * (32 << 10)}
                request = {"id": f"m{i}", "type": "MSG_SEND", "payload": {"message": message}}
                await sender.send(json.dumps(request))
                answers[(await _answer(sender, f"m{i}"))["payload"].get("error", "sent")] += 1
        fresh_login_s = await chat_login(srv.chat, "fresh")
        for ws in [*sinks, sender]:
            ws.transport.abort()
        return {
            "rss_growth_mb": rss.growth_mb(),
            "answers": dict(answers),
            "fresh_login_s": round(fresh_login_s, 3),
        }

    return {**asyncio.run(attack()), "server_alive": srv.alive()}


def attack_big_history(srv: Served, args: argparse.Namespace) -> dict[str, object]:
    """One user sends another 200,000 short messages (500 in flight); the other, on a new
    socket, fetches the history once. Memory growth, answers, the history's size and time."""

    async def attack() -> dict[str, object]:
        ann = await _user(srv.chat, "hist-ann")
        ben = await _user(srv.chat, "hist-ben")
        answers: collections.Counter[str] = collections.Counter()
        async with _PeakRss(srv) as rss:
            for start in range(0, 200_000, 500):
                for i in range(start, start + 500):
                    message = {"to": "hist-ben", "text": f"message number {i}"}
                    request = {"id": "m", "type": "MSG_SEND", "payload": {"message": message}}
                    await ann.send(json.dumps(request))
                for _ in range(500):
                    answers[(await _answer(ann, "m"))["payload"].get("error", "sent")] += 1
            ben.transport.abort()  # its pushes were never read
            ben = await _user(srv.chat, "hist-ben")
            started = time.monotonic()
            request = {
                "id": "h",
                "type": "MSG_FROM_USER",
                "payload": {"user": {"login": "hist-ann"}},
            }
            await ben.send(json.dumps(request))
            history = await _answer(ben, "h")
            history_s = time.monotonic() - started
        for ws in (ann, ben):
            ws.transport.abort()
        return {
            "answers": dict(answers),
            "history_messages": len(history["payload"].get("messages", [])),
            "history_chars": len(json.dumps(history, separators=(",", ":"))),
            "history_s": round(history_s, 3),
            "rss_growth_mb": rss.growth_mb(),
        }

    return {**asyncio.run(attack()), "server_alive": srv.alive()}


FLOODS = {
    "deep-frames": attack_deep_frames,
    "wide-frames": attack_wide_frames,
    "junk-frames": attack_junk_frames,
    "non-readers": attack_non_readers,
    "big-history": attack_big_history,
}
