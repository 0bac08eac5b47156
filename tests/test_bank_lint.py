"""The bank lint (`lint_quiz`) and its thresholds, on small banks and on the shipped one."""

from __future__ import annotations

from pathlib import Path

import pytest
import yaml
from django.conf import settings
from django.core.management import CommandError, call_command

from courseware.modules import module_parse
from courseware.yamlspec import SpecError
from quizzes.banklint import bank_lint, bank_module_from_spec, link_allowed
from quizzes.loading import quiz_parse

MODULE_FILE = "fixtures/modules/st2-websockets.yaml"
BANK = "fixtures/quizzes/st2-websockets.yaml"
ROOT = Path(settings.BASE_DIR)
MODULE = bank_module_from_spec(module_parse(MODULE_FILE))
OBJECTIVES = list(MODULE.objectives)


def question(
    n: int, *, correct: int = 1, options: int = 4, longest_key: bool = False, **extra
) -> dict:
    """A question with `correct` of `options` options right; distractors are the longer ones."""
    multiple = extra.pop("multiple", correct != 1)
    texts = [f"option {i} of question {n}" for i in range(options)]
    if longest_key:
        texts[0] += " with extra words"
    else:
        texts[-1] += " with extra words"
    return {
        "key": f"q{n}",
        "kind": "multiple" if multiple else "single",
        "objective": OBJECTIVES[n % len(OBJECTIVES)],
        "text": f"Question {n}?",
        "options": [{"text": t, "correct": i < correct} for i, t in enumerate(texts)],
        "explanation": "Because.",
        "source": "https://developer.mozilla.org/en-US/docs/Web/API/WebSocket",
        **extra,
    }


def bank(tmp_path: Path, questions: list[dict]) -> Path:
    path = tmp_path / "bank.yaml"
    document = {
        "slug": "small-bank",
        "title": "Small bank",
        "module": "st2-websockets",
        "settings": {"questions_per_attempt": 1},
        "questions": questions,
    }
    path.write_text(yaml.safe_dump(document, sort_keys=False))
    return path


def balanced() -> list[dict]:
    """Passes every cue threshold: three answer-count patterns, one longest key in four."""
    multiple = [
        question(0, correct=1, multiple=True),
        question(1, correct=2),
        question(2, correct=3),
    ]
    single = [question(3 + i, longest_key=i == 0) for i in range(4)]
    return multiple + single


def failures(tmp_path: Path, questions: list[dict], **limits: int) -> list[str]:
    spec = quiz_parse(bank(tmp_path, questions), database=False)
    limits = {"min_questions": 1, "min_per_objective": 1, **limits}
    return bank_lint(spec, module=MODULE, root=ROOT, **limits).failures


def test_a_balanced_bank_passes(tmp_path):
    """No pattern over 35%, keys longest in 25%, every objective covered: no failure."""
    assert failures(tmp_path, balanced()) == []


def test_it_fails_when_one_answer_count_pattern_covers_over_35_percent(tmp_path):
    """Two of four multiple-choice questions being "2 of 4" is 50%, over the limit."""
    questions = [*balanced(), question(7, correct=2)]
    assert failures(tmp_path, questions) == [
        "2 correct of 4 options in 50% of multiple-choice questions (at most 35%)"
    ]


def test_it_fails_when_an_option_count_always_has_the_same_correct_count(tmp_path):
    """Five-option questions that are all "2 correct" teach a rule, whatever their share."""
    multiple = [question(n, correct=c) for n, c in enumerate([1, 2, 3, 4], start=10)]
    multiple[0]["kind"] = "multiple"
    five = [question(n, correct=2, options=5) for n in (20, 21)]
    assert failures(tmp_path, balanced()[3:] + multiple + five) == [
        "all 2 multiple-choice questions with 5 options have exactly 2 correct: vary it"
    ]


def test_one_question_alone_is_not_a_fixed_correct_count(tmp_path):
    """A single six-option question cannot show a pattern, so it does not fail the rule."""
    assert failures(tmp_path, [*balanced(), question(8, correct=2, options=6)]) == []


def test_it_fails_when_the_key_is_the_longest_option_in_over_30_percent(tmp_path):
    """Two of four single-choice keys being the longest option is 50%."""
    questions = balanced()
    questions[4] = question(4, longest_key=True)
    (failure,) = failures(tmp_path, questions)
    assert failure.startswith("the key is the longest option in 50% of single-choice questions")
    assert failure.endswith(": q3, q4")


def test_it_fails_below_100_questions_and_18_per_objective(tmp_path):
    """The documented minimums apply by default; an objective with no question counts too."""
    questions = balanced()
    questions[4]["objective"] = "principles"
    spec = quiz_parse(bank(tmp_path, questions), database=False)
    found = bank_lint(spec, module=MODULE, root=ROOT).failures
    assert found[0] == f"{len(questions)} questions (at least 100)"
    assert "objective 'chat' has 0 questions (at least 18)" in found
    assert len(found) == 1 + len(OBJECTIVES)


def test_it_fails_on_a_link_outside_the_allow_list(tmp_path):
    """A blog post as a source fails and is named with its question."""
    questions = balanced()
    questions[0]["source"] = "https://stackoverflow.com/questions/1"
    assert failures(tmp_path, questions) == [
        "q0: source https://stackoverflow.com/questions/1 is not allowed"
    ]


@pytest.mark.parametrize(
    ("url", "allowed"),
    [
        ("https://www.rfc-editor.org/rfc/rfc6455#section-7.4.1", True),
        ("https://websockets.spec.whatwg.org/#dom-websocket-close", True),
        ("https://developer.mozilla.org/en-US/docs/Web/API/WebSocket/close", True),
        ("https://javascript.info/websocket", True),
        (
            "https://cheatsheetseries.owasp.org/cheatsheets/WebSocket_Security_Cheat_Sheet.html",
            True,
        ),
        ("https://github.com/rolling-scopes-school/fun-chat-server/blob/main/README.md", True),
        ("/modules/st2-websockets/", True),
        ("https://web.dev/articles/websockets-basics#polling", True),  # a module resource
        ("https://github.com/rolling-scopes-school/fun-chat-server-fork", False),
        ("https://developer.mozilla.org.example.com/", False),
        ("http://developer.mozilla.org/en-US/docs/Web/API/WebSocket", False),
        ("https://stackoverflow.com/questions/1", False),
    ],
)
def test_the_allow_list_takes_primary_sources_and_the_modules_resources(url, allowed):
    """Sources and resources match as whole path prefixes, never as bare string prefixes."""
    assert link_allowed(url, MODULE.resources) is allowed


def test_a_proof_must_name_an_existing_test(tmp_path):
    """A proof naming a missing test function or file fails; an existing test passes."""
    questions = balanced()
    questions[0]["proof"] = (
        "tests/test_bank_browser_closing.py::test_close_without_arguments_reports_1005"
    )
    questions[1]["proof"] = ["tests/test_bank_browser_closing.py::test_it_does_not_exist"]
    questions[2]["proof"] = "tests/test_nowhere.py::test_x"
    found = failures(tmp_path, questions)
    assert found[0] == (
        "q1: proof 'tests/test_bank_browser_closing.py::test_it_does_not_exist': "
        "tests/test_bank_browser_closing.py has no function test_it_does_not_exist"
    )
    assert found[1].startswith("q2: proof 'tests/test_nowhere.py::test_x': cannot read")
    assert len(found) == 2


@pytest.mark.parametrize("proof", ["test_x", "tests/a.py", "tests/../a.py::test_x", 7])
def test_a_malformed_proof_is_a_schema_error_with_its_line(tmp_path, proof):
    """`proof:` takes `tests/<file>.py::test_<name>` (or a list of them), nothing else."""
    questions = balanced()
    questions[2]["proof"] = proof
    path = bank(tmp_path, questions)
    with pytest.raises(SpecError) as caught:
        quiz_parse(path, database=False)
    (problem,) = caught.value.problems
    assert problem.field.startswith("questions[2].proof")
    assert path.read_text().splitlines()[problem.line - 1].strip().startswith("proof:")


def test_lint_quiz_prints_its_figures_and_exits_non_zero_past_a_threshold(db, tmp_path, capsys):
    """The command shows every figure, then fails naming the bank."""
    path = bank(tmp_path, balanced())
    limits = ["--min-questions", "7", "--min-per-objective", "1"]
    call_command("lint_quiz", str(path), "--modules", MODULE_FILE, *limits)
    out = capsys.readouterr().out
    assert "multiple choice, correct of options: 1 of 4: 1 (33%)" in out
    assert "key is the longest option: 1 of 4 single-choice (25%)" in out
    assert out.rstrip().endswith("Lint passed: 1 bank(s).")
    with pytest.raises(CommandError, match="Over the lint's thresholds: small-bank"):
        call_command("lint_quiz", str(path), "--modules", MODULE_FILE)
    assert "FAIL: 7 questions (at least 100)" in capsys.readouterr().out


@pytest.mark.skipif(not Path(BANK).exists(), reason="no shipped bank")
def test_the_shipped_bank_passes_the_lint():
    """fixtures/quizzes/st2-websockets.yaml meets every documented threshold."""
    spec = quiz_parse(BANK, modules={"st2-websockets": OBJECTIVES}, database=False)
    report = bank_lint(spec, module=MODULE, root=ROOT)
    assert report.failures == [], str(report)


@pytest.mark.skipif(not Path(BANK).exists(), reason="no shipped bank")
def test_at_least_30_questions_of_the_shipped_bank_are_proven_in_the_browser():
    """Thirty or more questions name a browser test, and every named test exists."""
    spec = quiz_parse(BANK, database=False)
    proved = [q for q in spec.questions if q.proof]
    assert len(proved) >= 30, f"{len(proved)} questions carry a proof"
    for q in proved:
        for proof in q.proof:
            path, name = proof.split("::")
            assert f"\ndef {name}(" in (ROOT / path).read_text(), proof
