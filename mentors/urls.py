"""The mentor pages, under /mentor/ (included from courseware/urls.py)."""

from __future__ import annotations

from django.urls import path

from mentors import views

app_name = "mentor"

urlpatterns = [
    path("", views.scores, name="scores"),
    path("scores.csv", views.scores_csv, name="scores_csv"),
    path("students/<int:user_id>/", views.student, name="student"),
    path("students/<int:user_id>/overrides/", views.grant_override, name="grant_override"),
    path("attempts/<int:attempt_id>/", views.attempt, name="attempt"),
    path("tests/<slug:slug>/analytics/", views.quiz_analytics, name="analytics"),
    path("live/", views.live, name="live"),
]
