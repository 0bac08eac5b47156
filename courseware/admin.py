from __future__ import annotations

from django.contrib import admin

from courseware.models import Module, Objective, Resource


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
