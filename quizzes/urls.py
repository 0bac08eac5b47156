"""Student pages of the tests, under /quizzes/."""

from __future__ import annotations

from django.urls import path

from quizzes import views

app_name = "quizzes"

urlpatterns = [
    path("<slug:slug>/", views.quiz_detail, name="quiz"),
    path("<slug:slug>/start/", views.start, name="start"),
    path("<slug:slug>/attempts/<int:pk>/", views.attempt_page, name="attempt"),
    path("<slug:slug>/attempts/<int:pk>/submit/", views.confirm, name="confirm"),
    path("<slug:slug>/attempts/<int:pk>/result/", views.result, name="result"),
    path("<slug:slug>/attempts/<int:pk>/review/", views.review, name="review"),
]
