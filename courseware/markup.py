"""Markdown to safe HTML, for module and question texts written by admins.

Rendering is pure (the same text always gives the same HTML) and costs far more than a
page's queries, while the texts change rarely: a question version that an attempt drew
never changes at all. So each distinct text is rendered once per process and kept in a
bounded LRU keyed by the text itself: an edited text is a new key, so nothing stale is
ever served, and no version row needs a column or an invalidation step.
"""

from __future__ import annotations

from functools import lru_cache

import markdown
import nh3
from django.utils.safestring import SafeString, mark_safe

ALLOWED_TAGS = {
    "p",
    "br",
    "em",
    "strong",
    "code",
    "pre",
    "ul",
    "ol",
    "li",
    "a",
    "blockquote",
    "h3",
    "h4",
    "hr",
    "table",
    "thead",
    "tbody",
    "tr",
    "th",
    "td",
    "span",
    "div",
}


# Enough for every text of several banks and modules (the St2 bank has about 700).
CACHED_TEXTS = 8192


@lru_cache(maxsize=CACHED_TEXTS)
def render_markdown(text: str) -> SafeString:
    """Render Markdown, then strip anything that could run script (nh3 allow-list)."""
    html = markdown.markdown(text, extensions=["fenced_code", "tables", "sane_lists"])
    clean = nh3.clean(
        html,
        tags=ALLOWED_TAGS,
        attributes={"a": {"href", "title"}, "code": {"class"}, "span": {"class"}},
        url_schemes={"http", "https", "mailto"},
    )
    return mark_safe(clean)  # noqa: S308 - sanitised by nh3 above


@lru_cache(maxsize=CACHED_TEXTS)
def render_inline(text: str) -> SafeString:
    """Render an option's Markdown without the paragraph around it, to sit in a label."""
    html = str(render_markdown(text)).strip()
    if html.startswith("<p>") and html.endswith("</p>") and html.count("<p>") == 1:
        html = html[3:-4]
    return mark_safe(html)  # noqa: S308 - sanitised by render_markdown
