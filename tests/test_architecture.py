"""The apps import each other one way only, as docs/architecture.md draws them."""

from __future__ import annotations

import ast
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parent.parent
# The project's wiring: the only modules of courseware that may name the apps.
WIRING = {
    "courseware/settings.py",
    "courseware/urls.py",
    "courseware/routing.py",
    "courseware/asgi.py",
    "courseware/wsgi.py",
    "courseware/management/commands/serve.py",
}
# The apps each app may import besides itself: the arrows of docs/architecture.md.
ALLOWED = {
    "courseware": set(),
    "quizzes": {"courseware"},
    "chat": {"courseware"},
    "grader": {"courseware", "chat"},
    "mentors": {"courseware", "quizzes", "grader", "chat"},
}


def imported_apps(source: str, *, package: str) -> set[str]:
    """The apps (of ALLOWED) that this module's source imports, nested imports included."""
    found: set[str] = set()
    for node in ast.walk(ast.parse(source)):
        if isinstance(node, ast.Import):
            found.update(alias.name.split(".")[0] for alias in node.names)
        elif isinstance(node, ast.ImportFrom):
            # A relative import stays inside the package it is written in.
            found.add(package if node.level else (node.module or "").split(".")[0])
    return found & set(ALLOWED)


def app_modules(app: str) -> list[Path]:
    return [
        path
        for path in sorted((ROOT / app).rglob("*.py"))
        if "migrations" not in path.parts and path.relative_to(ROOT).as_posix() not in WIRING
    ]


def test_every_app_has_its_arrows_declared():
    """A new app must say here (and in docs/architecture.md) what it may import."""
    apps = {path.parent.name for path in ROOT.glob("*/apps.py")}
    assert apps == set(ALLOWED)


def test_the_checker_sees_absolute_relative_and_nested_imports():
    """The check below would catch a forbidden import, wherever in the module it is."""
    source = (
        "import chat.protocol\n"
        "from . import data\n"
        "def late():\n"
        "    from quizzes.models import Attempt\n"
        "import json\n"
    )
    assert imported_apps(source, package="mentors") == {"chat", "mentors", "quizzes"}


@pytest.mark.parametrize("app", sorted(ALLOWED))
def test_an_app_imports_only_the_apps_below_it(app):
    """courseware imports no app (its wiring aside); quizzes and chat never import each
    other; nothing imports mentors, and chat never imports grader."""
    wrong = {
        f"{path.relative_to(ROOT)} imports {other}"
        for path in app_modules(app)
        for other in imported_apps(path.read_text(), package=app) - ALLOWED[app] - {app}
    }
    assert not wrong, sorted(wrong)
