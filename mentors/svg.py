"""Bar charts as inline SVG, drawn on the server: no JavaScript, no charting library.

Each chart is an <svg role="img"> named by its <title> and described by a <desc>
that states every value, and every bar carries its number as visible text, so a
screen reader and a printout get the same facts as the picture.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass

from django.utils.html import format_html, format_html_join
from django.utils.safestring import SafeString, mark_safe

from mentors.analytics import Bin

WIDTH = 640
BAR = "#1f5fbf"  # the site's accent colour; 6.0:1 against white
MARK = "#b3261e"
INK = "#1d2330"
MUTED = "#566074"
GRID = "#d9dde5"
FONT = 'font-family="system-ui, sans-serif" font-size="13"'


@dataclass(frozen=True)
class Row:
    """One horizontal bar: a label, a share from 0 to 1 (or None: no data), its text."""

    label: str
    value: float | None
    text: str


def _fmt(x: float) -> str:
    return f"{x:.1f}".rstrip("0").rstrip(".")


def _svg(*, chart_id: str, height: int, title: str, desc: str, body: SafeString) -> SafeString:
    return format_html(
        '<svg xmlns="http://www.w3.org/2000/svg" class="chart" id="{id}" role="img" '
        'viewBox="0 0 {w} {h}" width="100%" preserveAspectRatio="xMinYMin meet" '
        'aria-labelledby="{id}-title {id}-desc" {font}>'
        '<title id="{id}-title">{title}</title><desc id="{id}-desc">{desc}</desc>{body}</svg>',
        id=chart_id,
        w=WIDTH,
        h=height,
        font=mark_safe(FONT),  # noqa: S308 - a constant
        title=title,
        desc=desc,
        body=body,
    )


def histogram(
    bins: Sequence[Bin], *, chart_id: str, title: str, threshold: int | None = None
) -> SafeString:
    """Vertical bars of counts per percent range, with the pass threshold as a dashed line."""
    left, right, top, bottom = 40, 16, 24, 48
    height = 260
    plot_w, plot_h = WIDTH - left - right, height - top - bottom
    peak = max((b.count for b in bins), default=0) or 1
    base = top + plot_h
    parts = [
        format_html(
            '<line x1="{x1}" y1="{y}" x2="{x2}" y2="{y}" stroke="{c}" stroke-width="1"/>',
            x1=left,
            x2=left + plot_w,
            y=base,
            c=MUTED,
        )
    ]
    for b in bins:
        x = left + plot_w * b.low / 100
        w = plot_w * (b.high - b.low) / 100
        h = plot_h * b.count / peak
        parts.append(
            format_html(
                "<g><title>{label}: {count}</title>"
                '<rect x="{x}" y="{y}" width="{w}" height="{h}" fill="{fill}"/>'
                '<text x="{cx}" y="{ty}" text-anchor="middle" fill="{ink}">{count}</text>'
                '<text x="{cx}" y="{ly}" text-anchor="middle" fill="{muted}" '
                'font-size="11">{label}</text></g>',
                label=b.label,
                count=b.count,
                x=_fmt(x + 2),
                y=_fmt(base - h),
                w=_fmt(max(w - 4, 1)),
                h=_fmt(h),
                fill=BAR,
                cx=_fmt(x + w / 2),
                ty=_fmt(base - h - 6),
                ink=INK,
                ly=base + 16,
                muted=MUTED,
            )
        )
    if threshold is not None:
        mark_x = _fmt(left + plot_w * threshold / 100)
        parts.append(
            format_html(
                '<line x1="{x}" y1="{y1}" x2="{x}" y2="{y2}" stroke="{c}" stroke-width="2" '
                'stroke-dasharray="6 4"/>'
                '<text x="{x}" y="{ty}" text-anchor="middle" fill="{c}">'
                "pass threshold {t}%</text>",
                x=mark_x,
                y1=top - 8,
                y2=base,
                c=MARK,
                ty=base + 36,
                t=threshold,
            )
        )
    total = sum(b.count for b in bins)
    desc = "; ".join(f"{b.label}: {b.count}" for b in bins)
    desc = f"{total} scores. {desc}."
    if threshold is not None:
        desc += f" The pass threshold is {threshold}%."
    # Every part came from format_html, so joining them keeps them safe.
    body = mark_safe("".join(parts))  # noqa: S308
    return _svg(chart_id=chart_id, height=height, title=title, desc=desc, body=body)


def _short(text: str, limit: int = 86) -> str:
    return text if len(text) <= limit else text[: limit - 1].rstrip() + "…"


def bars(rows: Sequence[Row], *, chart_id: str, title: str) -> SafeString:
    """Horizontal bars of shares (0 to 1), each labelled above its bar and valued at its end."""
    left, right, row_h, top = 8, 64, 46, 8
    plot_w = WIDTH - left - right
    height = top + row_h * max(len(rows), 1)
    body = format_html_join(
        "",
        "<g><title>{}: {}</title>"
        '<text x="{}" y="{}" fill="{}">{}</text>'
        '<rect x="{}" y="{}" width="{}" height="16" fill="{}"/>'
        '<rect x="{}" y="{}" width="{}" height="16" fill="{}"/>'
        '<text x="{}" y="{}" fill="{}">{}</text></g>',
        (
            (
                row.label,
                row.text,
                left,
                top + i * row_h + 14,
                INK,
                _short(row.label),
                left,
                top + i * row_h + 20,
                plot_w,
                GRID,
                left,
                top + i * row_h + 20,
                _fmt(plot_w * (row.value or 0)),
                BAR,
                left + plot_w + 6,
                top + i * row_h + 33,
                INK,
                row.text,
            )
            for i, row in enumerate(rows)
        ),
    )
    desc = "; ".join(f"{row.label}: {row.text}" for row in rows) or "No data yet."
    return _svg(chart_id=chart_id, height=height, title=title, desc=desc, body=body)
