"""The signed-in user, read with their groups in one written-out query.

Every page request and socket connect loads the session's user. Django's ModelBackend
builds an ORM `get` for it, and the roles (courseware.roles) then ask for the user's
groups: two queries, and building them cost about a millisecond and a half of each
served page's CPU under the quiz cohort (BENCHMARKS.md). UserBackend signs in exactly
as ModelBackend does and reads the user, converted as the ORM converts, in one query.
"""

from __future__ import annotations

import json
from collections.abc import Callable
from functools import cache
from typing import Any

from django.contrib.auth.backends import ModelBackend
from django.contrib.auth.models import Group, User
from django.db import connections, router

# What sessions signed in before UserBackend name; courseware.sessions reads it as this.
MODEL_BACKEND = "django.contrib.auth.backends.ModelBackend"
USER_BACKEND = "courseware.users.UserBackend"


@cache
def _reader(alias: str) -> tuple[str, list[str], list[tuple[Any, list[Callable]]]]:
    """(the query, the fields' attribute names, each field's column and converters)."""
    connection = connections[alias]
    fields = User._meta.concrete_fields
    table, members = User._meta.db_table, User.groups.through._meta.db_table
    quote = connection.ops.quote_name
    postgres = connection.vendor == "postgresql"
    names = "json_agg(g.name)::text" if postgres else "json_group_array(g.name)"
    # Only the models' table and column names go into the text; the id is a parameter.
    sql = (
        f"SELECT {', '.join(f'u.{quote(f.column)}' for f in fields)}, "  # noqa: S608
        f"(SELECT {names} FROM {Group._meta.db_table} g JOIN {members} m "
        f"ON m.group_id = g.id WHERE m.user_id = u.id) "
        f"FROM {table} u WHERE u.id = %s"
    )
    converters = []
    for field in fields:
        column = field.get_col(table)
        backend = connection.ops.get_db_converters(column)
        converters.append((column, backend + column.get_db_converters(connection)))
    return sql, [f.attname for f in fields], converters


def signed_in_user(user_id: Any) -> User | None:
    """The user with this id, their group names already read for courseware.roles."""
    alias = router.db_for_read(User)
    connection = connections[alias]
    sql, attnames, converters = _reader(alias)
    with connection.cursor() as cursor:
        cursor.execute(sql, [user_id])
        row = cursor.fetchone()
    if row is None:
        return None
    *values, groups = row
    # As the ORM's compiler does: SQLite's booleans and datetimes come back as numbers
    # and text.
    for i, (column, field_converters) in enumerate(converters):
        for convert in field_converters:
            values[i] = convert(values[i], column, connection)
    user = User.from_db(alias, attnames, values)
    user._role_group_names = frozenset(json.loads(groups or "[]"))  # type: ignore[attr-defined]
    return user


class UserBackend(ModelBackend):
    """ModelBackend, with the session's user read in one written-out query."""

    def get_user(self, user_id: Any) -> User | None:
        try:
            user = signed_in_user(int(user_id))
        except (TypeError, ValueError):
            return None
        return user if user is not None and self.user_can_authenticate(user) else None
