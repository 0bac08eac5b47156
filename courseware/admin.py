from __future__ import annotations

from django.contrib import admin
from django.contrib.auth.admin import UserAdmin
from django.contrib.auth.models import User

from courseware.models import Mentorship, Module, Objective, Resource


class ObjectiveInline(admin.TabularInline):
    model = Objective
    extra = 0


@admin.register(Module)
class ModuleAdmin(admin.ModelAdmin):
    list_display = ["title", "slug", "hours", "position"]
    search_fields = ["title", "slug"]
    inlines = [ObjectiveInline]


@admin.register(Resource)
class ResourceAdmin(admin.ModelAdmin):
    list_display = ["title", "module", "section", "group", "url"]
    list_filter = ["module", "section"]
    search_fields = ["title", "url"]


@admin.register(Mentorship)
class MentorshipAdmin(admin.ModelAdmin):
    list_display = ["mentor", "student", "created_at"]
    list_filter = [("mentor", admin.RelatedOnlyFieldListFilter)]
    search_fields = ["mentor__username", "student__username", "student__email"]
    autocomplete_fields = ["mentor", "student"]
    list_select_related = ["mentor", "student"]


class StudentsInline(admin.TabularInline):
    """On a mentor's page: the students assigned to them."""

    model = Mentorship
    fk_name = "mentor"
    extra = 0
    autocomplete_fields = ["student"]
    verbose_name = "assigned student"
    verbose_name_plural = "Students this account mentors"


class MentorsInline(admin.TabularInline):
    """On a student's page: their mentors."""

    model = Mentorship
    fk_name = "student"
    extra = 0
    autocomplete_fields = ["mentor"]
    verbose_name = "mentor"
    verbose_name_plural = "Mentors of this account"


class UserWithMentorshipsAdmin(UserAdmin):
    inlines = [*UserAdmin.inlines, StudentsInline, MentorsInline]


admin.site.unregister(User)
admin.site.register(User, UserWithMentorshipsAdmin)
