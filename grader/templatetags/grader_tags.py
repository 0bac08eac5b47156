from __future__ import annotations

from django import template

from courseware.roles import is_mentor

register = template.Library()


@register.filter
def can_grade(user: object) -> bool:
    """Mentors and admins: they get the grader console."""
    return is_mentor(user)  # type: ignore[arg-type]


@register.filter
def status_label(status: str) -> str:
    return {"not_observed": "not observed"}.get(status, status)
