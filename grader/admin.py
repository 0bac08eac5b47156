from __future__ import annotations

from django.contrib import admin

from grader.models import CheckReport


@admin.register(CheckReport)
class CheckReportAdmin(admin.ModelAdmin):
    list_display = ["login", "student", "grader", "started_at", "status", "self_check"]
    list_filter = ["status", "self_check"]
    search_fields = ["login", "student__username"]
    list_select_related = ["student", "grader"]
    raw_id_fields = ["student", "grader"]
    # The verdicts are the server's record: only the student link and the note are edited.
    readonly_fields = [
        "login",
        "grader",
        "started_at",
        "finished_at",
        "status",
        "items",
        "timeline",
        "transcript",
        "dropped_frames",
        "options",
        "self_check",
    ]
