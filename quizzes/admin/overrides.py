"""Per-student exceptions in the admin: staff grant them for anyone; grants are never edited."""

from __future__ import annotations

from typing import Any

from django.contrib import admin
from django.contrib.auth.models import User
from django.forms import ModelForm
from django.http import HttpRequest

from quizzes.models import Override
from quizzes.overrides import override_grant


@admin.register(Override)
class OverrideAdmin(admin.ModelAdmin):
    list_display = ["user", "quiz", "granted_display", "granted_by", "granted_at"]
    list_filter = ["quiz"]
    search_fields = ["user__username", "quiz__slug", "reason"]
    list_select_related = ["user", "quiz", "granted_by"]
    autocomplete_fields = ["user"]
    fields = [
        "quiz",
        "user",
        "extra_attempts",
        "waive_cooldown",
        "time_limit_minutes",
        "closes_at",
        "reason",
        "granted_by",
        "granted_at",
    ]
    readonly_fields = ["granted_by", "granted_at"]

    def has_change_permission(self, request: HttpRequest, obj: Any = None) -> bool:
        # A grant is an audit record: to change one, add another (or delete a mistake).
        return obj is None and super().has_change_permission(request, obj)

    @admin.display(description="granted")
    def granted_display(self, obj: Override) -> str:
        return ", ".join(obj.granted())

    def save_model(
        self, request: HttpRequest, obj: Override, form: ModelForm, change: bool
    ) -> None:
        # The same path as the mentors' form: who and when are recorded, and an attempt
        # in progress gets its new deadline.
        assert isinstance(request.user, User)  # the admin lets only signed-in staff this far
        override_grant(override=obj, granted_by=request.user)
