"""Django's database sessions with a lighter read: SESSION_ENGINE = "courseware.sessions".

The same table, rows and rules as `django.contrib.sessions.backends.db` (logging out
deletes the row, an expired row is no session), so every existing session stays valid.
Only `load`, which every page request and socket connect runs, is one written-out query:
building the ORM's `get` for it was a tenth of a served page's CPU (bench/quiz_cost.py).
"""

from __future__ import annotations

from typing import Any

from django.contrib.auth import BACKEND_SESSION_KEY
from django.contrib.sessions.backends import db
from django.db import connections, router
from django.utils import timezone

from courseware.users import MODEL_BACKEND, USER_BACKEND


class SessionStore(db.SessionStore):
    def load(self) -> dict[str, Any]:
        connection = connections[router.db_for_read(self.model)]
        # Only the model's table name goes into the text; the key and time are parameters.
        sql = (
            f"SELECT session_data FROM {self.model._meta.db_table} "  # noqa: S608
            "WHERE session_key = %s AND expire_date > %s"
        )
        now = connection.ops.adapt_datetimefield_value(timezone.now())
        with connection.cursor() as cursor:
            cursor.execute(sql, [self.session_key, now])
            row = cursor.fetchone()
        if row is None:
            self._session_key = None  # as Django's: a new key if this session is saved
            return {}
        data = self.decode(row[0])
        # Signed in before courseware.users.UserBackend took ModelBackend's place: the same
        # sign-in, so the session stays valid (an unknown backend would sign them out).
        if data.get(BACKEND_SESSION_KEY) == MODEL_BACKEND:
            data[BACKEND_SESSION_KEY] = USER_BACKEND
        return data
