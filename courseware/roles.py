"""The two groups that give people a role on the site, besides staff."""

from __future__ import annotations

from django.contrib.auth.models import AbstractBaseUser, AnonymousUser

STUDENTS = "Students"
MENTORS = "Mentors"


def in_group(user: AbstractBaseUser | AnonymousUser, name: str) -> bool:
    return user.is_authenticated and user.groups.filter(name=name).exists()


def is_mentor(user: AbstractBaseUser | AnonymousUser) -> bool:
    return user.is_authenticated and (user.is_staff or in_group(user, MENTORS))
