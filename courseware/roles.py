"""The two groups that give people a role on the site, besides staff."""

from __future__ import annotations

from django.contrib.auth.models import AnonymousUser, User

STUDENTS = "Students"
MENTORS = "Mentors"


def in_group(user: User | AnonymousUser, name: str) -> bool:
    return user.is_authenticated and user.groups.filter(name=name).exists()


def is_mentor(user: User | AnonymousUser) -> bool:
    return user.is_authenticated and (user.is_staff or in_group(user, MENTORS))
