from __future__ import annotations

from itertools import groupby

from django.http import HttpRequest, HttpResponse, JsonResponse
from django.shortcuts import get_object_or_404, redirect, render
from django.templatetags.static import static
from django.views.decorators.cache import never_cache
from django.views.decorators.http import require_GET

from courseware.models import Module, Resource


def home(request: HttpRequest) -> HttpResponse:
    modules = Module.objects.all()
    return render(request, "courseware/home.html", {"modules": modules})


def module_detail(request: HttpRequest, slug: str) -> HttpResponse:
    module = get_object_or_404(Module, slug=slug)
    resources = list(module.resources.order_by("position"))
    theory = [r for r in resources if r.section == Resource.Section.THEORY]
    context = {
        "module": module,
        "objectives": module.objectives.all(),
        "theory_groups": [(g, list(items)) for g, items in groupby(theory, lambda r: r.group)],
        "practice": [r for r in resources if r.section == Resource.Section.PRACTICE],
        "additional": [r for r in resources if r.section == Resource.Section.ADDITIONAL],
    }
    return render(request, "courseware/module_detail.html", context)


@never_cache
@require_GET
def session_status(request: HttpRequest) -> JsonResponse:
    """Whether this browser's session is still logged in; nothing else.

    A page script asks after its WebSocket is refused: a browser never sees the
    handshake's 403, so this tells "logged out" apart from "server down".
    """
    return JsonResponse({"authenticated": request.user.is_authenticated})


@require_GET
def favicon(request: HttpRequest) -> HttpResponse:
    """/favicon.ico, which browsers fetch unasked: a redirect to the site's SVG icon."""
    response = redirect(static("courseware/favicon.svg"))
    # Not permanent: the icon's static URL changes with its content once hashed.
    response["Cache-Control"] = "max-age=86400"
    return response
