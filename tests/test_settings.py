"""The environment switches: database, channel layer, secrets, deploy checks."""

from __future__ import annotations

import json
import os
import subprocess
import sys

import pytest
from channels.layers import get_channel_layer

from tests.conftest import FAST_HASHER, PASSWORD
from tests.servers import ROOT

PROBE = """
import json, django
from django.conf import settings
django.setup()
print(json.dumps({"engine": settings.DATABASES["default"]["ENGINE"],
                  "layer": settings.CHANNEL_LAYERS["default"]["BACKEND"],
                  "debug": settings.DEBUG, "chat_port": settings.CHAT_PORT,
                  "hasher": settings.PASSWORD_HASHERS[0]}))
"""


def settings_with(**env: str) -> subprocess.CompletedProcess:
    # The test run's own PASSWORD_HASHERS (tests/conftest.py) is not a default either.
    ignored = {"DATABASE_URL", "REDIS_URL", "PASSWORD_HASHERS"}
    clean = {k: v for k, v in os.environ.items() if k not in ignored}
    clean["DJANGO_SETTINGS_MODULE"] = "courseware.settings"
    return subprocess.run(
        [sys.executable, "-c", PROBE],
        env={**clean, **env},
        cwd=ROOT,
        capture_output=True,
        text=True,
        timeout=60,
    )


def probe(**env: str) -> dict:
    result = settings_with(**env)
    assert result.returncode == 0, result.stderr
    return json.loads(result.stdout)


def test_defaults_need_no_configuration():
    got = probe()
    assert got == {
        "engine": "django.db.backends.sqlite3",
        "layer": "channels.layers.InMemoryChannelLayer",
        "debug": True,
        "chat_port": 4000,
        "hasher": "django.contrib.auth.hashers.PBKDF2PasswordHasher",
    }


def test_database_url_and_redis_url_switch_to_postgres_and_the_redis_layer():
    got = probe(
        DATABASE_URL="postgres://postgres@127.0.0.1:5432/test",
        REDIS_URL="redis://127.0.0.1:6379/0",
        CHAT_PORT="4100",
    )
    assert got["engine"] == "django.db.backends.postgresql"
    assert got["layer"] == "channels_redis.core.RedisChannelLayer"
    assert got["chat_port"] == 4100


def test_password_hashers_come_from_the_environment_for_the_tests_and_their_servers(student):
    """PASSWORD_HASHERS replaces Django's list; the test run sets MD5 for itself and its servers."""
    assert probe(PASSWORD_HASHERS=f"{FAST_HASHER},x.Other")["hasher"] == FAST_HASHER
    assert os.environ["PASSWORD_HASHERS"] == FAST_HASHER  # what tests/servers.py passes on
    assert student.password.startswith("md5$")
    assert student.check_password(PASSWORD)


def test_a_secret_key_is_required_once_debug_is_off():
    result = settings_with(DEBUG="False")
    assert result.returncode != 0
    assert "SECRET_KEY must be set when DEBUG is off" in result.stderr


def test_deploy_check_leaves_only_what_a_tls_proxy_answers():
    result = subprocess.run(
        [sys.executable, "manage.py", "check", "--deploy", "--fail-level", "WARNING"],
        env={**os.environ, "DEBUG": "False", "SECRET_KEY": "x" * 60 + "-Y7q!zZ3@kP0"},
        cwd=ROOT,
        capture_output=True,
        text=True,
        timeout=60,
    )
    ids = {word.rstrip(":") for word in result.stderr.split() if word.startswith("(security.")}
    # W004 (HSTS) and W008 (https redirect) are the TLS proxy's job; nothing else may show.
    assert ids <= {"(security.W004)", "(security.W008)"}, result.stderr


async def test_the_configured_channel_layer_carries_a_message():
    """In CI's second run this is Redis: the message is serialised and read back."""
    layer = get_channel_layer()
    channel = await layer.new_channel()
    await layer.send(channel, {"type": "probe", "n": 1, "text": "héllo"})
    assert await layer.receive(channel) == {"type": "probe", "n": 1, "text": "héllo"}


@pytest.mark.skipif(not os.environ.get("REDIS_URL"), reason="REDIS_URL is not set")
def test_ci_postgres_run_really_uses_postgres_and_redis(settings):
    assert settings.DATABASES["default"]["ENGINE"] == "django.db.backends.postgresql"
    assert settings.CHANNEL_LAYERS["default"]["BACKEND"].startswith("channels_redis")
