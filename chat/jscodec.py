"""JSON exactly as the reference's JavaScript parses and prints it (JSON.parse, JSON.stringify).

Clients get back what they sent (ids, logins, texts), so our text must be byte-identical to
what Node would print for the same input. Measured differences, and what we do about them:

- Lone surrogates (`"\\ud800"` is valid JSON): JSON.stringify prints them as lowercase
  `\\udXXX` escapes; orjson refuses them and json would emit unencodable text. We escape.
- Numbers are IEEE doubles in JavaScript: `12345678901234567890` prints `12345678901234567000`,
  `-0` prints `0`, `1e400` is Infinity and prints `null`, `1e21` prints `1e+21`.
- JavaScript objects list array-index keys ("0".."4294967294") first, ascending.
- JSON.parse has no nesting limit; orjson stops at 1024 levels and json at the recursion limit.
  We stop at a depth the caller chooses, at most 1024 (TooDeep): the reference parses a 1 MB
  frame of "[" in C++, but a Python parser would hold the event loop for seconds.
- Everything else (escapes, U+2028, U+007F, non-ASCII raw) orjson prints exactly like
  JSON.stringify: checked for every BMP code point against Node 20.

orjson does the common case (about 4x faster than json here); the rest falls back.
"""

from __future__ import annotations

import gc
import json
import math
import re
import sys

import orjson

__all__ = [
    "MAX_DEPTH",
    "InvalidJSON",
    "TooDeep",
    "dumps",
    "loads",
    "loads_exact",
    "string",
    "stringify",
    "text_of",
]

MAX_DEPTH = 1024  # orjson's nesting limit, and the deepest any caller may allow


class InvalidJSON(ValueError):
    """JSON.parse would throw a SyntaxError for this text."""


class TooDeep(InvalidJSON):
    """Arrays and objects nest deeper than the caller allows (JSON.parse has no limit)."""


def _reject_constant(name: str) -> float:
    """NaN and Infinity are not JSON; json accepts them, JSON.parse does not."""
    raise InvalidJSON(name)


# Every number becomes a float, as in JavaScript. It also keeps json from calling int() on a
# 5000-digit literal, which raises ValueError past Python's int digit limit.
_EXACT = json.JSONDecoder(parse_int=float, parse_constant=_reject_constant)
# One pass: a surrogate pair (one character to JavaScript), else a character to escape.
_ESCAPABLE = re.compile(r'[\ud800-\udbff][\udc00-\udfff]|["\\\x00-\x1f\ud800-\udfff]')
_ESCAPES = {
    '"': '\\"',
    "\\": "\\\\",
    "\b": "\\b",
    "\f": "\\f",
    "\n": "\\n",
    "\r": "\\r",
    "\t": "\\t",
}


def text_of(frame: str | bytes) -> str:
    """A frame as the reference reads it: bytes are UTF-8 with U+FFFD for bad sequences.

    That is Node's Buffer.toString(), which JSON.parse applies to binary frames; Python's
    "replace" handler gives the same result (checked on 3,000 random byte strings).
    """
    if isinstance(frame, str):
        return frame
    return bytes(frame).decode("utf-8", "replace")


def loads(text: str, max_depth: int = MAX_DEPTH) -> object:
    """JSON.parse's accept/reject decision; numbers may come back as int (see loads_exact).

    TooDeep if arrays and objects nest deeper than `max_depth` (at most MAX_DEPTH). Every
    path is C code, so a 1 MB frame of "[" costs milliseconds, not seconds.
    """
    if len(text) < _GC_FREE_FROM or not gc.isenabled():
        return _loads(text, max_depth)
    # A megabyte of "[]," is 350,000 lists: built with the collector on, its passes over
    # them made the parse five times slower (240 ms instead of 45). None of them is garbage
    # until the frame is handled.
    gc.disable()
    try:
        return _loads(text, max_depth)
    finally:
        gc.enable()


_GC_FREE_FROM = 16 << 10  # characters; below this a frame holds too few values to matter


def _loads(text: str, max_depth: int) -> object:
    try:
        value = orjson.loads(text)
    except orjson.JSONDecodeError:
        # orjson also refuses what JSON.parse accepts: lone surrogates, 1e400, and any
        # nesting past its own limit of 1024.
        return loads_exact(text, max_depth)
    if max_depth < MAX_DEPTH:  # orjson itself stops past MAX_DEPTH
        verdict = _deeper_than(text, max_depth)
        if verdict or (verdict is None and _depth_of(value, max_depth) > max_depth):
            raise TooDeep(f"nested deeper than {max_depth}")
    return value


def loads_exact(text: str, max_depth: int = MAX_DEPTH) -> object:
    """JSON.parse, with every number a float as in JavaScript; TooDeep past `max_depth`."""
    verdict = _deeper_than(text, max_depth)
    if verdict:
        raise TooDeep(f"nested deeper than {max_depth}")
    old_limit = sys.getrecursionlimit()
    # json's C scanner counts a recursion per level: let it reach max_depth wherever we are
    # called from. Only ever raised: the limit is process-wide and other threads rely on it.
    sys.setrecursionlimit(old_limit + max_depth)
    try:
        value = _EXACT.decode(text)
    except RecursionError:
        raise TooDeep(f"nested deeper than {max_depth}") from None
    except ValueError as error:  # JSONDecodeError and _reject_constant
        raise InvalidJSON(str(error)) from None
    finally:
        sys.setrecursionlimit(old_limit)
    if verdict is None and _depth_of(value, max_depth) > max_depth:
        raise TooDeep(f"nested deeper than {max_depth}")
    return value


def _deeper_than(text: str, max_depth: int) -> bool | None:
    """Whether `text` nests deeper than max_depth; None when orjson cannot tell.

    Counting brackets settles almost every frame. Past that, orjson parses the text inside
    MAX_DEPTH - max_depth extra brackets: its depth limit then falls at exactly max_depth.
    It cannot tell for text it refuses before the deep part (a number past a double's range).
    """
    if text.count("[") + text.count("{") <= max_depth:
        return False
    pad = MAX_DEPTH - max_depth
    # Without \\ and \u escapes (pairs of backslashes first, as JSON reads them) a lone
    # surrogate no longer stops orjson, and the brackets are unchanged.
    plain = text.replace("\\\\", "").replace("\\u", "u")
    try:
        orjson.loads("[" * pad + plain + "]" * pad)
    except orjson.JSONDecodeError as error:
        return True if str(error).startswith("depth limit exceeded") else None
    return False


def _depth_of(value: object, max_depth: int) -> int:
    """How deep a parsed value nests, counted up to max_depth + 1; no recursion."""
    deepest = 0
    level: list[object] = [value]
    while level and deepest <= max_depth:
        containers = [v for v in level if isinstance(v, list | dict)]
        if containers:
            deepest += 1
        level = [c for v in containers for c in (v.values() if isinstance(v, dict) else v)]
    return deepest


def _escape(match: re.Match[str]) -> str:
    """One character as JSON.stringify prints it; lone surrogates become \\udXXX escapes."""
    char = match.group()
    if len(char) == 2:
        return char.encode("utf-16-le", "surrogatepass").decode("utf-16-le")
    return _ESCAPES.get(char) or f"\\u{ord(char):04x}"


def _string_slow(value: str) -> str:
    """JSON.stringify of a string that orjson refused (it holds surrogates)."""
    return '"' + _ESCAPABLE.sub(_escape, value) + '"'


def string(value: str) -> str:
    """JSON.stringify(value) for a string."""
    try:
        return orjson.dumps(value).decode()
    except orjson.JSONEncodeError:
        return _string_slow(value)


def dumps(value: object) -> str:
    """JSON.stringify of our own frames: orjson, unless a string holds a lone surrogate."""
    try:
        return orjson.dumps(value).decode()
    except orjson.JSONEncodeError:
        return stringify(value)


def number(value: float) -> str:
    """Number.prototype.toString as JSON.stringify uses it (ECMA-262 Number::toString)."""
    if not math.isfinite(value):
        return "null"
    if value == 0:
        return "0"  # also -0
    sign = "-" if value < 0 else ""
    mantissa, _, exponent = repr(abs(value)).partition("e")  # repr is the shortest round-trip
    whole, _, fraction = mantissa.partition(".")
    digits = (whole + fraction).lstrip("0")
    point = len(whole) + int(exponent or 0) - (len(whole + fraction) - len(digits))
    digits = digits.rstrip("0")
    k = len(digits)
    if k <= point <= 21:
        return sign + digits + "0" * (point - k)
    if 0 < point <= 21:
        return sign + digits[:point] + "." + digits[point:]
    if -6 < point <= 0:
        return sign + "0." + "0" * -point + digits
    e = point - 1
    tail = "." + digits[1:] if k > 1 else ""
    return f"{sign}{digits[0]}{tail}e{'+' if e >= 0 else '-'}{abs(e)}"


def _is_array_index(key: str) -> bool:
    """Canonical decimal of an integer 0..2**32-2: JavaScript lists these keys first."""
    return (
        key.isascii() and key.isdigit() and (key == "0" or key[0] != "0") and int(key) < 2**32 - 1
    )


def _ordered_items(value: dict[str, object]) -> list[tuple[str, object]]:
    """Own property order of a JavaScript object built in this key order."""
    indexes = [key for key in value if _is_array_index(key)]
    if not indexes:
        return list(value.items())
    indexes.sort(key=int)
    return [(k, value[k]) for k in indexes] + [(k, v) for k, v in value.items() if k not in indexes]


def _scalar_text(value: object) -> str:
    """JSON.stringify of a non-container parsed value."""
    if value is None:
        return "null"
    if value is True:
        return "true"
    if value is False:
        return "false"
    if isinstance(value, str):
        return string(value)
    if isinstance(value, int):
        try:
            return number(float(value))
        except OverflowError:
            return "null"  # beyond a double: Infinity in JavaScript
    if isinstance(value, float):
        return number(value)
    raise TypeError(f"not a JSON value: {type(value).__name__}")


def stringify(value: object) -> str:
    """JSON.stringify of any value JSON.parse can return; no recursion, so no depth limit."""
    parts: list[str] = []
    # Each entry: (iterator over the container's items, is_object, whether an item was written)
    stack: list[tuple[object, bool, list[bool]]] = []
    pending: object = value
    while True:
        if isinstance(pending, dict):
            parts.append("{")
            stack.append((iter(_ordered_items(pending)), True, [False]))
        elif isinstance(pending, list):
            parts.append("[")
            stack.append((iter(pending), False, [False]))
        else:
            parts.append(_scalar_text(pending))
        while stack:
            items, is_object, written = stack[-1]
            item = next(items, _END)  # type: ignore[call-overload]
            if item is _END:
                stack.pop()
                parts.append("}" if is_object else "]")
                continue
            if written[0]:
                parts.append(",")
            written[0] = True
            if is_object:
                key, pending = item
                parts.append(string(key) + ":")
            else:
                pending = item
            break
        else:
            return "".join(parts)


_END = object()
