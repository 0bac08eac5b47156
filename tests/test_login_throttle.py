"""Login throttling (django-axes): repeated wrong passwords lock one username from one address."""

from __future__ import annotations

from datetime import timedelta

import pytest
from axes.models import AccessAttempt
from django.test import Client
from django.utils import timezone

from tests.conftest import PASSWORD

LIMIT = 3
LOCKED = "Too many failed logins for this account from your address"


@pytest.fixture(autouse=True)
def small_limit(settings) -> None:
    # Every try here checks a password: the default hasher would make each take a second.
    settings.PASSWORD_HASHERS = ["django.contrib.auth.hashers.MD5PasswordHasher"]
    settings.AXES_FAILURE_LIMIT = LIMIT
    settings.AXES_COOLOFF_TIME = timedelta(minutes=10)


def from_address(ip: str) -> Client:
    return Client(REMOTE_ADDR=ip)


def log_in(client: Client, username: str, password: str, path: str = "/accounts/login/"):
    return client.post(path, {"username": username, "password": password})


def fail_until_locked(client: Client, username: str, path: str = "/accounts/login/"):
    for _ in range(LIMIT):
        response = log_in(client, username, "wrong-password", path)
    return response


def test_it_locks_a_username_after_the_failure_limit_and_refuses_the_right_password(student):
    """The limit-th wrong password already answers with the lockout; the right one then fails."""
    client = from_address("10.0.0.1")
    for _ in range(LIMIT - 1):
        response = log_in(client, "alice", "wrong-password")
        assert response.status_code == 200
        assert "didn't match" in response.content.decode()

    response = log_in(client, "alice", "wrong-password")
    assert response.status_code == 429
    assert LOCKED in response.content.decode()

    response = log_in(client, "alice", PASSWORD)
    assert response.status_code == 429
    page = response.content.decode()
    assert f"{LOCKED}. Try again in 10 minutes." in page
    assert 'role="alert"' in page and 'name="username"' in page and 'value="alice"' in page
    assert "_auth_user_id" not in client.session


def test_another_user_or_another_address_is_not_locked(student, other_student):
    """The lock is on the username and address together: a shared classroom IP keeps working."""
    fail_until_locked(from_address("10.0.0.1"), "alice")

    same_address = from_address("10.0.0.1")
    assert log_in(same_address, "bob", PASSWORD).status_code == 302
    assert same_address.session["_auth_user_id"] == str(other_student.pk)

    other_address = from_address("10.0.0.2")
    assert log_in(other_address, "alice", PASSWORD).status_code == 302
    assert other_address.session["_auth_user_id"] == str(student.pk)


def test_the_lockout_ends_after_the_cool_off(student):
    """Once the failures are older than the cool-off, the right password logs in again."""
    client = from_address("10.0.0.1")
    fail_until_locked(client, "alice")
    assert log_in(client, "alice", PASSWORD).status_code == 429

    # Age the recorded failures rather than sleep: axes compares their time with now.
    AccessAttempt.objects.update(attempt_time=timezone.now() - timedelta(minutes=11))
    response = log_in(client, "alice", PASSWORD)
    assert response.status_code == 302
    assert client.session["_auth_user_id"] == str(student.pk)


def test_tries_during_the_lockout_do_not_extend_it(student):
    """A locked-out client hammering on is still let in when the first lockout ends."""
    client = from_address("10.0.0.1")
    fail_until_locked(client, "alice")
    AccessAttempt.objects.update(attempt_time=timezone.now() - timedelta(minutes=9))
    response = log_in(client, "alice", "wrong-again")
    assert response.status_code == 429
    assert f"{LOCKED}. Try again in 1 minute." in response.content.decode()

    AccessAttempt.objects.update(attempt_time=timezone.now() - timedelta(minutes=11))
    assert log_in(client, "alice", PASSWORD).status_code == 302


def test_a_successful_login_clears_earlier_failures(student):
    """Failures short of the limit are forgotten once the right password is given."""
    client = from_address("10.0.0.1")
    for _ in range(LIMIT - 1):
        log_in(client, "alice", "wrong-password")
    assert log_in(client, "alice", PASSWORD).status_code == 302

    again = from_address("10.0.0.1")
    for _ in range(LIMIT - 1):
        assert log_in(again, "alice", "wrong-password").status_code == 200


def test_the_admin_login_is_throttled_too_with_a_message_on_its_page(admin_user):
    """Wrong passwords on /admin/login/ count, and the admin's own login page says why."""
    client = from_address("10.0.0.3")
    response = fail_until_locked(client, "root", "/admin/login/")
    assert response.status_code == 429
    page = response.content.decode()
    assert f"{LOCKED}. Try again in 10 minutes." in page
    assert 'class="errornote"' in page and "Django administration" in page

    assert log_in(client, "root", PASSWORD, "/admin/login/").status_code == 429
    assert log_in(client, "root", PASSWORD, "/accounts/login/").status_code == 429
    assert "_auth_user_id" not in client.session


def test_the_test_clients_login_without_a_request_is_not_throttled(student):
    """Client.login() passes no request; with no address to count, the password decides."""
    fail_until_locked(from_address("127.0.0.1"), "alice")
    assert Client().login(username="alice", password=PASSWORD)
    assert not Client().login(username="alice", password="wrong-password")
