"""Helpers for the admin tests: read a change form as a browser would submit it."""

from __future__ import annotations

import re
from html.parser import HTMLParser

from courseware.models import Objective


class FormFields(HTMLParser):
    """What a browser would submit for the page's main form, as a dict of lists."""

    def __init__(self) -> None:
        super().__init__()
        self.data: dict[str, list[str]] = {}
        self._textarea: str | None = None
        self._select: str | None = None
        self._selected = False

    def handle_starttag(self, tag: str, attrs: list) -> None:
        a = dict(attrs)
        name = a.get("name")
        if tag == "input" and name and "disabled" not in a:
            kind = a.get("type", "text")
            if kind in ("checkbox", "radio"):
                if "checked" in a:
                    self.data.setdefault(name, []).append(a.get("value", "on"))
            elif kind not in ("submit", "button", "file"):
                self.data.setdefault(name, []).append(a.get("value", ""))
        elif tag == "textarea" and name:
            self._textarea = name
            self.data[name] = [""]
        elif tag == "select" and name:
            self._select, self._selected = name, False
            self.data.setdefault(name, [])
        elif tag == "option" and self._select and "selected" in a:
            self.data[self._select].append(a.get("value", ""))

    def handle_endtag(self, tag: str) -> None:
        if tag == "textarea":
            self._textarea = None
        elif tag == "select":
            self._select = None

    def handle_data(self, data: str) -> None:
        if self._textarea:
            self.data[self._textarea][0] += data


def form_of(response) -> dict[str, list[str]]:
    html = response.content.decode()
    body = html[html.index('method="post" id=') :]
    body = body[: body.index("</form>")]
    parser = FormFields()
    parser.feed(body)
    parser.close()
    # The browser drops the one newline Django's textarea template puts after the tag.
    return {
        name: [v.removeprefix("\n") for v in values] if name in textareas(html) else values
        for name, values in parser.data.items()
    }


def textareas(html: str) -> set[str]:
    return set(re.findall(r'<textarea name="([^"]+)"', html))


def new_question_data(admin_client, quiz, **changes) -> dict[str, list[str]]:
    data = form_of(admin_client.get("/admin/quizzes/question/add/"))
    data.update(
        {
            "quiz": [str(quiz.pk)],
            "key": ["binary-type"],
            "position": ["9"],
            "is_active": ["on"],
            "kind": ["single"],
            "objective": [str(Objective.objects.get(key="messaging").pk)],
            "text": ["Which `binaryType` gives you an `ArrayBuffer`?"],
            "explanation": ["Set it to `arraybuffer`; the default is `blob`."],
            "source": ["https://developer.mozilla.org/en-US/docs/Web/API/WebSocket/binaryType"],
            "options-0-text": ['`"arraybuffer"`'],
            "options-0-correct": ["on"],
            "options-1-text": ['`"blob"`'],
            "options-2-text": ['`"buffer"`'],
        }
    )
    data.update(changes)
    return data
