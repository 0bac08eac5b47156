"""Hostile or broken YAML gets a `file:line: message` and no traceback, on any database."""

from __future__ import annotations

import os
import re
import subprocess
import sys
from pathlib import Path

import pytest
import yaml
from django.core.management import CommandError, call_command

from courseware.models import Module
from courseware.yamlspec import MAX_BYTES, MAX_DEPTH
from quizzes.models import Quiz

DEMO = Path("tests/quiz-demo.yaml").read_text()
MODULE = Path("fixtures/modules/st2-websockets.yaml").read_text()
# Nine levels of nine aliases: 9**9 (387 million) strings once expanded, from 400 bytes.
BOMB = 'a: &a ["lol","lol","lol","lol","lol","lol","lol","lol","lol"]\n' + "".join(
    f"{b}: &{b} [{','.join([f'*{a}'] * 9)}]\n" for a, b in zip("abcdefgh", "bcdefghi", strict=True)
)
MEMORY_LIMIT = 1536 * 1024 * 1024
# The child caps its own address space, runs the command, and reports its peak RSS.
CHILD = """
import resource, sys
resource.setrlimit(resource.RLIMIT_AS, (int(sys.argv[1]), int(sys.argv[1])))
try:
    from django.core.management import execute_from_command_line
    execute_from_command_line(["manage.py", *sys.argv[2:]])
finally:
    print(f"peak-rss-kib={resource.getrusage(resource.RUSAGE_SELF).ru_maxrss}", file=sys.stderr)
"""


def with_line(text: str, number: int, line: str) -> str:
    """`text` with its line `number` (1-based) replaced by `line`."""
    lines = text.splitlines(keepends=True)
    lines[number - 1] = line + "\n"
    return "".join(lines)


def leaves(node: yaml.Node, memo: dict[int, int]) -> int:
    """How many scalars `node` expands to; aliased nodes are shared, so count each once."""
    if isinstance(node, yaml.ScalarNode):
        return 1
    if id(node) not in memo:
        children = (
            [v for pair in node.value for v in pair]
            if isinstance(node, yaml.MappingNode)
            else node.value
        )
        memo[id(node)] = sum(leaves(child, memo) for child in children)
    return memo[id(node)]


def test_the_bomb_is_400_bytes_that_expand_to_hundreds_of_millions_of_strings():
    """The fixture is the issue's bomb: plain PyYAML composes it into a 387-million-leaf tree."""
    assert len(BOMB.encode()) <= 400
    assert leaves(yaml.compose(BOMB), {}) > 9**9


@pytest.mark.django_db
def test_an_alias_bomb_is_refused_in_bounded_memory(tmp_path):
    """load_quiz names the alias line and exits cleanly within 1.5 GB of address space."""
    bomb = tmp_path / "bomb.yaml"
    bomb.write_text(BOMB)
    env = {**os.environ, "DJANGO_SETTINGS_MODULE": "courseware.settings"}
    command = [
        "load_quiz",
        "--check",
        str(bomb),
        "--modules",
        "fixtures/modules/st2-websockets.yaml",
    ]
    done = subprocess.run(
        [sys.executable, "-c", CHILD, str(MEMORY_LIMIT), *command],
        capture_output=True,
        text=True,
        timeout=120,
        env=env,
        check=False,
    )
    assert done.returncode == 1, done.stderr
    assert f"{bomb}:2: invalid YAML: aliases (*name) are not allowed" in done.stderr
    assert "Traceback" not in done.stderr
    peak = int(re.search(r"peak-rss-kib=(\d+)", done.stderr).group(1)) * 1024
    print(f"alias bomb: peak RSS {peak / 2**20:.0f} MiB")
    assert peak < MEMORY_LIMIT


HOSTILE_QUIZZES = [
    pytest.param(lambda: BOMB, 2, "aliases (*name) are not allowed", id="alias-bomb"),
    pytest.param(
        lambda: DEMO + "extra:\n" + "".join("  " * i + "- \n" for i in range(1, 200)),
        # "extra:" is level 1 (the document is level 0); level 21 is the first refused.
        len(DEMO.splitlines()) + MAX_DEPTH + 1,
        f"nested deeper than {MAX_DEPTH} levels",
        id="deep-block",
    ),
    pytest.param(
        lambda: DEMO.replace("title: Demo quiz", "title: " + "[" * 100_000 + "]" * 100_000),
        3,
        f"nested deeper than {MAX_DEPTH} levels",
        id="deep-flow",
    ),
    pytest.param(
        lambda: DEMO.replace("A short check", "A short\0 check"),
        6,
        "a NUL byte is not allowed",
        id="raw-nul",
    ),
    pytest.param(
        lambda: DEMO.replace("title: Demo quiz", 'title: "Demo\\0quiz"'),
        3,
        "title: a NUL byte is not allowed",
        id="escaped-nul",
    ),
    pytest.param(
        lambda: DEMO.replace("title: Demo quiz", 'title: "Demo\\x07quiz"'),
        3,
        "control character U+0007 is not allowed",
        id="escaped-bell",
    ),
    pytest.param(
        lambda: DEMO.replace("title: Demo quiz", 'title: "Demo\\ud800quiz"'),
        3,
        "control character U+D800 is not allowed",
        id="lone-surrogate",
    ),
    pytest.param(
        lambda: with_line(DEMO, 60, '    text: "What does full duplex mean for a WebSocket?'),
        60,
        "the quoted value that starts here runs on to line 72",
        id="unclosed-quote-on-line-60",
    ),
    pytest.param(
        # No double quote after line 60, so the open one runs to the end of the file.
        lambda: (
            "".join(DEMO.splitlines(keepends=True)[:59])
            + '    text: "What does full duplex mean\n'
            + "".join(DEMO.splitlines(keepends=True)[60:]).replace('"', "'")
        ),
        60,
        "invalid YAML: while scanning a quoted scalar that starts here",
        id="quote-left-open-to-the-end-on-line-60",
    ),
    pytest.param(
        lambda: with_line(DEMO, 60, "   text: What does full duplex mean for a WebSocket?"),
        60,
        "invalid YAML: expected <block end>",
        id="bad-indent-on-line-60",
    ),
    pytest.param(
        lambda: DEMO.replace("max_attempts: 2", "max_attempts: " + "9" * 5000),
        8,
        "cannot read this value",
        id="huge-integer",
    ),
    pytest.param(
        lambda: DEMO.replace("opens_at: null", "opens_at: 2026-02-30"),
        14,
        "cannot read this value: day is out of range",
        id="impossible-date",
    ),
    pytest.param(
        lambda: DEMO.replace("title: Demo quiz", "title: " + "x" * 201),
        3,
        "title: String should have at most 200 characters",
        id="title-longer-than-its-column",
    ),
    pytest.param(lambda: "# " + "x" * MAX_BYTES, 1, "the limit is", id="too-big"),
]


@pytest.mark.parametrize(("text", "line", "message"), HOSTILE_QUIZZES)
def test_a_hostile_quiz_file_gets_its_line_and_loads_nothing(tmp_path, module, text, line, message):
    """Each case is one clear problem at the line to fix; the database is not touched."""
    path = tmp_path / "quiz.yaml"
    path.write_text(text(), encoding="utf-8", errors="surrogatepass")
    with pytest.raises(CommandError) as raised:
        call_command("load_quiz", str(path))
    assert f"{path}:{line}: " in str(raised.value)
    assert message in str(raised.value)
    assert not Quiz.objects.exists()


def test_a_file_that_is_not_utf8_names_the_line_of_the_bad_byte(tmp_path, module):
    """A Latin-1 byte on line 3 is reported there, not as a decoding traceback."""
    path = tmp_path / "quiz.yaml"
    path.write_bytes(DEMO.replace("Demo quiz", "D\xe9mo quiz").encode("latin-1"))
    with pytest.raises(CommandError, match=rf"{path}:3: not UTF-8 text"):
        call_command("load_quiz", str(path))


def test_a_module_file_with_an_escaped_nul_names_its_line(tmp_path, db):
    """load_module shares the reader: the same checks, the same `file:line:` messages."""
    path = tmp_path / "module.yaml"
    path.write_text(MODULE.replace('title: "[Stage#2] WebSockets"', 'title: "Web\\0Sockets"'))
    with pytest.raises(CommandError, match=rf"{path}:4: title: a NUL byte is not allowed"):
        call_command("load_module", str(path))
    assert not Module.objects.exists()


def test_a_module_alias_is_refused_but_an_unused_anchor_is_harmless(tmp_path, db):
    """An anchor alone expands nothing; the alias that would reuse it is refused at its line."""
    path = tmp_path / "module.yaml"
    anchored = MODULE.replace("hours: 4", "hours: &h 4", 1)
    path.write_text(anchored.replace("position: 1", "position: *h", 1))
    with pytest.raises(CommandError, match=rf"{path}:9: invalid YAML: aliases"):
        call_command("load_module", str(path))
    path.write_text(anchored)
    call_command("load_module", str(path), verbosity=0)
    assert Module.objects.get().hours == 4
