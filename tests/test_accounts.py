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


def test_the_session_endpoint_says_only_whether_the_browser_is_logged_in(client, student):
    """The attempt page asks it after a refused socket; it is never cached."""
    response = client.get("/accounts/session/")
    assert response.json() == {"authenticated": False}
    assert "no-store" in response["Cache-Control"]
    client.force_login(student)
    assert client.get("/accounts/session/").json() == {"authenticated": True}
    assert client.post("/accounts/session/").status_code == 405


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


def test_seed_demo_run_again_keeps_sessions_and_changed_passwords(db, settings, capsys):
    """A second run (each `make run` does one) touches no existing account's password, so
    a logged-in student stays logged in and a password the student changed still works."""
    settings.DEBUG = True
    call_command("seed_demo")
    student = User.objects.get(username="student1")
    student.set_password("my-own-secret-42")
    student.save()
    browser = Client()
    assert browser.login(username="student1", password="my-own-secret-42")
    assert browser.get("/accounts/session/").json() == {"authenticated": True}

    call_command("seed_demo")
    call_command("seed_demo")

    assert browser.get("/accounts/session/").json() == {"authenticated": True}
    assert Client().login(username="student1", password="my-own-secret-42")
    assert not Client().login(username="student1", password="student1-demo-pass")
    out = capsys.readouterr().out
    assert "student1   (unchanged)" in out
    assert out.rstrip().endswith("Demo accounts ready: 0 created, 4 kept")


def test_seed_demo_resets_the_demo_passwords_only_when_asked(db, settings, capsys):
    """--reset-passwords puts the printed demo passwords back, which ends their sessions."""
    settings.DEBUG = True
    call_command("seed_demo")
    student = User.objects.get(username="student2")
    student.set_password("my-own-secret-42")
    student.save()
    browser = Client()
    assert browser.login(username="student2", password="my-own-secret-42")

    call_command("seed_demo", "--reset-passwords")

    assert Client().login(username="student2", password="student2-demo-pass")
    assert browser.get("/accounts/session/").json() == {"authenticated": False}
    assert "student2   student2-demo-pass" in capsys.readouterr().out


@pytest.mark.parametrize("debug", [False])
def test_no_demo_accounts_when_debug_is_off(db, settings, capsys, debug):
    settings.DEBUG = debug
    call_command("seed_demo")
    assert "no demo accounts" in capsys.readouterr().out
    assert not User.objects.exists()
