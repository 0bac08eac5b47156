"""Student pages of the tests, under /quizzes/."""

from __future__ import annotations

from django.urls import path
from django.views.decorators.cache import never_cache

from quizzes import views

app_name = "quizzes"

urlpatterns = [
    path("<slug:slug>/", views.quiz_detail, name="quiz"),
    path("<slug:slug>/start/", views.start, name="start"),
    # Pages of one attempt are never stored (Cache-Control: no-store): not by a shared
    # computer's browser for the next person, nor by a proxy, and Back shows the live state.
    path("<slug:slug>/attempts/<int:pk>/", never_cache(views.attempt_page), name="attempt"),
    path("<slug:slug>/attempts/<int:pk>/submit/", never_cache(views.confirm), name="confirm"),
    path("<slug:slug>/attempts/<int:pk>/result/", never_cache(views.result), name="result"),
    path("<slug:slug>/attempts/<int:pk>/review/", never_cache(views.review), name="review"),
]
