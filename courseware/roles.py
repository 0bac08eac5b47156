"""The two groups that give people a role on the site, besides staff."""

from __future__ import annotations

from django.contrib.auth.models import AnonymousUser, Group, User
from django.db import connections, router
from django.http import HttpRequest


class SignedInRequest(HttpRequest):
    """The request a view behind login_required (or mentor_required) gets: never anonymous."""

    user: User


STUDENTS = "Students"
MENTORS = "Mentors"


def group_names(user: User) -> frozenset[str]:
    """The user's groups, read once per user object (a request's user lives one request).

    Every page asks about roles more than once (each app's nav link, then the view);
    one query answers them all. Written out: every page runs it, and building the
    ORM's query through the user's groups cost more than a millisecond of a page's CPU
    under a cohort (BENCHMARKS.md).
    """
    names = getattr(user, "_role_group_names", None)
    if names is None:
        members = User.groups.through._meta.db_table
        # Only the models' table names go into the text; the user's id is a parameter.
        sql = (
            f"SELECT g.name FROM {Group._meta.db_table} g "  # noqa: S608
            f"JOIN {members} m ON m.group_id = g.id WHERE m.user_id = %s"
        )
        with connections[router.db_for_read(Group)].cursor() as cursor:
            cursor.execute(sql, [user.pk])
            names = frozenset(name for (name,) in cursor.fetchall())
        user._role_group_names = names  # type: ignore[attr-defined]
    return names


def in_group(user: User | AnonymousUser, name: str) -> bool:
    return user.is_authenticated and name in group_names(user)


def is_mentor(user: User | AnonymousUser) -> bool:
    return user.is_authenticated and (user.is_staff or in_group(user, MENTORS))
