"""The session engine: Django's database sessions, read with one written-out query."""

from __future__ import annotations

from datetime import timedelta

import pytest
from django.conf import settings
from django.contrib.sessions.backends.db import SessionStore as DjangoStore
from django.contrib.sessions.models import Session
from django.urls import reverse
from django.utils import timezone

from courseware.sessions import SessionStore
from tests.conftest import make_user
from tests.quizkit import client_for

pytestmark = pytest.mark.django_db


def test_the_site_reads_sessions_with_it():
    assert settings.SESSION_ENGINE == "courseware.sessions"


def test_a_session_reads_back_as_djangos_own_until_it_expires_or_is_deleted():
    stored = DjangoStore()
    stored["who"] = "alice"
    stored.create()  # a row written by Django's backend (as before this engine)
    key = stored.session_key
    assert SessionStore(key).load() == {"who": "alice"}

    Session.objects.filter(session_key=key).update(expire_date=timezone.now() - timedelta(1))
    expired = SessionStore(key)
    assert (expired.load(), expired.session_key) == ({}, None)
    gone = SessionStore("x" * 32)
    assert (gone.load(), gone.session_key) == ({}, None)


def test_logging_out_ends_the_session_for_the_next_request():
    client = client_for(make_user("session-user"))
    home = reverse("home")
    assert "Signed in as" in client.get(home).content.decode()
    client.post(reverse("logout"))
    assert "Signed in as" not in client.get(home).content.decode()
