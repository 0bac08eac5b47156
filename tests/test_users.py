"""The signed-in user, read with their groups in one query (courseware.users)."""

from __future__ import annotations

import pytest
from django.contrib.auth import BACKEND_SESSION_KEY, HASH_SESSION_KEY, SESSION_KEY
from django.contrib.auth.models import User
from django.contrib.sessions.backends.db import SessionStore as DjangoStore
from django.db import connection
from django.test.utils import CaptureQueriesContext
from django.urls import reverse

from courseware.roles import MENTORS, STUDENTS, group_names, is_mentor
from courseware.users import MODEL_BACKEND, USER_BACKEND, UserBackend
from tests.conftest import make_user

pytestmark = pytest.mark.django_db

FIELDS = [f.attname for f in User._meta.concrete_fields]


def test_the_user_reads_back_as_the_orm_reads_it_with_the_groups_in_the_same_query():
    """Every field, with the ORM's types (SQLite's booleans and datetimes converted), and
    the roles answered without another query."""
    mentor = make_user("backend-mentor", group=MENTORS, is_staff=True)
    mentor.groups.add(*make_user("x", group=STUDENTS).groups.all())
    with CaptureQueriesContext(connection) as captured:
        user = UserBackend().get_user(str(mentor.pk))
        assert user is not None
        assert (group_names(user), is_mentor(user)) == (frozenset({MENTORS, STUDENTS}), True)
    assert len(captured) == 1
    orm = User.objects.get(pk=mentor.pk)
    for name in FIELDS:
        assert (getattr(user, name), type(getattr(user, name))) == (
            getattr(orm, name),
            type(getattr(orm, name)),
        ), name
    assert user.get_session_auth_hash() == orm.get_session_auth_hash()
    assert not user._state.adding and user._state.db == "default"

    loner = UserBackend().get_user(make_user("no-groups").pk)
    assert loner is not None and group_names(loner) == frozenset()


def test_no_user_for_an_unknown_id_a_bad_id_or_an_inactive_account():
    inactive = make_user("gone-away")
    User.objects.filter(pk=inactive.pk).update(is_active=False)
    backend = UserBackend()
    assert [backend.get_user(i) for i in (inactive.pk, 10**6, "x", None)] == [None] * 4


def test_a_session_signed_in_before_the_backend_changed_stays_signed_in(client):
    """Sessions name the backend that signed them in; ModelBackend's keep working."""
    user = make_user("signed-in-earlier")
    old = DjangoStore()
    old[SESSION_KEY] = str(user.pk)
    old[BACKEND_SESSION_KEY] = MODEL_BACKEND
    old[HASH_SESSION_KEY] = user.get_session_auth_hash()
    old.create()
    client.cookies["sessionid"] = old.session_key
    assert "Signed in as" in client.get(reverse("home")).content.decode()


def test_signing_in_with_a_password_names_the_new_backend(client):
    user = make_user("password-user")
    user.set_password("correct horse battery")
    user.save()
    response = client.post(
        reverse("login"), {"username": "password-user", "password": "correct horse battery"}
    )
    assert response.status_code == 302
    assert client.session[BACKEND_SESSION_KEY] == USER_BACKEND
    assert "Signed in as" in client.get(reverse("home")).content.decode()
