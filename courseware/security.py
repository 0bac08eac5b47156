"""Login throttling and the Content-Security-Policy: the pieces our settings plug in.

django-axes counts failed logins and django-csp writes the policy header; this module holds
what they leave to the project: which logins are throttled, what a locked-out client sees,
and the page's own WebSocket origins in connect-src.
"""

from __future__ import annotations

import math
from typing import Any

from axes.backends import AxesStandaloneBackend  # type: ignore[import-untyped]
from axes.helpers import (  # type: ignore[import-untyped]
    get_client_ip_address,
    get_client_username,
    get_cool_off,
)
from axes.models import AccessAttempt  # type: ignore[import-untyped]
from csp.middleware import CSPMiddleware, PolicyParts
from django.contrib import admin
from django.contrib.auth.forms import AuthenticationForm
from django.core.exceptions import DisallowedHost
from django.db.models import Max
from django.http import HttpRequest, HttpResponse, HttpResponseBase
from django.shortcuts import render
from django.urls import reverse
from django.utils import timezone


class LoginThrottleBackend(AxesStandaloneBackend):
    """Axes' lockout check, for logins that come with a request."""

    def authenticate(
        self,
        request: HttpRequest | None,
        username: str | None = None,
        password: str | None = None,
        **kwargs: Any,
    ) -> None:
        # Without a request (the test client's login(), a shell) there is no client address
        # to throttle; axes would raise instead of letting the next backend answer.
        if request is None:
            return None
        return super().authenticate(request, username, password, **kwargs)


def lockout_message(request: HttpRequest) -> str:
    """What a locked-out client is told, with the wait left in whole minutes."""
    cool_off = get_cool_off(request)
    if not cool_off:
        return "Too many failed logins for this account from your address. Ask an admin."
    # The lockout ends a cool-off after the failure that started it: tries since then are
    # not recorded (AXES_RESET_COOL_OFF_ON_FAILURE_DURING_LOCKOUT is off).
    last_failure = AccessAttempt.objects.filter(
        username=get_client_username(request), ip_address=get_client_ip_address(request)
    ).aggregate(last=Max("attempt_time"))["last"]
    left = last_failure + cool_off - timezone.now() if last_failure else cool_off
    minutes = max(1, math.ceil(left.total_seconds() / 60))
    unit = "minute" if minutes == 1 else "minutes"
    return (
        f"Too many failed logins for this account from your address. Try again in {minutes} {unit}."
    )


def lockout_response(request: HttpRequest, *_ignored: object) -> HttpResponse:
    """The login page again, saying why the login was refused, with status 429.

    Axes calls this with the view's response in sync mode but with the credentials in its
    place under ASGI, so neither argument is used: the page is rendered afresh, with an
    empty form that never reaches authenticate() again (that would count as a failure).
    """
    message = lockout_message(request)
    username = request.POST.get("username", "")
    form = AuthenticationForm(request, initial={"username": username})
    if request.path == reverse("admin:login"):
        # The admin's template shows non-field errors. An unbound form has no cleaned_data,
        # which add_error() expects.
        form.cleaned_data = {}
        form.add_error(None, message)
        context = {
            **admin.site.each_context(request),
            "title": "Log in",
            "app_path": request.get_full_path(),
            "form": form,
            "next": request.POST.get("next", reverse("admin:index")),
        }
        return render(request, "admin/login.html", context, status=429)
    context = {"form": form, "lockout": message, "next": request.POST.get("next", "")}
    return render(request, "registration/login.html", context, status=429)


class ContentSecurityPolicyMiddleware(CSPMiddleware):
    """django-csp's policy, with the page's own ws:// and wss:// origin in connect-src.

    The attempt page, the mentors' live view and the grader console open their socket on
    the host that served the page. CSP level 3 lets 'self' cover that, but older Safari
    does not, so the origin is also named.
    """

    def get_policy_parts(
        self, request: HttpRequest, response: HttpResponseBase, report_only: bool = False
    ) -> PolicyParts:
        parts = super().get_policy_parts(request, response, report_only)
        try:
            host = request.get_host()
        except DisallowedHost:
            return parts  # answered with a 400 already; no page will open a socket
        if host.startswith("["):
            return parts  # CSP has no syntax for IPv6 literals; 'self' covers them
        sockets = [f"ws://{host}", f"wss://{host}"]
        update = dict(parts.update or {})
        update["connect-src"] = [*update.get("connect-src", []), *sockets]
        parts.update = update
        return parts
