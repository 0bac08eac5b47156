"""A saved check report as JSON and as Markdown, and its frames made readable."""

from __future__ import annotations

import json
import re
from datetime import UTC, datetime
from typing import Any

from django.utils.text import slugify

from grader.checks import NOT_OBSERVED, clock
from grader.models import CheckReport

FORMAT = "courseware.chat-check/1"
ARROWS = {"in": "→ server", "out": "← server", "mark": "•"}
STATUS_LABELS = {"passed": "passed", "failed": "failed", NOT_OBSERVED: "not observed"}


def pretty(text: str) -> str:
    """A frame's JSON indented, or the text as it came if it is not JSON."""
    try:
        return json.dumps(json.loads(text), indent=2, ensure_ascii=False)
    except ValueError:
        return text


def frame_heading(frame: dict[str, Any]) -> str:
    """One line: time, direction, connection, user and type."""
    parts = [clock(frame["t"]), ARROWS.get(frame["dir"], frame["dir"])]
    if frame.get("conn") is not None:
        parts.append(f"#{frame['conn']}")
    if frame.get("login") is not None:
        parts.append(repr(frame["login"]))
    if frame.get("bot"):
        parts.append("(bot)")
    if frame.get("type"):
        parts.append(frame["type"])
    return " ".join(parts)


def readable(frame: dict[str, Any]) -> dict[str, Any]:
    """A stored frame plus its heading and indented JSON, for templates."""
    return {**frame, "heading": frame_heading(frame), "pretty": pretty(frame.get("text", ""))}


def filename(report: CheckReport, extension: str) -> str:
    return f"chat-check-{slugify(report.login)[:40] or 'client'}-{report.pk}.{extension}"


def _when(value: datetime | None) -> str | None:
    return value.astimezone(UTC).isoformat() if value else None


def _who(user: Any) -> dict[str, Any] | None:
    if user is None:
        return None
    return {"id": user.pk, "username": user.get_username(), "name": user.get_full_name()}


def as_json(report: CheckReport) -> dict[str, Any]:
    passed, observed = report.points
    return {
        "format": FORMAT,
        "id": report.pk,
        "login": report.login,
        "student": _who(report.student),
        "grader": _who(report.grader),
        "status": report.status,
        "self_check": report.self_check,
        "started_at": _when(report.started_at),
        "finished_at": _when(report.finished_at),
        "counts": report.counts,
        "points": {"passed": passed, "observed": observed},
        "items": report.items,
        "timeline": report.timeline,
        "transcript": report.transcript,
        "dropped_frames": report.dropped_frames,
        "options": report.options,
        "note": report.note,
    }


_MD_SPECIAL = re.compile(r"([\\`*_{}\[\]<>()#+!|])")


def md(text: Any) -> str:
    """Text safe inside a Markdown paragraph or table cell."""
    return _MD_SPECIAL.sub(r"\\\1", str(text)).replace("\r", " ").replace("\n", " ")


def _fence(text: str) -> str:
    """A fence longer than any backtick run in the text."""
    longest = max((len(m) for m in re.findall(r"`+", text)), default=0)
    return "`" * max(3, longest + 1)


def as_markdown(report: CheckReport) -> str:
    counts = report.counts
    passed, observed = report.points
    student = report.student.get_username() if report.student else "not linked to an account"
    lines = [
        f"# Fun Chat client check: {md(report.login)}",
        "",
        f"- Student: {md(student)}",
        f"- Grader: {md(report.grader.get_username() if report.grader else '-')}",
        f"- Started: {_when(report.started_at)}",
        f"- Finished: {_when(report.finished_at) or '-'}",
        f"- Status: {report.get_status_display()}",
        *(
            ["- Self-check: run by the student; it does not count as a grade"]
            if report.self_check
            else []
        ),
        f"- Result: {counts['passed']} passed, {counts['failed']} failed, "
        f"{counts[NOT_OBSERVED]} not observed; {passed} of {observed} points observed passed",
        "",
        "Passed means the server saw the client do its part of the item; what the screen "
        "shows is still for the grader to judge. Times are UTC.",
        "",
        "| Item | Points | Result | Summary |",
        "|---|---|---|---|",
    ]
    for item in report.items:
        lines.append(
            f"| {item['code']} {md(item['title'])} | {item['points'] or '-'} | "
            f"{STATUS_LABELS.get(item['status'], item['status'])} | {md(item['summary'])} |"
        )
    for item in report.items:
        lines += [
            "",
            f"## {item['code']} {md(item['title'])}: "
            f"{STATUS_LABELS.get(item['status'], item['status'])}",
            "",
            md(item["summary"]),
        ]
        if item["details"]:
            lines.append("")
            lines += [f"- {md(detail)}" for detail in item["details"]]
        for frame in item["evidence"]:
            text = frame.get("text", "")
            body = pretty(text) or frame.get("type") or ""
            language = "json" if body != text or text.startswith("{") else "text"
            fence = _fence(body)
            lines += ["", f"{md(frame_heading(frame))}:", "", f"{fence}{language}", body, fence]
    if report.timeline:
        lines += ["", "## Timeline", ""]
        lines += [
            f"- {clock(m['t'])} {md(m.get('note') or m.get('name'))}" for m in report.timeline
        ]
    if report.dropped_frames:
        lines += ["", f"{report.dropped_frames} frame(s) were left out of the recording."]
    return "\n".join(lines) + "\n"
