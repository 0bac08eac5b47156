"""`load_quiz --check` and `lint_quiz` on a fresh clone: no database yet, no traceback."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

from tests.servers import ROOT

BANK = "tests/quiz-demo.yaml"
MODULE_FILE = "fixtures/modules/st2-websockets.yaml"


def manage(*args: str, database: Path) -> subprocess.CompletedProcess[str]:
    """Run manage.py as CI would before `migrate`: the database file does not exist."""
    env = {**os.environ, "DATABASE_URL": f"sqlite:///{database}"}
    return subprocess.run(
        [sys.executable, "manage.py", *args],
        cwd=ROOT,
        env=env,
        capture_output=True,
        text=True,
        timeout=60,
        check=False,
    )


def test_check_validates_a_file_before_migrate_and_says_what_to_do(tmp_path):
    """The file is checked; the module part is skipped with the commands to run, no DB made."""
    database = tmp_path / "never.sqlite3"
    result = manage("load_quiz", "--check", BANK, database=database)
    assert result.returncode == 0, result.stderr
    assert result.stdout.startswith("Valid: 1 test(s): demo-quiz\n")
    assert "Module and objectives not checked" in result.stdout
    assert "manage.py migrate" in result.stdout
    assert "--modules fixtures/modules/*.yaml" in result.stdout
    assert not database.exists()


def test_check_reports_a_bad_file_before_migrate_without_a_traceback(tmp_path):
    """A broken file fails with its line and field, as it does with a database."""
    bad = tmp_path / "bad.yaml"
    bad.write_text((ROOT / BANK).read_text().replace("kind: single", "kind: singel", 1))
    result = manage("load_quiz", "--check", str(bad), database=tmp_path / "db.sqlite3")
    assert result.returncode == 1
    assert "Traceback" not in result.stderr
    assert "questions[0].kind: Input should be 'single' or 'multiple'" in result.stderr


def test_check_takes_objectives_from_module_files(tmp_path):
    """With --modules the objectives are checked against the module YAML, still no database."""
    good = manage("load_quiz", "--check", BANK, "--modules", MODULE_FILE, database=tmp_path / "x")
    assert (good.returncode, good.stdout) == (0, "Valid: 1 test(s): demo-quiz\n")
    bad = tmp_path / "bad.yaml"
    bad.write_text((ROOT / BANK).read_text().replace("objective: connect", "objective: nope", 1))
    result = manage("load_quiz", "--check", str(bad), "--modules", MODULE_FILE, database=bad)
    assert result.returncode == 1
    assert "has no objective 'nope' (it has: chat, connect, messaging" in result.stderr


def test_loading_before_migrate_says_to_migrate_first(tmp_path):
    """Loading needs the database: a clear message, not an OperationalError."""
    result = manage("load_quiz", BANK, database=tmp_path / "none.sqlite3")
    assert result.returncode == 1
    assert "Traceback" not in result.stderr
    assert "The database has no tables yet: run `manage.py migrate`" in result.stderr


def test_lint_runs_before_migrate(tmp_path):
    """The lint needs no database either; the small demo bank fails the 100-question minimum."""
    result = manage("lint_quiz", BANK, "--modules", MODULE_FILE, database=tmp_path / "none")
    assert result.returncode == 1
    assert "Traceback" not in result.stderr
    assert "FAIL: 8 questions (at least 100)" in result.stdout
    assert "Over the lint's thresholds: demo-quiz" in result.stderr
