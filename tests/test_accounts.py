"""Logging in and out, the role groups, the demo accounts."""

from __future__ import annotations

import pytest
from django.contrib.auth.models import Group, User
from django.core.management import call_command
from django.test import Client

from courseware.models import Mentorship
from tests.conftest import PASSWORD


def test_the_students_and_mentors_groups_exist_after_migrate(db):
    assert set(Group.objects.values_list("name", flat=True)) >= {"Students", "Mentors"}


def test_logging_in_shows_who_is_logged_in_and_logging_out_ends_it(client, student, module):
    response = client.post(
        "/accounts/login/", {"username": "alice", "password": PASSWORD}, follow=True
    )
    assert "Signed in as <strong>alice</strong>" in response.content.decode()
    response = client.post("/accounts/logout/", follow=True)
    assert "Signed in as" not in response.content.decode()
    assert "Log in" in response.content.decode()


def test_a_wrong_password_is_refused(client, student):
    response = client.post("/accounts/login/", {"username": "alice", "password": "nope"})
    assert response.status_code == 200
    assert "didn't match" in response.content.decode()
    assert "_auth_user_id" not in client.session


def test_the_login_form_requires_a_csrf_token(student):
    csrf_client = Client(enforce_csrf_checks=True)
    response = csrf_client.post("/accounts/login/", {"username": "alice", "password": PASSWORD})
    assert response.status_code == 403


def test_the_admin_is_for_staff_only(client, student, admin_user):
    client.force_login(student)
    assert client.get("/admin/").status_code == 302
    client.force_login(admin_user)
    assert client.get("/admin/").status_code == 200
    assert client.get("/admin/courseware/module/").status_code == 200


def test_demo_accounts_are_created_idempotently_with_known_passwords(db, settings, capsys):
    settings.DEBUG = True
    call_command("seed_demo")
    call_command("seed_demo")
    out = capsys.readouterr().out
    assert "student1   student1-demo-pass" in out
    demo = ["admin", "mentor", "student1", "student2"]
    assert User.objects.filter(username__in=demo).count() == 4
    assert User.objects.get(username="admin").is_superuser
    assert User.objects.get(username="mentor").groups.filter(name="Mentors").exists()
    assert Client().login(username="student2", password="student2-demo-pass")
    mentored = Mentorship.objects.filter(mentor__username="mentor")
    assert sorted(mentored.values_list("student__username", flat=True)) == demo[2:]


@pytest.mark.parametrize("debug", [False])
def test_no_demo_accounts_when_debug_is_off(db, settings, capsys, debug):
    settings.DEBUG = debug
    call_command("seed_demo")
    assert "no demo accounts" in capsys.readouterr().out
    assert not User.objects.exists()
