"""The mentor pages, under /mentor/ (included from courseware/urls.py)."""

from __future__ import annotations

from django.urls import path

from quizzes import mentor_views

app_name = "mentor"

urlpatterns = [
    path("", mentor_views.scores, name="scores"),
    path("scores.csv", mentor_views.scores_csv, name="scores_csv"),
    path("students/<int:user_id>/", mentor_views.student, name="student"),
    path("attempts/<int:attempt_id>/", mentor_views.attempt, name="attempt"),
    path("tests/<slug:slug>/analytics/", mentor_views.quiz_analytics, name="analytics"),
    path("live/", mentor_views.live, name="live"),
]
