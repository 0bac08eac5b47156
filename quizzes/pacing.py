"""How fast an attempt's answers may be written: one token bucket per attempt.

The bucket belongs to the attempt, not to a socket or a request, so reconnecting,
opening more tabs or posting the form instead of using the socket never adds to it.
Its level and the time it was last filled live on the attempt row and change only in
the transaction that writes the answers, with the row locked (quizzes.attempts).

Every changed answer is one write: an answer frame on the socket is one, and a form post
costs as many as the answers it changes. The bucket holds a burst of QUIZ_ANSWER_BURST
writes (20), and never fewer than the attempt's questions, so a student who fills in
every question without JavaScript and then saves still gets through in one post; it
refills at QUIZ_ANSWER_RATE writes a second (5).
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime


@dataclass(frozen=True)
class Spend:
    allowed: bool
    level: float  # the bucket after this request: refilled, and spent when allowed
    retry_after: float  # seconds until the request would fit; 0 when allowed


def capacity(*, burst: int, question_count: int) -> int:
    """The bucket's size: the burst, or one write for every question if that is more."""
    return max(burst, question_count)


def spend(
    *,
    level: float | None,
    filled_at: datetime | None,
    now: datetime,
    cost: int,
    size: int,
    rate: float,
) -> Spend:
    """Take `cost` writes from a bucket of `size` last at `level` (None: full) at `filled_at`.

    A request is taken whole or refused whole: half a form post is never saved.
    """
    if level is None or filled_at is None:
        level = float(size)
    else:
        # Clocks of two serving processes may disagree a little: never refill backwards.
        elapsed = max((now - filled_at).total_seconds(), 0.0)
        level = min(float(size), level + elapsed * rate)
    if cost <= level:
        return Spend(True, level - cost, 0.0)
    return Spend(False, level, (cost - level) / max(rate, 1e-6))
