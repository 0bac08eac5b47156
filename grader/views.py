"""The grader console page and the saved check reports (HTML, Markdown, JSON)."""

from __future__ import annotations

import json

from django.conf import settings
from django.contrib.auth.decorators import login_required
from django.core.exceptions import PermissionDenied
from django.http import HttpRequest, HttpResponse
from django.shortcuts import get_object_or_404, render

from chat import cluster, rooms
from courseware import serving
from courseware.mentoring import students_visible_to
from courseware.roles import SignedInRequest, is_mentor
from grader import bridge, reports, selfcheck
from grader.checkrun import RunOptions
from grader.checks import ITEMS
from grader.commands import OPTION_RANGES
from grader.models import CheckReport


def _report_for(request: HttpRequest, pk: int) -> CheckReport:
    """The report if this user may see it; 404 otherwise, so others' reports stay unknown."""
    queryset = CheckReport.objects.visible_to(request.user).select_related("student", "grader")
    return get_object_or_404(queryset, pk=pk)


def _room(request: HttpRequest) -> str:
    """The room the console watches: ?room=<name>, else ?world=<key>, else the shared one."""
    name = request.GET.get("room", "").strip()
    if name:
        return rooms.parse_room(rooms.ROOM_PREFIX + name.lower()) or rooms.SHARED
    return rooms.parse_room(request.GET.get("world", rooms.SHARED)) or rooms.SHARED


@login_required
def console(request: HttpRequest) -> HttpResponse:
    if not is_mentor(request.user):
        raise PermissionDenied("The chat console is for mentors and admins.")
    # The shared room by default: that is where a client built for ws://localhost:4000
    # connects, unchanged. A check leaves no bots or offline students behind in it
    # (CheckRun._leave); a grader who wants a room of their own picks one on the page.
    students = students_visible_to(request.user).order_by("username")
    defaults = RunOptions()
    room = _room(request)
    # The rooms that exist now: with the cluster, those any process owns (their leases in
    # Redis); otherwise those this process holds. The shared and the current room are
    # always offered, even before anyone connects to them.
    if settings.REDIS_URL and settings.CHAT_CLUSTER:
        held = cluster.cluster_rooms()
    elif serving.chat_console() is not None and not settings.REDIS_URL:
        # `manage.py serve`: the rooms live in the chat process; ask it (grader.bridge).
        origin = request.build_absolute_uri("/").rstrip("/")
        held = bridge.chat_rooms(cookie=request.META.get("HTTP_COOKIE", ""), origin=origin)
    else:
        held = [w.key for w in rooms.list_rooms()]
    known = {key: rooms.room_label(key) for key in [rooms.SHARED, *held, room]}
    context = {
        # The page's names keep the ?world= parameter's word.
        "world": room,
        "world_label": rooms.room_label(room),
        "worlds": sorted(known.items(), key=lambda kv: (kv[0] != rooms.SHARED, kv[0])),
        "rooms": settings.CHAT_ROOMS,
        "students": students,
        "items": ITEMS,
        "chat_port": settings.CHAT_PORT,
        "over_redis": bool(settings.REDIS_URL),
        "options": {key: getattr(defaults, key) for key in OPTION_RANGES},
    }
    return render(request, "grader/console.html", context)


@login_required
def self_check(request: SignedInRequest) -> HttpResponse:
    """A student runs the automatic check on their own client, in their private room."""
    defaults = RunOptions()
    mine = CheckReport.objects.done().filter(student=request.user, self_check=True)
    context = {
        "rooms": settings.CHAT_ROOMS,
        "client_url": selfcheck.client_url(request.user),
        "items": ITEMS,
        "options": {key: getattr(defaults, key) for key in OPTION_RANGES},
        "reports": mine[:20],
    }
    return render(request, "grader/self_check.html", context)


@login_required
def report_list(request: HttpRequest) -> HttpResponse:
    mentor = is_mentor(request.user)
    queryset = CheckReport.objects.visible_to(request.user).select_related("student", "grader")
    return render(request, "grader/report_list.html", {"reports": queryset[:200], "mentor": mentor})


@login_required
def report_detail(request: HttpRequest, pk: int) -> HttpResponse:
    report = _report_for(request, pk)
    items = [
        {**item, "evidence": [reports.readable(f) for f in item["evidence"]]}
        for item in report.items
    ]
    transcript = [reports.readable(f) for f in report.transcript[:1000]]
    context = {
        "report": report,
        "items": items,
        "transcript": transcript,
        "transcript_more": max(0, len(report.transcript) - len(transcript)),
        "timeline": [{**m, "clock": reports.clock(m["t"])} for m in report.timeline],
        "mentor": is_mentor(request.user),
    }
    return render(request, "grader/report_detail.html", context)


@login_required
def report_markdown(request: HttpRequest, pk: int) -> HttpResponse:
    report = _report_for(request, pk)
    response = HttpResponse(
        reports.as_markdown(report), content_type="text/markdown; charset=utf-8"
    )
    response["Content-Disposition"] = f'attachment; filename="{reports.filename(report, "md")}"'
    return response


@login_required
def report_json(request: HttpRequest, pk: int) -> HttpResponse:
    report = _report_for(request, pk)
    body = json.dumps(reports.as_json(report), indent=2, ensure_ascii=False)
    response = HttpResponse(body, content_type="application/json; charset=utf-8")
    response["Content-Disposition"] = f'attachment; filename="{reports.filename(report, "json")}"'
    return response
