"""The signed-in user, read with their groups in one written-out query.

Every page request and socket connect loads the session's user. Django's ModelBackend
builds an ORM `get` for it, and the roles (courseware.roles) then ask for the user's
groups: two queries, and building them cost about a millisecond and a half of each
served page's CPU under the quiz cohort (BENCHMARKS.md). UserBackend signs in exactly
as ModelBackend does and reads the user and their groups in one query (courseware.rowreads).
"""

from __future__ import annotations

import json
from functools import cache
from typing import Any

from django.contrib.auth.backends import ModelBackend
from django.contrib.auth.models import Group, User
from django.db import connections, router

from courseware.rowreads import read_row

# What sessions signed in before UserBackend name; courseware.sessions reads it as this.
MODEL_BACKEND = "django.contrib.auth.backends.ModelBackend"
USER_BACKEND = "courseware.users.UserBackend"


@cache
def _groups_column(vendor: str) -> str:
    """The user's group names as one JSON text column, for read_row's `extra`."""
    names = "json_agg(g.name)::text" if vendor == "postgresql" else "json_group_array(g.name)"
    members = User.groups.through._meta.db_table
    # Only the models' table names go into the text.
    return (
        f"(SELECT {names} FROM {Group._meta.db_table} g JOIN {members} m "  # noqa: S608
        "ON m.group_id = g.id WHERE m.user_id = t0.id)"
    )


def signed_in_user(user_id: Any) -> User | None:
    """The user with this id, their group names already read for courseware.roles."""
    groups = _groups_column(connections[router.db_for_read(User)].vendor)
    found = read_row(User, where="t0.id = %s", params=[user_id], extra=groups)
    if found is None:
        return None
    user, names_json = found
    user._role_group_names = frozenset(json.loads(names_json or "[]"))  # type: ignore[attr-defined]
    return user


class UserBackend(ModelBackend):
    """ModelBackend, with the session's user read in one written-out query."""

    def get_user(self, user_id: Any) -> User | None:
        try:
            user = signed_in_user(int(user_id))
        except (TypeError, ValueError):
            return None
        return user if user is not None and self.user_can_authenticate(user) else None
