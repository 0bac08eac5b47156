from django.contrib import admin
from django.urls import include, path

from courseware import views

urlpatterns = [
    path("", views.home, name="home"),
    path("favicon.ico", views.favicon, name="favicon"),
    path("modules/<slug:slug>/", views.module_detail, name="module"),
    path("accounts/session/", views.session_status, name="session-status"),
    path("accounts/", include("django.contrib.auth.urls")),
    path("admin/", admin.site.urls),
    path("chat/", include("grader.urls")),
    path("mentor/", include("mentors.urls")),
    path("quizzes/", include("quizzes.urls")),
]
