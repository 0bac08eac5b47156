"""The suite's own footing: a flush that meets a served site's query still empties the tables."""

from __future__ import annotations

import threading
import time

import psycopg
import pytest
from django.contrib.auth.models import User
from django.core.management import call_command
from django.db import connection

pytestmark = [pytest.mark.django_db(transaction=True), pytest.mark.usefixtures("fresh_db_after")]


def test_a_flush_cancelled_by_a_deadlock_with_another_connection_is_tried_again():
    if connection.vendor != "postgresql":
        pytest.skip("SQLite locks the whole file, so it has no such deadlock")
    User.objects.create(username="left-over")
    settings = connection.settings_dict
    # TRUNCATE locks its tables in the order the flush lists them (a set's order).
    tables = connection.introspection.django_table_names(only_existing=True, include_views=False)
    first, last = (connection.ops.quote_name(table) for table in (tables[0], tables[-1]))
    holding = threading.Event()
    seen: list[str] = []

    def other_connection() -> None:
        # As a served site's query may: it holds the flush's last table, then reads its
        # first, which the TRUNCATE has locked while it waits for the last.
        with psycopg.connect(
            dbname=settings["NAME"],
            user=settings["USER"],
            host=settings["HOST"],
            port=settings["PORT"],
        ) as other:
            other.execute(f"SELECT 1 FROM {last} LIMIT 1")
            holding.set()
            time.sleep(0.5)  # under the 1 s deadlock_timeout: the flush is the one cancelled
            other.execute(f"SELECT 1 FROM {first} LIMIT 1")
            seen.append("read")
            other.commit()

    racer = threading.Thread(target=other_connection)
    racer.start()
    holding.wait(timeout=5)
    call_command("flush", interactive=False, verbosity=0)
    racer.join(timeout=10)
    assert seen == ["read"]
    assert not User.objects.exists()
