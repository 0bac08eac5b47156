"""The two groups that give people a role on the site, besides staff."""

from __future__ import annotations

from django.contrib.auth.models import AnonymousUser, User
from django.http import HttpRequest


class SignedInRequest(HttpRequest):
    """The request a view behind login_required (or mentor_required) gets: never anonymous."""

    user: User


STUDENTS = "Students"
MENTORS = "Mentors"


def group_names(user: User) -> frozenset[str]:
    """The user's groups, read once per user object (a request's user lives one request).

    Every page asks about roles more than once (each app's nav link, then the view);
    one query answers them all. A request's user comes with them already: the session's
    backend (courseware.users) reads them with the user.
    """
    names = getattr(user, "_role_group_names", None)
    if names is None:
        names = frozenset(user.groups.values_list("name", flat=True))
        user._role_group_names = names  # type: ignore[attr-defined]
    return names


def in_group(user: User | AnonymousUser, name: str) -> bool:
    return user.is_authenticated and name in group_names(user)


def is_mentor(user: User | AnonymousUser) -> bool:
    return user.is_authenticated and (user.is_staff or in_group(user, MENTORS))
