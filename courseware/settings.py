"""Settings for courseware, read from the environment (and an optional .env file).

Every value has a default that runs with no configuration: SQLite, the in-memory
channel layer, DEBUG on. A deployment sets DATABASE_URL, REDIS_URL, SECRET_KEY,
DEBUG=False and ALLOWED_HOSTS.
"""

from __future__ import annotations

import os
import tempfile
from datetime import timedelta
from pathlib import Path
from typing import Any

import environ
from csp.constants import NONE, SELF
from django.core.exceptions import ImproperlyConfigured

BASE_DIR = Path(__file__).resolve().parent.parent

env = environ.Env()
# Variables already in the environment win over the file, as with the reference chat server.
environ.Env.read_env(BASE_DIR / ".env", overwrite=False)

DEBUG = env.bool("DEBUG", default=True)

SECRET_KEY = env.str("SECRET_KEY", default="")
if not SECRET_KEY:
    if not DEBUG:
        raise ImproperlyConfigured("SECRET_KEY must be set when DEBUG is off.")
    SECRET_KEY = "django-insecure-dev-only-key-never-use-in-production"

ALLOWED_HOSTS = env.list("ALLOWED_HOSTS", default=["localhost", "127.0.0.1", "[::1]"])
CSRF_TRUSTED_ORIGINS = env.list("CSRF_TRUSTED_ORIGINS", default=[])

INSTALLED_APPS = [
    # daphne must come before staticfiles so that its runserver wins (daphne.E001).
    "daphne",
    "django.contrib.admin",
    "django.contrib.auth",
    "django.contrib.contenttypes",
    "django.contrib.sessions",
    "django.contrib.messages",
    "django.contrib.staticfiles",
    "channels",
    # Login throttling: failed logins are counted in its tables (see AXES_* below).
    "axes",
    "courseware",
    "quizzes",
    "chat",
    # The grader's tools for the chat: console, bot, automatic checks, reports (uses chat).
    "grader",
    # Mentor pages: scores, attempts, analytics, live view (uses quizzes and grader).
    "mentors",
    # Sortable, paginated tables for the mentor pages (templates and template tags).
    "django_tables2",
]

MIDDLEWARE = [
    "django.middleware.security.SecurityMiddleware",
    "courseware.security.ContentSecurityPolicyMiddleware",
    "whitenoise.middleware.WhiteNoiseMiddleware",
    "django.contrib.sessions.middleware.SessionMiddleware",
    "django.middleware.common.CommonMiddleware",
    "django.middleware.csrf.CsrfViewMiddleware",
    "django.contrib.auth.middleware.AuthenticationMiddleware",
    "django.contrib.messages.middleware.MessageMiddleware",
    "django.middleware.clickjacking.XFrameOptionsMiddleware",
    # Last, as django-axes asks: it turns a refused login into the lockout page.
    "axes.middleware.AxesMiddleware",
]

ROOT_URLCONF = "courseware.urls"
WSGI_APPLICATION = "courseware.wsgi.application"
ASGI_APPLICATION = "courseware.asgi.application"

TEMPLATES = [
    {
        "BACKEND": "django.template.backends.django.DjangoTemplates",
        "DIRS": [],
        "APP_DIRS": True,
        "OPTIONS": {
            "context_processors": [
                "django.template.context_processors.request",
                "django.contrib.auth.context_processors.auth",
                "django.contrib.messages.context_processors.messages",
            ],
        },
    },
]

# DATABASE_URL, e.g. postgres://postgres@127.0.0.1:5432/test; SQLite file by default.
DATABASES = {"default": env.db("DATABASE_URL", default=f"sqlite:///{BASE_DIR / 'db.sqlite3'}")}
# Django's docs: persistent connections leak under ASGI, so keep CONN_MAX_AGE at 0.
DATABASES["default"]["CONN_MAX_AGE"] = 0
# PostgreSQL: Django's ASGI handler runs each request's ORM work in a thread of its own,
# so a burst of requests opens a connection each, past max_connections (measured: 400
# simultaneous posts, 243 failed). DB_POOL_MAX_SIZE caps each process with psycopg's pool;
# requests wait for a connection instead. Keep processes x size under max_connections.
DB_POOL_MAX_SIZE = env.int("DB_POOL_MAX_SIZE", default=0)
# Threads per site process that run page requests (courseware.asgi); each holds one
# database connection while it works, so keep it under DB_POOL_MAX_SIZE. Few: they share
# one interpreter lock with the loop that serves the sockets, and every query hands it
# back and waits for it again. Under the quiz cohort 6 and 8 threads put pages' p99
# above 4's (BENCHMARKS.md).
HTTP_THREADS = env.int("HTTP_THREADS", default=4)
if DB_POOL_MAX_SIZE and DATABASES["default"]["ENGINE"] == "django.db.backends.postgresql":
    DATABASES["default"].setdefault("OPTIONS", {})["pool"] = {
        "min_size": 1,
        "max_size": DB_POOL_MAX_SIZE,
        "timeout": env.float("DB_POOL_TIMEOUT", default=30),
    }
# Test databases are per process: several test runs may share one PostgreSQL server or
# one checkout, and live-server tests need a file that other processes can open.
_test_db = f"courseware_test_{os.getpid()}"
if DATABASES["default"]["ENGINE"] == "django.db.backends.sqlite3":
    _test_db = str(Path(tempfile.gettempdir()) / f"{_test_db}.sqlite3")
    # Wait for a concurrent writer instead of failing with "database is locked".
    DATABASES["default"].setdefault("OPTIONS", {})["timeout"] = 20
DATABASES["default"]["TEST"] = {"NAME": env.str("TEST_DATABASE_NAME", default=_test_db)}

DEFAULT_AUTO_FIELD = "django.db.models.BigAutoField"

# REDIS_URL set: the Redis channel layer, which crosses processes.
# Unset: the in-memory layer, which works inside one process only.
REDIS_URL = env.str("REDIS_URL", default="")
CHANNEL_LAYERS: dict[str, dict[str, Any]]
if REDIS_URL:
    CHANNEL_LAYERS = {
        "default": {
            "BACKEND": "channels_redis.core.RedisChannelLayer",
            "CONFIG": {
                # redis-py 8 reads with a 5 s socket timeout, as long as channels_redis'
                # blocking pop: a message popped just then would be lost. Wait longer.
                "hosts": [{"address": REDIS_URL, "socket_timeout": 15}],
                "prefix": env.str("CHANNEL_LAYER_PREFIX", default="courseware"),
            },
        }
    }
else:
    CHANNEL_LAYERS = {"default": {"BACKEND": "channels.layers.InMemoryChannelLayer"}}

# The site and the fun-chat server are served by one process on two ports.
SITE_HOST = env.str("SITE_HOST", default="127.0.0.1")
SITE_PORT = env.int("SITE_PORT", default=8000)
# Student clients hard-code ws://localhost:4000, as the reference server listens there.
CHAT_PORT = env.int("CHAT_PORT", default=4000)
# Loopback on both families: a browser may resolve localhost to ::1.
CHAT_HOSTS = env.list("CHAT_HOSTS", default=["127.0.0.1", "::1"])

# Connection bounds of every server process under uvicorn (courseware.guard); the site and
# the chat are separate processes, so each port has its own. 0 means "from `ulimit -n`":
# all descriptors but 128 in total, and for one client address all of those but 256 (at most
# half kept back).
SERVER_MAX_CONNECTIONS = env.int("SERVER_MAX_CONNECTIONS", default=0)
SERVER_MAX_CONNECTIONS_PER_IP = env.int("SERVER_MAX_CONNECTIONS_PER_IP", default=0)
# A socket must complete its request headers (or WebSocket handshake) within this.
SERVER_HANDSHAKE_TIMEOUT = env.float("SERVER_HANDSHAKE_TIMEOUT", default=10)
# An idle kept-alive HTTP connection is closed after this (uvicorn's own default).
SERVER_KEEPALIVE_TIMEOUT = env.int("SERVER_KEEPALIVE_TIMEOUT", default=5)
# Request line and headers together; more gets 431.
SERVER_MAX_HEADER_BYTES = env.int("SERVER_MAX_HEADER_BYTES", default=64 * 1024)
# A request body past this gets 413 before Django reads (and spools) any of it. The site's
# forms are small; Django's DATA_UPLOAD_MAX_MEMORY_SIZE (2.5 MB) applies below it.
SITE_MAX_BODY_BYTES = env.int("SITE_MAX_BODY_BYTES", default=5 * 1024 * 1024)

AUTH_PASSWORD_VALIDATORS = [
    {"NAME": "django.contrib.auth.password_validation.UserAttributeSimilarityValidator"},
    {"NAME": "django.contrib.auth.password_validation.MinimumLengthValidator"},
    {"NAME": "django.contrib.auth.password_validation.CommonPasswordValidator"},
    {"NAME": "django.contrib.auth.password_validation.NumericPasswordValidator"},
]
AUTHENTICATION_BACKENDS = [
    # First, so that a locked-out client is refused before its password is even checked.
    "courseware.security.LoginThrottleBackend",
    # ModelBackend, with the session's user and groups read in one query.
    "courseware.users.UserBackend",
]
# Unset: Django's default hashers (PBKDF2 first). The tests set Django's MD5 hasher here: it
# hashes a test account's password in microseconds instead of PBKDF2's deliberate third of a
# second of CPU, and the server processes they start read the same variable, so they verify
# those hashes. Never for real accounts.
if env.str("PASSWORD_HASHERS", default=""):
    PASSWORD_HASHERS = env.list("PASSWORD_HASHERS")
LOGIN_URL = "login"
LOGIN_REDIRECT_URL = "home"
LOGOUT_REDIRECT_URL = "home"

LANGUAGE_CODE = "en-us"
TIME_ZONE = env.str("TIME_ZONE", default="UTC")
USE_I18N = True
USE_TZ = True

STATIC_URL = "static/"
STATIC_ROOT = BASE_DIR / "staticfiles"
STORAGES = {
    "default": {"BACKEND": "django.core.files.storage.FileSystemStorage"},
    "staticfiles": {
        "BACKEND": (
            "django.contrib.staticfiles.storage.StaticFilesStorage"
            if DEBUG
            else "whitenoise.storage.CompressedManifestStaticFilesStorage"
        )
    },
}
# In development WhiteNoise serves straight from the apps' static folders.
WHITENOISE_USE_FINDERS = DEBUG
WHITENOISE_AUTOREFRESH = DEBUG

# Deployment hardening. TLS, HSTS and redirects to https belong to the reverse proxy
# in front of daphne; these switches let it tell Django what it did.
if env.bool("BEHIND_TLS_PROXY", default=False):
    SECURE_PROXY_SSL_HEADER = ("HTTP_X_FORWARDED_PROTO", "https")
SECURE_SSL_REDIRECT = env.bool("SECURE_SSL_REDIRECT", default=False)
SECURE_HSTS_SECONDS = env.int("SECURE_HSTS_SECONDS", default=0)
SESSION_COOKIE_SECURE = env.bool("SESSION_COOKIE_SECURE", default=not DEBUG)
# Django's database sessions, read with one written-out query (courseware/sessions.py).
SESSION_ENGINE = "courseware.sessions"
CSRF_COOKIE_SECURE = env.bool("CSRF_COOKIE_SECURE", default=not DEBUG)
X_FRAME_OPTIONS = "DENY"

# Login throttling (django-axes), for the site's login and the admin's alike: after
# LOGIN_FAILURE_LIMIT wrong passwords for one username from one address, that pair is
# refused for LOGIN_LOCKOUT_MINUTES. Keyed on the pair, so a classroom behind one address
# is not locked out by one student, nor is the account for everyone else. The address is
# REMOTE_ADDR: uvicorn already takes it from X-Forwarded-For when the proxy is on loopback.
AXES_ENABLED = env.bool("LOGIN_THROTTLE", default=True)
AXES_FAILURE_LIMIT = env.int("LOGIN_FAILURE_LIMIT", default=5)
AXES_COOLOFF_TIME = timedelta(minutes=env.float("LOGIN_LOCKOUT_MINUTES", default=15))
AXES_LOCKOUT_PARAMETERS = [["username", "ip_address"]]
# Tries during the lockout do not restart it, so "try again in N minutes" holds.
AXES_RESET_COOL_OFF_ON_FAILURE_DURING_LOCKOUT = False
AXES_RESET_ON_SUCCESS = True
# Only failures are kept; a row for every successful login would serve no one here.
AXES_DISABLE_ACCESS_LOG = True
AXES_LOCKOUT_CALLABLE = "courseware.security.lockout_response"

# Content-Security-Policy (django-csp): scripts and styles come only from our static files,
# so an injected <script> or style="" does nothing. connect-src also gets the page's own
# ws:// and wss:// origin per request (courseware.security), for browsers in which 'self'
# does not cover WebSockets. Django's admin needs no exception (tests/test_security_browser.py).
CONTENT_SECURITY_POLICY = {
    "DIRECTIVES": {
        "default-src": [SELF],
        "script-src": [SELF],
        "style-src": [SELF],
        "img-src": [SELF, "data:"],
        "connect-src": [SELF],
        "object-src": [NONE],
        "frame-ancestors": [NONE],
        "form-action": [SELF],
        "base-uri": [NONE],
    }
}

LOGGING: dict[str, Any] = {
    "version": 1,
    "disable_existing_loggers": False,
    "handlers": {"console": {"class": "logging.StreamHandler"}},
    "root": {"handlers": ["console"], "level": env.str("LOG_LEVEL", default="INFO")},
}

# Fun-chat limits. The core answers a frame over CHAT_MAX_FRAME_BYTES with an ERROR and
# keeps the connection; the transport closes a connection only above the larger limit.
CHAT_MAX_FRAME_BYTES = env.int("CHAT_MAX_FRAME_BYTES", default=1024 * 1024)
CHAT_TRANSPORT_MAX_BYTES = env.int("CHAT_TRANSPORT_MAX_BYTES", default=16 * 1024 * 1024)
# Deeper JSON gets the answer to unparseable JSON; the reference parses any depth, but past
# orjson's 1024 only a slow Python parser would do, and a frame of "[" stalled the process.
CHAT_MAX_JSON_DEPTH = env.int("CHAT_MAX_JSON_DEPTH", default=1024)
if not 1 <= CHAT_MAX_JSON_DEPTH <= 1024:
    raise ImproperlyConfigured(f"CHAT_MAX_JSON_DEPTH must be 1 to 1024, not {CHAT_MAX_JSON_DEPTH}")
# A client that never reads may have this much queued before it is dropped: 100 such
# sockets hold at most about 100 MiB. It must exceed one history answer: up to 4 bytes for
# each of CHAT_MAX_DIALOG_CHARS characters (Cyrillic takes 2, emoji 4).
CHAT_MAX_QUEUE_BYTES = env.int("CHAT_MAX_QUEUE_BYTES", default=1024 * 1024)
# What one chat room holds (chat.limits); past a cap the request gets an ERROR of ours. The
# reference keeps everything until it stops. Characters are those of the JSON sent back.
CHAT_MAX_USERS = env.int("CHAT_MAX_USERS", default=10_000)
CHAT_MAX_MESSAGES = env.int("CHAT_MAX_MESSAGES", default=100_000)
CHAT_MAX_STORED_CHARS = env.int("CHAT_MAX_STORED_CHARS", default=32 * 1024 * 1024)
# One dialog's messages, so one MSG_FROM_USER answer is never larger than this: 128 Ki
# characters are at most 512 KiB of UTF-8, well inside the default queue cap, whatever the
# language. That is still thousands of chat messages between two people.
CHAT_MAX_DIALOG_CHARS = env.int("CHAT_MAX_DIALOG_CHARS", default=128 * 1024)
# The reference's CLEAR_INTERVAL: every N seconds close all sockets and wipe all state.
CHAT_CLEAR_INTERVAL = env.float("CLEAR_INTERVAL", default=0)
# The reference's LOG: ALL, ERROR, INCOMING, OUTCOMING or NONE. Passwords are masked.
# ERROR by default: connections and error frames, what a grader looks for; ALL writes
# every frame, which one client sending junk turned into hundreds of MiB a second.
CHAT_LOG = env.str("LOG", default="ERROR").upper()
if CHAT_LOG not in ("ALL", "ERROR", "INCOMING", "OUTCOMING", "NONE"):
    raise ImproperlyConfigured(
        f"LOG must be ALL, ERROR, INCOMING, OUTCOMING or NONE, not {CHAT_LOG!r}"
    )
# A logged frame longer than this is cut, with a note of how much was left out.
CHAT_LOG_FRAME_CHARS = env.int("CHAT_LOG_FRAME_CHARS", default=240)
# The chat's frame log goes to this file, rotated, instead of the console when set.
CHAT_LOG_FILE = env.str("CHAT_LOG_FILE", default="")
CHAT_LOG_FILE_BYTES = env.int("CHAT_LOG_FILE_BYTES", default=10 * 1024 * 1024)
CHAT_LOG_FILE_COUNT = env.int("CHAT_LOG_FILE_COUNT", default=3)
if CHAT_LOG_FILE:
    LOGGING["handlers"]["chat_file"] = {
        "class": "logging.handlers.RotatingFileHandler",
        "filename": CHAT_LOG_FILE,
        "maxBytes": CHAT_LOG_FILE_BYTES,
        "backupCount": CHAT_LOG_FILE_COUNT,
        "encoding": "utf-8",
        "delay": True,
    }
    LOGGING["loggers"] = {
        "chat.frames": {"handlers": ["chat_file"], "level": "INFO", "propagate": False}
    }

# Live quiz attempts (quizzes.live): every serving process looks for attempts past their
# deadline this often and grades them (0 turns the sweeper off; pages still check on
# access). An open attempt page is sent the remaining time this often.
QUIZ_SWEEP_SECONDS = env.float("QUIZ_SWEEP_SECONDS", default=5)
QUIZ_CLOCK_SECONDS = env.float("QUIZ_CLOCK_SECONDS", default=5)
# Answer writes per attempt (quizzes.pacing), shared by all its sockets, tabs and form
# posts: a burst of this many (never fewer than the attempt's questions, so a whole page
# saves in one post), then this many a second.
QUIZ_ANSWER_BURST = env.int("QUIZ_ANSWER_BURST", default=20)
QUIZ_ANSWER_RATE = env.float("QUIZ_ANSWER_RATE", default=5.0)

# Several chat processes (chat.cluster, BENCHMARKS.md "Scale-out"): with REDIS_URL every chat
# world (the shared one, and each room) lives in one owner process, elected with a Redis
# lease; the other processes forward their sockets' frames to it over the "chat" layer
# below. CHAT_CLUSTER=False keeps each process's chat on its own, as without Redis.
CHAT_CLUSTER = env.bool("CHAT_CLUSTER", default=bool(REDIS_URL))
# A dead process is noticed within this: leases and heartbeats live this long in Redis
# unless renewed (every fifth of it).
CHAT_LEASE_SECONDS = env.float("CHAT_LEASE_SECONDS", default=5)
if REDIS_URL:
    CHANNEL_LAYERS["chat"] = {
        "BACKEND": "channels_redis.core.RedisChannelLayer",
        "CONFIG": {
            "hosts": [{"address": REDIS_URL, "socket_timeout": 15}],  # as for "default"
            "prefix": env.str("CHANNEL_LAYER_PREFIX", default="courseware") + "-chat",
            # Batches waiting in Redis for one process. A full channel is back-pressure,
            # never a drop: the sender waits and sends more per batch. Small keeps the
            # queue short: measured, 5000 let a backlog of tiny batches build (p99 1.8 s).
            "capacity": env.int("CHAT_LAYER_CAPACITY", default=16),
            "expiry": 60,
        },
    }
# Rooms: ws://host:4000/rooms/<name> is a chat of its own (students' self-checks, several
# graders on one server); every other path is the one shared room, as with the reference,
# so a client written for the reference never notices. Off: every path is the shared room.
CHAT_ROOMS = env.bool("CHAT_ROOMS", default=True)
CHAT_MAX_ROOMS = env.int("CHAT_MAX_ROOMS", default=1000)
# A room nobody is connected to is forgotten after this (its users and messages with it).
CHAT_ROOM_IDLE_SECONDS = env.float("CHAT_ROOM_IDLE_SECONDS", default=3600)
