"""Template filters for the mentor pages and the nav link to them."""

from __future__ import annotations

from django import template

from courseware.roles import is_mentor

register = template.Library()


@register.filter
def sees_mentor_pages(user: object) -> bool:
    """Mentors and staff get the mentor pages (which show only the students they may see)."""
    return is_mentor(user)  # type: ignore[arg-type]


@register.filter
def percent(share: float | None) -> str:
    """0.833… → "83%"; None → "—"."""
    return "—" if share is None else f"{round(100 * share)}%"


@register.filter
def signed(value: float | None) -> str:
    """A correlation or difference with its sign and two decimals; None → "—"."""
    return "—" if value is None else f"{value:+.2f}"
