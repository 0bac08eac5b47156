"""Masking passwords in frames before they are logged.

The reference logs USER_LOGIN and USER_LOGOUT frames with the password in clear text (§1);
we do not. The frame is scanned as JSON tokens rather than parsed, so malformed and truncated
frames are masked too and everything else of the text is kept as the client sent it.
"""

from __future__ import annotations

import json
import re

from chat import jscodec

__all__ = ["redact"]

MASK = '"***"'
UNLOGGABLE = "<frame not logged: it could not be redacted>"
# A string (possibly unterminated), punctuation, whitespace, a bare word, or any other char:
# the tokens always add up to the whole text.
_TOKEN = re.compile(r'"(?:[^"\\]|\\.)*(?:"|\\?\Z)|[{}\[\],:]|\s+|[^\s{}\[\],:"]+|.', re.S)
_OPENERS = {"{": "}", "[": "]"}


def _is_password_key(token: str) -> bool:
    """Whether a string token spells "password", escapes included."""
    try:
        value: object = json.loads(token)
        return value == "password"
    except ValueError:
        return token[1:].rstrip('"') == "password"


def _value_end(tokens: list[str], i: int) -> int:
    """The index just past the JSON value starting at tokens[i] (a container is balanced)."""
    if i >= len(tokens) or tokens[i] in ",:}]":
        return i  # no value to mask
    if tokens[i] not in _OPENERS:
        return i + 1
    depth = 0
    for j in range(i, len(tokens)):
        if tokens[j] in _OPENERS:
            depth += 1
        elif tokens[j] in "}]":
            depth -= 1
            if depth == 0:
                return j + 1
    return len(tokens)  # unterminated: mask to the end


def _skip_space(tokens: list[str], i: int) -> int:
    """The index of the next non-whitespace token."""
    while i < len(tokens) and tokens[i].isspace():
        i += 1
    return i


def redact(frame_text: str | bytes) -> str:
    """The frame with the value of every "password" key replaced by "***"; never raises."""
    try:
        text = jscodec.text_of(frame_text)
        if "password" not in text and "\\u" not in text:
            return text  # the common case: nothing that could spell the key
        tokens = _TOKEN.findall(text)
        out: list[str] = []
        i = 0
        while i < len(tokens):
            token = tokens[i]
            out.append(token)
            i += 1
            if not (token.startswith('"') and _is_password_key(token)):
                continue
            colon = _skip_space(tokens, i)
            if colon >= len(tokens) or tokens[colon] != ":":
                continue  # a string value "password", not a key
            start = _skip_space(tokens, colon + 1)
            end = _value_end(tokens, start)
            out.extend(tokens[i:start])
            if end > start:
                out.append(MASK)
            i = end
        return "".join(out)
    except Exception:  # a logging helper must never take the server down
        return UNLOGGABLE
