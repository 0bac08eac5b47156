"""The module page: its YAML loader, its errors, and how it renders."""

from __future__ import annotations

import re
from pathlib import Path

import pytest
from django.core.management import CommandError, call_command

from courseware.models import Module, Objective, Resource
from courseware.modules import modules_load
from courseware.yamlspec import SpecError

FIXTURE = "fixtures/modules/st2-websockets.yaml"
GOOD = """\
slug: demo
title: Demo
summary: A demo module.
hours: 2
overview: Some *words*.
objectives:
  - key: one
    text: First objective.
theory:
  - title: Group
    resources:
      - title: A link
        url: https://example.org/
        objectives: [one]
"""


def write(tmp_path, text, name="module.yaml"):
    path = tmp_path / name
    path.write_text(text)
    return path


def snapshot():
    return (
        list(Module.objects.values_list("slug", "title", "hours")),
        list(Objective.objects.values_list("key", "text")),
        list(Resource.objects.values_list("title", "url")),
    )


def test_the_fixture_loads_with_five_objectives_and_four_theory_groups(module):
    assert module.title == "[Stage#2] WebSockets"
    assert module.hours == 4
    assert list(module.objectives.values_list("key", flat=True)) == [
        "principles",
        "connect",
        "messaging",
        "security",
        "chat",
    ]
    groups = module.resources.filter(section="theory").values_list("group", flat=True)
    assert list(dict.fromkeys(groups)) == [
        "Introduction to WebSockets",
        "Implementing WebSockets in JavaScript",
        "Securing WebSocket Connections",
        "Lecture Videos",
    ]


def test_loading_the_same_file_twice_keeps_objective_ids(module):
    ids = list(module.objectives.values_list("id", flat=True))
    before = snapshot()
    call_command("load_module", FIXTURE, verbosity=0)
    assert list(module.objectives.values_list("id", flat=True)) == ids
    assert snapshot() == before


@pytest.mark.parametrize(
    ("text", "line", "field", "message"),
    [
        (GOOD.replace("hours: 2", "hours: two"), 4, "hours", "valid integer"),
        (GOOD.replace("hours: 2\n", ""), 1, "hours", "Field required"),
        (GOOD.replace("title: Demo", "title: Demo\ncolour: red"), 3, "colour", "Extra inputs"),
        (
            GOOD.replace("url: https://example.org/", "url: javascript:alert(1)"),
            13,
            "theory[0].resources[0].url",
            "should match pattern",
        ),
        (
            GOOD.replace("objectives: [one]", "objectives: [two]"),
            14,
            "theory[0].resources[0].objectives[0]",
            "unknown objective 'two'",
        ),
        (
            GOOD.replace("summary: A demo module.", "summary: A demo module.\nhours: 3"),
            5,
            "hours",
            "duplicate key",
        ),
        (
            GOOD.replace("theory:", "  - key: one\n    text: Again.\ntheory:"),
            9,
            "objectives[1].key",
            "duplicate objective key 'one'",
        ),
        (GOOD.replace("slug: demo", "slug: Demo Module"), 1, "slug", "should match pattern"),
        (GOOD.replace("overview: Some *words*.", "overview: [unclosed"), 6, "", "invalid YAML"),
    ],
    ids=[
        "wrong-type",
        "missing",
        "unknown-key",
        "bad-url",
        "unknown-objective",
        "duplicate-key",
        "duplicate-objective",
        "bad-slug",
        "syntax",
    ],
)
def test_a_bad_file_names_file_line_and_field_and_changes_nothing(
    tmp_path, module, text, line, field, message
):
    path = write(tmp_path, text)
    before = snapshot()
    with pytest.raises(SpecError) as caught:
        modules_load([FIXTURE, path])
    problem = caught.value.problems[0]
    assert (problem.path, problem.line, problem.field) == (str(path), line, field)
    assert message in problem.message
    assert snapshot() == before


def test_the_command_reports_every_problem_and_loads_nothing(tmp_path, db):
    bad = write(tmp_path, GOOD.replace("hours: 2", "hours: -1").replace("Demo\n", "\n"))
    with pytest.raises(CommandError) as caught:
        call_command("load_module", FIXTURE, str(bad), verbosity=0)
    text = str(caught.value)
    assert f"{bad}:4: hours: Input should be greater than 0" in text
    assert f"{bad}:2: title:" in text
    assert "nothing loaded" in text
    assert not Module.objects.exists()


def test_check_only_validates(tmp_path, db, capsys):
    call_command("load_module", FIXTURE, "--check")
    assert "Valid: 1 module(s): st2-websockets" in capsys.readouterr().out
    assert not Module.objects.exists()


def test_home_lists_modules_and_the_module_page_shows_everything(client, module):
    home = client.get("/")
    assert module.title in home.content.decode()
    page = client.get(module.get_absolute_url())
    html = page.content.decode()
    assert "Approximate completion time" in html and "4 hours" in html
    for objective in module.objectives.all():
        assert objective.text in html
    for resource in module.resources.all():
        assert resource.title in html
        assert f'href="{resource.url}"' in html
    assert 'href="/quizzes/st2-websockets/"' in html


def test_markdown_in_a_module_is_rendered_without_script(tmp_path, db, client):
    evil = GOOD.replace("overview: Some *words*.", 'overview: "*hi* <script>alert(1)</script>"')
    modules_load([write(tmp_path, evil)])
    html = client.get("/modules/demo/").content.decode()
    assert "<em>hi</em>" in html
    assert "<script>alert(1)" not in html


def test_an_unknown_module_is_404(client, db):
    assert client.get("/modules/nope/").status_code == 404


def test_dropping_an_objective_that_questions_use_is_a_located_error_that_changes_nothing(
    tmp_path, module
):
    call_command("load_quiz", "fixtures/quizzes/st2-websockets.yaml", verbosity=0)
    text = Path(FIXTURE).read_text()
    dropped = text.replace(
        "  - key: security\n    text: Explore best practices for securing WebSocket connections.\n",
        "",
    )
    dropped = re.sub(r"(, )?\bsecurity\b(, )?", lambda m: ", " if m[1] and m[2] else "", dropped)
    path = write(tmp_path, dropped)
    before = snapshot()
    for check_only in (True, False):
        with pytest.raises(SpecError) as caught:
            modules_load([path], check_only=check_only)
        (problem,) = caught.value.problems
        assert (problem.path, problem.field) == (str(path), "objectives")
        assert problem.line == dropped.splitlines().index("objectives:") + 1
        assert "still used by quiz questions: security" in problem.message
        assert snapshot() == before
