"""Admin edits survive loading, and export back into the bank file as a small git diff."""

from __future__ import annotations

import difflib
import io
from pathlib import Path

import pytest
from django.core.management import call_command

from courseware.yamlspec import SpecError
from quizzes.exporting import quiz_dump
from quizzes.loading import quizzes_load
from quizzes.models import Question, QuestionVersion, Quiz
from tests.adminkit import form_of

BANK = Path("fixtures/quizzes/st2-websockets.yaml")
KEPT = "kept admin edit of `{}`; use --force to take the file's text"


@pytest.fixture
def bank(module) -> Quiz:
    quizzes_load([BANK])
    return Quiz.objects.get(slug="st2-websockets")


@pytest.fixture
def editor(client, admin_user):
    client.force_login(admin_user)
    return client


def admin_edit(client, key: str, fields: dict[str, str | None]) -> Question:
    """Save the question's admin page with `fields` changed (None unticks), as a mentor would."""
    question = Question.objects.get(key=key)
    url = f"/admin/quizzes/question/{question.pk}/change/"
    data = form_of(client.get(url))
    for name, value in fields.items():
        if value is None:
            data.pop(name)
        else:
            data[name] = [value]
    response = client.post(url, data)
    assert response.status_code == 302, response.content.decode()[-3000:]
    question.refresh_from_db()
    return question


def load(*paths: Path, force: bool = False) -> str:
    out = io.StringIO()
    args = ["--force"] if force else []
    call_command("load_quiz", *map(str, paths), *args, stdout=out)
    return out.getvalue()


def changed_lines(before: str, after: str) -> list[str]:
    """The removed and added lines of a unified diff, without its headers."""
    diff = difflib.unified_diff(before.splitlines(), after.splitlines(), lineterm="", n=0)
    return [line for line in diff if line[:1] in "+-" and line[:3] not in ("---", "+++")]


STEM = "A server accepts a WebSocket opening handshake. Which status line does its HTTP\n"
EDITED = "A server accepts a WebSocket opening handshake. Which status line does its reply\n"


def edit_stem(client) -> Question:
    question = Question.objects.get(key="handshake-status-code")
    assert question.current.text.startswith(STEM)
    return admin_edit(
        client, "handshake-status-code", {"text": question.current.text.replace(STEM, EDITED)}
    )


def test_loading_keeps_a_stem_edited_in_the_admin_and_says_so(editor, bank):
    """The file's older wording does not overwrite the admin's; the load names the kept key."""
    question = edit_stem(editor)
    assert question.current.origin == QuestionVersion.Origin.ADMIN
    output = load(BANK)
    assert "st2-websockets: test unchanged, 1 admin edit(s) kept" in output
    assert KEPT.format("handshake-status-code") in output
    question.refresh_from_db()
    assert question.current.text.startswith(EDITED)
    assert question.versions.count() == 1


def test_force_takes_the_files_text_over_an_admin_edit(editor, bank):
    """--force restores the file's wording and marks the version as coming from the file."""
    edit_stem(editor)
    output = load(BANK, force=True)
    assert "kept" not in output
    question = Question.objects.get(key="handshake-status-code")
    assert question.current.text.startswith(STEM)
    assert question.current.origin == QuestionVersion.Origin.FILE


def test_other_questions_still_take_the_files_changes(editor, bank, tmp_path):
    """Only the admin-edited question is kept; the file's edit of another one loads."""
    edit_stem(editor)
    changed = tmp_path / "bank.yaml"
    changed.write_text(BANK.read_text().replace("every 2 seconds", "every 3 seconds"))
    output = load(changed)
    assert "1 question(s) edited, 1 admin edit(s) kept" in output
    polled = Question.objects.get(key="websocket-vs-polling-advantages")
    assert "every 3 seconds" in polled.current.text


def test_a_question_edited_in_the_admin_stays_active_when_the_file_lacks_it(editor, bank, tmp_path):
    """Absent from the file means deactivated, except for an admin's edit, which is kept."""
    edit_stem(editor)
    text = BANK.read_text()
    start = text.index("  - key: handshake-status-code")
    end = text.index("  - key: websocket-vs-polling-advantages")
    without = tmp_path / "bank.yaml"
    without.write_text(text[:start] + text[end:])
    assert KEPT.format("handshake-status-code") in load(without)
    assert Question.objects.get(key="handshake-status-code").is_active
    load(without, force=True)
    assert not Question.objects.get(key="handshake-status-code").is_active


def test_a_question_deactivated_in_the_admin_stays_inactive_and_leaves_the_export(
    editor, bank, tmp_path
):
    """Unticking `is active` is an admin edit too: kept by loading, exported as a removal."""
    question = admin_edit(editor, "handshake-status-code", {"is_active": None})
    assert not question.is_active
    assert KEPT.format("handshake-status-code") in load(BANK)
    assert not Question.objects.get(key="handshake-status-code").is_active
    out = tmp_path / "export.yaml"
    call_command("dump_quiz", "st2-websockets", "-o", str(out))
    removed = changed_lines(BANK.read_text(), out.read_text())
    assert removed[0] == "-  - key: handshake-status-code"
    assert all(line.startswith("-") for line in removed)
    assert "kept" not in load(out)


def test_the_untouched_bank_exports_as_its_own_file(bank, tmp_path):
    """dump_quiz merges into the shipped file: comments, quoting, order and proofs survive."""
    out = tmp_path / "export.yaml"
    call_command("dump_quiz", "st2-websockets", "-o", str(out))
    exported = out.read_text()
    assert len(changed_lines(BANK.read_text(), exported)) <= 20
    assert exported.count("proof:") == BANK.read_text().count("proof:") > 0


def test_the_admin_export_action_merges_into_the_bank_file_too(editor, bank):
    """The admin's download is the shipped file, so it can replace it in a commit."""
    response = editor.post(
        "/admin/quizzes/quiz/", {"action": "export_yaml", "_selected_action": [bank.pk]}
    )
    assert changed_lines(BANK.read_text(), response.content.decode()) == []


def test_an_admin_edit_exports_as_only_its_own_lines(editor, bank, tmp_path):
    """Stem, option and source edits change exactly their lines; reloading the export syncs."""
    edit_stem(editor)
    admin_edit(editor, "websocket-vs-polling-advantages", {"options-3-text": "Browsers cache them"})
    out = tmp_path / "export.yaml"
    call_command("dump_quiz", "st2-websockets", "-o", str(out))
    assert changed_lines(BANK.read_text(), out.read_text()) == [
        "-      " + STEM.rstrip("\n"),
        "+      " + EDITED.rstrip("\n"),
        "-      - text: Responses can be cached by the browser and by CDNs, as with `fetch()`",
        "+      - text: Browsers cache them",
    ]
    # Committed, the export is the file: loading it keeps nothing and the edit is the file's.
    assert "kept" not in load(out)
    question = Question.objects.get(key="handshake-status-code")
    assert question.current.origin == QuestionVersion.Origin.FILE
    assert load(out).strip() == "Loaded st2-websockets: test unchanged"


def test_a_fresh_export_without_a_file_loads_back_to_the_same_content(bank, tmp_path):
    """--fresh writes a whole document; loading it changes nothing."""
    out = tmp_path / "fresh.yaml"
    call_command("dump_quiz", "st2-websockets", "--fresh", "-o", str(out))
    assert out.read_text().startswith("# [St2] WebSockets: exported on")
    assert load(out).strip() == "Loaded st2-websockets: test unchanged"


def test_merging_into_another_tests_file_is_refused(bank, tmp_path):
    """--base must be this test's file: merging into another would mix two tests."""
    with pytest.raises(SpecError, match="slug: is 'demo-quiz', not 'st2-websockets'"):
        quiz_dump(bank, base="tests/quiz-demo.yaml")
