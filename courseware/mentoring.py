"""Who may see whose scores and attempts: the one place mentor scoping is decided.

Staff see everyone. A mentor sees the students assigned to them (Mentorship rows,
managed in the admin). Anyone else, students included, sees nobody else's work;
a student's own pages are the student side's business, not this module's.
"""

from __future__ import annotations

import operator
from functools import reduce

from django.contrib.auth import get_user_model
from django.contrib.auth.models import AbstractBaseUser, AnonymousUser, User
from django.db.models import Exists, Model, OuterRef, QuerySet

from courseware.models import Mentorship
from courseware.roles import MENTORS, STUDENTS, in_group

# request.user: this project keeps Django's own User model.
Viewer = User | AnonymousUser

# (model, name of its foreign key to the user): rows that make their user a student even
# outside the group, such as a test attempt. The apps that own such models add them from
# their AppConfig.ready(), so this module never imports an app.
_STUDENT_ACTIVITY: list[tuple[type[Model], str]] = []


def register_student_activity(model: type[Model], *, user_field: str = "user") -> None:
    """Count every user with a row of `model` (via `user_field`) among the students."""
    if (model, user_field) not in _STUDENT_ACTIVITY:
        _STUDENT_ACTIVITY.append((model, user_field))


def all_students() -> QuerySet:
    """Every account that is a student in some sense: in the group, mentored, or active
    in an app that registered its activity (quizzes: started a test)."""
    user_model = get_user_model()
    membership = user_model.groups.through.objects.filter(user=OuterRef("pk"), group__name=STUDENTS)
    # Exists() rather than joins: no duplicate rows, so callers can annotate freely.
    marks = [
        Exists(membership),
        Exists(Mentorship.objects.filter(student=OuterRef("pk"))),
        *(
            Exists(model._default_manager.filter(**{field: OuterRef("pk")}))
            for model, field in _STUDENT_ACTIVITY
        ),
    ]
    return user_model.objects.filter(reduce(operator.or_, marks))


def students_visible_to(user: Viewer) -> QuerySet:
    """The students whose scores and attempts `user` may see (none for a student)."""
    user_model = get_user_model()
    if not user.is_authenticated:
        return user_model.objects.none()
    if user.is_staff:
        return all_students()
    if in_group(user, MENTORS):
        return user_model.objects.filter(
            pk__in=Mentorship.objects.filter(mentor=user).values("student")
        )
    return user_model.objects.none()


def can_view_student(viewer: Viewer, student: AbstractBaseUser | int) -> bool:
    """Whether `viewer` may see this student's scores, attempts and reports.

    Staff may open any account, even one outside the listing (a mentor who tried a
    test, say); a mentor only their assigned students; anyone else nobody.
    """
    student_id = student if isinstance(student, int) else student.pk
    if not viewer.is_authenticated:
        return False
    if viewer.is_staff:
        return True
    if not in_group(viewer, MENTORS):
        return False
    return Mentorship.objects.filter(mentor=viewer, student_id=student_id).exists()
