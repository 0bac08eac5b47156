"""Loading tests from YAML: each kind of bad file, idempotent reloads, versions, round trips."""

from __future__ import annotations

from datetime import UTC, datetime
from pathlib import Path

import pytest
from django.core.management import CommandError, call_command
from django.db import connection
from django.test.utils import CaptureQueriesContext

from courseware.yamlspec import SpecError
from quizzes.attempts import attempt_start
from quizzes.exporting import quiz_dump
from quizzes.loading import quiz_parse, quizzes_load
from quizzes.models import Option, Question, QuestionVersion, Quiz

DEMO = Path("tests/quiz-demo.yaml")
GOOD = DEMO.read_text()


def write(tmp_path, text: str, name: str = "quiz.yaml") -> Path:
    path = tmp_path / name
    path.write_text(text)
    return path


def line_of(text: str, needle: str, nth: int = 1) -> int:
    """1-based line of the nth line containing `needle`."""
    hits = [i for i, line in enumerate(text.splitlines(), start=1) if needle in line]
    return hits[nth - 1]


def snapshot() -> tuple:
    return (
        list(Quiz.objects.values_list()),
        list(Question.objects.order_by("id").values_list()),
        list(QuestionVersion.objects.order_by("id").values_list()),
        list(Option.objects.order_by("id").values_list()),
    )


@pytest.fixture
def loaded(module) -> Quiz:
    quizzes_load([DEMO])
    return Quiz.objects.get(slug="demo-quiz")


def replace(old: str, new: str, count: int = 1) -> str:
    assert old in GOOD, old
    return GOOD.replace(old, new, count)


BAD = [
    # (id, text, needle of the expected line, field, message)
    (
        "unknown-key",
        replace("    kind: single\n", "    kind: single\n    colour: red\n"),
        "colour: red",
        "questions[0].colour",
        "Extra inputs are not permitted",
    ),
    (
        "unknown-setting",
        replace("  max_score: 10\n", "  max_score: 10\n  shuffle: true\n"),
        "shuffle: true",
        "settings.shuffle",
        "Extra inputs are not permitted",
    ),
    (
        "wrong-type",
        replace("max_attempts: 2", "max_attempts: two"),
        "max_attempts: two",
        "settings.max_attempts",
        "valid integer",
    ),
    (
        "wrong-type-bool",
        replace("strict_attempts: true", "strict_attempts: 'yes'"),
        "strict_attempts:",
        "settings.strict_attempts",
        "valid boolean",
    ),
    (
        "missing-field",
        replace("    explanation: The `wss` scheme runs the WebSocket protocol over TLS.\n", ""),
        "- key: ws-scheme",
        "questions[0].explanation",
        "Field required",
    ),
    (
        "blank-text",
        replace("text: Which URL scheme opens an encrypted WebSocket?", 'text: "   "'),
        'text: "   "',
        "questions[0].text",
        "must not be blank",
    ),
    (
        "duplicate-question-key",
        replace("- key: full-duplex", "- key: ws-scheme"),
        ("- key: ws-scheme", 2),
        "questions[2].key",
        "duplicate question key 'ws-scheme'",
    ),
    (
        "bad-key",
        replace("- key: full-duplex", "- key: Full_Duplex"),
        "Full_Duplex",
        "questions[2].key",
        "should match pattern",
    ),
    (
        "single-with-two-correct",
        replace('      - text: "`ws://`"\n', '      - text: "`ws://`"\n        correct: true\n'),
        ("options:", 1),
        "questions[0].options",
        "exactly one correct option, not 2",
    ),
    (
        "single-with-none-correct",
        replace('      - text: "`wss://`"\n        correct: true\n', '      - text: "`wss://`"\n'),
        ("options:", 1),
        "questions[0].options",
        "exactly one correct option, not 0",
    ),
    (
        "multiple-with-none-correct",
        replace(
            "      - text: Traffic is encrypted.\n        correct: true\n"
            "      - text: Proxies are less likely to break the connection.\n"
            "        correct: true\n",
            "      - text: Traffic is encrypted.\n"
            "      - text: Proxies are less likely to break the connection.\n",
        ),
        ("options:", 8),
        "questions[7].options",
        "needs a correct option",
    ),
    (
        "too-few-options",
        replace('      - text: "`https://`"\n', ""),
        ("options:", 1),
        "questions[0].options",
        "at least 3 items",
    ),
    (
        "same-option-twice",
        replace('      - text: "`https://`"\n', '      - text: "`ws://`"\n'),
        ('- text: "`ws://`"', 2),
        "questions[0].options[2].text",
        "the same option text appears twice",
    ),
    (
        "undefined-objective",
        replace("objective: chat", "objective: routing"),
        "objective: routing",
        "questions[5].objective",
        "module 'st2-websockets' has no objective 'routing'",
    ),
    (
        "unknown-module",
        replace("module: st2-websockets", "module: st9-graphql"),
        "module: st9-graphql",
        "module",
        "unknown module 'st9-graphql'",
    ),
    (
        "unknown-kind",
        replace("kind: single", "kind: essay"),
        "kind: essay",
        "questions[0].kind",
        "Input should be 'single' or 'multiple'",
    ),
    (
        "bad-source",
        replace(
            "source: https://developer.mozilla.org/en-US/docs/Web/API/WebSocket/WebSocket",
            "source: javascript:alert(1)",
        ),
        "javascript:alert",
        "questions[0].source",
        "should match pattern",
    ),
    (
        "threshold-over-100",
        replace("threshold_percent: 50", "threshold_percent: 150"),
        "threshold_percent",
        "settings.threshold_percent",
        "less than or equal to 100",
    ),
    (
        "naive-date",
        replace("opens_at: null", "opens_at: 2026-12-01T09:00:00"),
        "opens_at",
        "settings.opens_at",
        "timezone info",
    ),
    (
        "closes-before-opens",
        replace(
            "opens_at: null\n  closes_at: null",
            "opens_at: 2026-12-02T00:00:00+03:00\n  closes_at: 2026-12-01T00:00:00+03:00",
        ),
        "closes_at",
        "settings.closes_at",
        "must be later than opens_at",
    ),
    (
        "pool-smaller-than-draw",
        replace("questions_per_attempt: 4", "questions_per_attempt: 9"),
        "questions_per_attempt",
        "settings.questions_per_attempt",
        "draws 9 questions but the file has only 8",
    ),
    (
        "yaml-duplicate-mapping-key",
        replace("  max_score: 10\n", "  max_score: 10\n  max_score: 20\n"),
        "max_score: 20",
        "settings.max_score",
        "duplicate key",
    ),
    (
        "yaml-syntax",
        replace("title: Demo quiz", "title: [Demo quiz"),
        # PyYAML notices the unclosed bracket on the next line.
        "module: st2-websockets",
        "",
        "invalid YAML",
    ),
]


@pytest.mark.parametrize(
    ("text", "needle", "field", "message"),
    [case[1:] for case in BAD],
    ids=[case[0] for case in BAD],
)
def test_a_bad_file_names_file_line_and_field_and_changes_nothing(
    tmp_path, loaded, text, needle, field, message
):
    # The good file changes something too, so a partial load would show.
    good = write(tmp_path, GOOD.replace("title: Demo quiz", "title: Demo quiz 2"), "good.yaml")
    bad = write(tmp_path, text)
    before = snapshot()
    with pytest.raises(SpecError) as caught:
        quizzes_load([good, bad])
    problems = [p for p in caught.value.problems if p.field == field]
    assert problems, caught.value
    problem = problems[0]
    assert problem.path == str(bad)
    assert message in problem.message
    needle, nth = needle if isinstance(needle, tuple) else (needle, 1)
    assert problem.line == line_of(text, needle, nth)
    assert snapshot() == before


def test_the_command_reports_every_problem_and_loads_nothing(tmp_path, module):
    text = replace("max_attempts: 2", "max_attempts: 0").replace("kind: multiple", "kind: many")
    bad = write(tmp_path, text)
    with pytest.raises(CommandError) as caught:
        call_command("load_quiz", str(DEMO), str(bad), verbosity=0)
    report = str(caught.value)
    assert "4 problem(s), nothing loaded" in report  # max_attempts and 3 kinds
    at = line_of(text, "max_attempts")
    assert f"{bad}:{at}: settings.max_attempts: Input should be greater than or equal to 1" in (
        report
    )
    at = line_of(text, "kind: many")
    assert f"{bad}:{at}: questions[1].kind: Input should be 'single' or 'multiple'" in report
    assert not Quiz.objects.exists()


def test_the_same_slug_in_two_files_is_an_error(tmp_path, module):
    copy = write(tmp_path, GOOD)
    with pytest.raises(SpecError, match=r"test 'demo-quiz' is also in tests/quiz-demo\.yaml"):
        quizzes_load([DEMO, copy])
    assert not Quiz.objects.exists()


def test_check_only_validates(module, capsys):
    call_command("load_quiz", "--check", str(DEMO))
    assert "Valid: 1 test(s): demo-quiz" in capsys.readouterr().out
    assert not Quiz.objects.exists()


def test_a_first_load_creates_everything(loaded, capsys):
    assert loaded.title == "Demo quiz"
    assert (loaded.max_attempts, loaded.questions_per_attempt, loaded.max_score) == (2, 4, 10)
    assert loaded.review_when == "after_submit" and loaded.review_show_explanations
    keys = list(loaded.questions.values_list("key", flat=True))
    assert keys[:2] == ["ws-scheme", "ready-states"] and len(keys) == 8
    ready = Question.objects.get(key="ready-states").current
    assert ready.kind == "multiple" and ready.objective.key == "connect"
    assert ready.text.startswith("Which of these are values") and "```js" in ready.text
    assert list(ready.options.values_list("text", "correct")) == [
        ("`CONNECTING`", True),
        ("`OPEN`", True),
        ("`WAITING`", False),
        ("`CLOSED`", True),
    ]


def test_loading_unchanged_yaml_again_writes_nothing(loaded, capsys):
    before = snapshot()
    with CaptureQueriesContext(connection) as queries:
        call_command("load_quiz", str(DEMO))
    assert "Loaded demo-quiz: test unchanged" in capsys.readouterr().out
    writes = [
        q["sql"] for q in queries if q["sql"].split()[0].upper() in {"INSERT", "UPDATE", "DELETE"}
    ]
    assert writes == []
    assert snapshot() == before


def test_changed_settings_update_the_test_and_its_timestamp(tmp_path, loaded):
    stamp = loaded.updated_at
    changes = quizzes_load(
        [write(tmp_path, replace("threshold_percent: 50", "threshold_percent: 60"))]
    )
    assert str(changes[0]) == "demo-quiz: test updated"
    loaded.refresh_from_db()
    assert loaded.threshold_percent == 60 and loaded.updated_at > stamp


def test_an_unused_question_is_edited_in_place_and_a_used_one_gets_a_version(
    tmp_path, loaded, student
):
    edited = replace("Which URL scheme opens", "Which scheme opens")
    scheme = Question.objects.get(key="ws-scheme")
    first = scheme.current_id
    assert (
        str(quizzes_load([write(tmp_path, edited)])[0])
        == "demo-quiz: test unchanged, 1 question(s) edited"
    )
    scheme.refresh_from_db()
    assert scheme.current_id == first and scheme.versions.count() == 1
    assert scheme.current.text == "Which scheme opens an encrypted WebSocket?"

    # Every question is drawn once the pool equals the draw.
    Question.objects.exclude(
        key__in=["ws-scheme", "ready-states", "full-duplex", "send-json"]
    ).update(is_active=False)
    attempt_start(quiz=loaded, user=student)
    quizzes_load([DEMO])  # reactivates the others too
    scheme.refresh_from_db()
    assert scheme.versions.count() == 2 and scheme.current.number == 2
    assert scheme.current.text == "Which URL scheme opens an encrypted WebSocket?"
    old = scheme.versions.get(number=1)
    assert old.text == "Which scheme opens an encrypted WebSocket?"
    assert old.attempt_questions.count() == 1
    assert Question.objects.filter(is_active=False).count() == 0


def test_a_question_removed_from_the_file_becomes_inactive_and_comes_back(tmp_path, loaded):
    start = GOOD.index("  - key: close-code")
    end = GOOD.index("  - key: wss-why")
    without = GOOD[:start] + GOOD[end:]
    changes = quizzes_load([write(tmp_path, without)])
    assert changes[0].counts["deactivated"] == 1
    gone = Question.objects.get(key="close-code")
    assert not gone.is_active and gone.current is not None
    assert loaded.active_questions().count() == 7
    quizzes_load([DEMO])
    gone.refresh_from_db()
    assert gone.is_active


FANCY = replace(
    "opens_at: null\n  closes_at: null\n  time_limit_minutes: null\n  counting_attempt: last",
    "opens_at: 2026-12-01T09:00:00+03:00\n  closes_at: '2026-12-20T23:59:00+00:00'\n"
    "  time_limit_minutes: 25\n  counting_attempt: best",
).replace(
    'text: What does "full duplex" mean for a WebSocket?',
    "text: \"Tricky: # not a comment, 'quotes', trailing space \"",
)


def test_dump_loads_back_to_the_same_content(tmp_path, module, capsys):
    source = write(tmp_path, FANCY, "fancy.yaml")
    quizzes_load([source])
    before = snapshot()
    out = tmp_path / "dumped.yaml"
    call_command("dump_quiz", "demo-quiz", "-o", str(out))
    assert quiz_parse(out) == quiz_parse(source)
    with CaptureQueriesContext(connection) as queries:
        changes = quizzes_load([out])
    assert str(changes[0]) == "demo-quiz: test unchanged"
    assert not [q for q in queries if q["sql"].startswith(("INSERT", "UPDATE", "DELETE"))]
    assert snapshot() == before
    quiz = Quiz.objects.get()
    assert quiz.opens_at == datetime(2026, 12, 1, 6, 0, tzinfo=UTC)
    # Markdown with code blocks stays a readable block in the dump.
    dumped = out.read_text()
    assert "  text: |\n      Which of these are values of `WebSocket.readyState`?" in dumped
    call_command("dump_quiz", "demo-quiz")
    assert capsys.readouterr().out == dumped


def test_the_dump_leaves_out_inactive_questions(loaded):
    Question.objects.filter(key="close-code").update(is_active=False)
    assert "close-code" not in quiz_dump(loaded)
    assert "ws-scheme" in quiz_dump(loaded)


def test_dumping_an_unknown_test_names_the_known_ones(loaded):
    with pytest.raises(CommandError, match=r"No test 'nope' \(tests: demo-quiz\)"):
        call_command("dump_quiz", "nope")


def test_settings_left_out_take_rs_app_defaults(tmp_path, module):
    start = GOOD.index("settings:")
    end = GOOD.index("\nquestions:\n")
    minimal = GOOD[:start] + "settings:\n  questions_per_attempt: 4\n" + GOOD[end + 1 :]
    quizzes_load([write(tmp_path, minimal)])
    quiz = Quiz.objects.get()
    assert (quiz.max_attempts, quiz.threshold_percent, quiz.strict_attempts) == (3, 70, True)
    assert (quiz.cooldown_hours, quiz.max_score, quiz.counting_attempt) == (1, 100, "last")
    assert (quiz.time_limit_minutes, quiz.opens_at, quiz.closes_at) == (None, None, None)
    assert (quiz.review_when, quiz.review_questions) == ("after_close", "wrong")
    assert not quiz.review_show_key and not quiz.review_show_explanations


def test_the_full_example_in_the_docs_loads(tmp_path, module):
    docs = Path("docs/quiz-format.md").read_text()
    example = docs.split("````yaml\n", 1)[1].split("````", 1)[0]
    spec = quiz_parse(write(tmp_path, example, "example.yaml"))
    assert {q.kind for q in spec.questions} == {"single", "multiple"}
    assert spec.settings.opens_at is not None and spec.settings.time_limit_minutes == 30
    assert "```js" in spec.questions[1].text
