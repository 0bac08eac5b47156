from __future__ import annotations

from itertools import groupby

from django.http import HttpRequest, HttpResponse
from django.shortcuts import get_object_or_404, render

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
