"""Check reports moved from the chat app to the grader app without touching their table."""

from __future__ import annotations

import pytest
from django.contrib.contenttypes.models import ContentType
from django.db import connection
from django.db.migrations.executor import MigrationExecutor

from grader.models import CheckReport

# The state before the move: the chat app's first migration, and no grader app yet.
BEFORE_THE_MOVE = [("chat", "0001_initial"), ("grader", None)]


def migrate(targets: list[tuple[str, str | None]] | None = None) -> MigrationExecutor:
    """Migrate the test database to `targets` (default: every app's latest migration)."""
    executor = MigrationExecutor(connection)
    executor.migrate(targets or executor.loader.graph.leaf_nodes())
    return MigrationExecutor(connection)  # a fresh loader sees what is applied now


@pytest.mark.django_db(transaction=True)
def test_a_database_migrated_before_the_move_keeps_its_reports_and_their_permissions():
    """Reports saved while CheckReport belonged to chat are read through grader.models
    after migrating, and the model's content type (so its permissions) moves along."""
    try:
        old = migrate(BEFORE_THE_MOVE).loader.project_state([BEFORE_THE_MOVE[0]]).apps
        assert old.get_model("chat", "CheckReport")._meta.db_table == "chat_checkreport"
        student = old.get_model("auth", "User").objects.create(username="ann")
        old.get_model("chat", "CheckReport").objects.create(
            login="ann-client", student_id=student.pk, items=[{"code": "5.1", "status": "passed"}]
        )
        assert ContentType.objects.filter(app_label="chat", model="checkreport").exists()
    finally:
        migrate()
    report = CheckReport.objects.get()
    assert (report.login, report.student.username, report.points) == ("ann-client", "ann", (5, 5))
    assert ContentType.objects.get_for_model(CheckReport).app_label == "grader"
    assert not ContentType.objects.filter(app_label="chat", model="checkreport").exists()


@pytest.mark.django_db
def test_a_fresh_database_keeps_reports_in_the_chat_apps_old_table():
    """The grader's model uses the table the chat app created, so nothing was renamed."""
    with connection.cursor() as cursor:
        tables = connection.introspection.table_names(cursor)
    assert CheckReport._meta.db_table == "chat_checkreport"
    assert "chat_checkreport" in tables
    assert not any(table.startswith("grader_") for table in tables)
