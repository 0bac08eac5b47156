"""The grader's site pages, under /chat/ (the console and the check reports)."""

from __future__ import annotations

from django.urls import path

from grader import views

# The namespace the pages had in the chat app, so every link and reverse() stays the same.
app_name = "chat"

urlpatterns = [
    path("console/", views.console, name="console"),
    path("self-check/", views.self_check, name="self_check"),
    path("reports/", views.report_list, name="reports"),
    path("reports/<int:pk>/", views.report_detail, name="report"),
    path("reports/<int:pk>.md", views.report_markdown, name="report_md"),
    path("reports/<int:pk>.json", views.report_json, name="report_json"),
]
