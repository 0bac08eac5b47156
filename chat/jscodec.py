"""JSON exactly as the reference's JavaScript parses and prints it (JSON.parse, JSON.stringify).

Clients get back what they sent (ids, logins, texts), so our text must be byte-identical to
what Node would print for the same input. Measured differences, and what we do about them:

- Lone surrogates (`"\\ud800"` is valid JSON): JSON.stringify prints them as lowercase
  `\\udXXX` escapes; orjson refuses them and json would emit unencodable text. We escape.
- Numbers are IEEE doubles in JavaScript: `12345678901234567890` prints `12345678901234567000`,
  `-0` prints `0`, `1e400` is Infinity and prints `null`, `1e21` prints `1e+21`.
- JavaScript objects list array-index keys ("0".."4294967294") first, ascending.
- JSON.parse has no nesting limit; orjson stops at 1024 levels and json at the recursion limit.
- Everything else (escapes, U+2028, U+007F, non-ASCII raw) orjson prints exactly like
  JSON.stringify: checked for every BMP code point against Node 20.

orjson does the common case (about 4x faster than json here); the rest falls back.
"""

from __future__ import annotations

import json
import math
import re
from collections.abc import Callable
from json.decoder import scanstring as _scanstring  # type: ignore[attr-defined]

import orjson

__all__ = ["InvalidJSON", "dumps", "loads", "loads_exact", "string", "stringify", "text_of"]


class InvalidJSON(ValueError):
    """JSON.parse would throw a SyntaxError for this text."""


def _reject_constant(name: str) -> float:
    """NaN and Infinity are not JSON; json accepts them, JSON.parse does not."""
    raise InvalidJSON(name)


# Every number becomes a float, as in JavaScript. It also keeps json from calling int() on a
# 5000-digit literal, which raises ValueError past Python's int digit limit.
_EXACT = json.JSONDecoder(parse_int=float, parse_constant=_reject_constant)
_WS = re.compile(r"[ \t\n\r]*")
# json's own string scanner (C when available), which typeshed does not declare.
scanstring: Callable[[str, int, bool], tuple[str, int]] = _scanstring
_NUMBER = re.compile(r"-?(?:0|[1-9][0-9]*)(?:\.[0-9]+)?(?:[eE][-+]?[0-9]+)?")
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


def loads(text: str) -> object:
    """JSON.parse's accept/reject decision; numbers may come back as int (see loads_exact)."""
    try:
        return orjson.loads(text)
    except orjson.JSONDecodeError:
        # orjson also refuses what JSON.parse accepts: lone surrogates, 1e400, deep nesting.
        return loads_exact(text)


def loads_exact(text: str) -> object:
    """JSON.parse, with every number a float as in JavaScript."""
    try:
        return _EXACT.decode(text)
    except RecursionError:
        return _loads_deep(text)
    except ValueError as error:  # JSONDecodeError and _reject_constant
        raise InvalidJSON(str(error)) from None


def _skip_ws(text: str, i: int) -> int:
    """The index of the first character at or after i that is not JSON whitespace."""
    match = _WS.match(text, i)
    return match.end() if match else i  # the pattern matches the empty string: never None


def _key(text: str, i: int) -> tuple[str, int]:
    """An object key and its colon; returns the index of the value."""
    if not text.startswith('"', i):
        raise InvalidJSON(f"expected a key at {i}")
    key, i = scanstring(text, i + 1, True)
    i = _skip_ws(text, i)
    if not text.startswith(":", i):
        raise InvalidJSON(f"expected ':' at {i}")
    return key, _skip_ws(text, i + 1)


def _scalar(text: str, i: int) -> tuple[object, int]:
    """A string, number or literal starting at i."""
    if text.startswith('"', i):
        return scanstring(text, i + 1, True)
    number = _NUMBER.match(text, i)
    if number:
        return float(number.group()), number.end()
    for literal, value in (("true", True), ("false", False), ("null", None)):
        if text.startswith(literal, i):
            return value, i + len(literal)
    raise InvalidJSON(f"unexpected character at {i}")


def _loads_deep(text: str) -> object:
    """JSON.parse without recursion, for documents nested deeper than json allows."""
    stack: list[list[object] | dict[str, object]] = []
    keys: list[str] = []
    i = _skip_ws(text, 0)
    try:
        while True:
            opener = text[i : i + 1]
            if opener in ("{", "["):
                i = _skip_ws(text, i + 1)
                if text.startswith("}" if opener == "{" else "]", i):
                    value: object = {} if opener == "{" else []
                    i += 1
                else:
                    stack.append({} if opener == "{" else [])
                    if opener == "{":
                        key, i = _key(text, i)
                        keys.append(key)
                    continue
            else:
                value, i = _scalar(text, i)
            while True:  # attach the finished value, closing containers as they end
                i = _skip_ws(text, i)
                if not stack:
                    if i != len(text):
                        raise InvalidJSON(f"extra data at {i}")
                    return value
                top = stack[-1]
                if isinstance(top, list):
                    top.append(value)
                else:
                    top[keys[-1]] = value
                if text.startswith(",", i):
                    i = _skip_ws(text, i + 1)
                    if isinstance(top, dict):
                        keys[-1], i = _key(text, i)
                    break
                if not text.startswith("]" if isinstance(top, list) else "}", i):
                    raise InvalidJSON(f"expected ',' or a closing bracket at {i}")
                i += 1
                value = stack.pop()
                if isinstance(value, dict):
                    keys.pop()
    except ValueError as error:  # scanstring's JSONDecodeError
        raise InvalidJSON(str(error)) from None


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
