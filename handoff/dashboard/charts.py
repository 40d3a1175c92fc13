"""The dashboard's charts as inline SVG, drawn on the server (no JavaScript, no CDN), like the
console's trajectory chart (handoff/console/charts.py).

``daily_bars``: one bar per day of the period, the y axis with its values (a round maximum and four
ticks), the x axis with day labels (at most ``MAX_X_LABELS``).  ``label_bars``: one horizontal bar per
label (a reason, a status, a score band), its count written at its end.  Each chart has a title and
a description a screen reader reads; a day without data draws no bar (it is not a zero).
"""

from collections.abc import Sequence
from datetime import date
from html import escape
from math import ceil, floor, log10

WIDTH, HEIGHT = 560, 220
LEFT, RIGHT, TOP, BOTTOM = 56, 12, 12, 40
MAX_X_LABELS = 8
BAR, INK, GRID, AXIS = "#2c6e9b", "#333", "#e3e3e3", "#767676"
ROW, LABEL_WIDTH = 24, 200


def nice_ceiling(value: float) -> float:
    """The smallest of 1, 2, 2.5, 5 times a power of ten that is at least ``value`` (1 for 0)."""
    if value <= 0:
        return 1.0
    power = 10.0 ** floor(log10(value))
    for step in (1.0, 2.0, 2.5, 5.0, 10.0):
        if step * power >= value:
            return step * power
    return 10.0 * power


def _tick(value: float) -> str:
    return f"{value:,.0f}" if value >= 10 or value == int(value) else f"{value:.2g}"


def daily_bars(chart_id: str, title: str, points: Sequence[tuple[date, float | None]], unit: str = "") -> str:
    if not any(value is not None for _, value in points):
        return '<p class="chart-empty">No data in this period.</p>'
    top = 100.0 if unit == "%" else nice_ceiling(max(v for _, v in points if v is not None))
    plot_w, plot_h = WIDTH - LEFT - RIGHT, HEIGHT - TOP - BOTTOM
    slot = plot_w / len(points)
    parts = []
    for i in range(5):
        tick = top * i / 4
        y = TOP + plot_h - plot_h * i / 4
        parts.append(
            f'<line x1="{LEFT}" y1="{y:.1f}" x2="{WIDTH - RIGHT}" y2="{y:.1f}" stroke="{GRID}"/>'
            f'<text x="{LEFT - 6}" y="{y + 4:.1f}" text-anchor="end" font-size="12" fill="{INK}">'
            f"{_tick(tick)}{escape(unit)}</text>"
        )
    step = max(1, ceil(len(points) / MAX_X_LABELS))
    for i, (day, value) in enumerate(points):
        x = LEFT + i * slot
        if value is not None:
            h = plot_h * max(0.0, min(value, top)) / top
            parts.append(
                f'<rect class="bar" x="{x + slot * 0.1:.1f}" y="{TOP + plot_h - h:.1f}" '
                f'width="{max(slot * 0.8, 1):.1f}" height="{h:.1f}" fill="{BAR}">'
                f"<title>{day.isoformat()}: {value:,.1f}{escape(unit)}</title></rect>"
            )
        if i % step == 0:
            parts.append(
                f'<text x="{x + slot / 2:.1f}" y="{HEIGHT - BOTTOM + 16}" text-anchor="middle" '
                f'font-size="12" fill="{INK}">{day.strftime("%d %b")}</text>'
            )
    bottom = TOP + plot_h
    parts.append(
        f'<line x1="{LEFT}" y1="{bottom}" x2="{WIDTH - RIGHT}" y2="{bottom}" stroke="{AXIS}"/>'
        f'<line x1="{LEFT}" y1="{TOP}" x2="{LEFT}" y2="{bottom}" stroke="{AXIS}"/>'
        f'<text x="{(LEFT + WIDTH - RIGHT) / 2:.1f}" y="{HEIGHT - 6}" text-anchor="middle" font-size="12" '
        f'fill="{INK}">day (UTC)</text>'
    )
    shown = [v for _, v in points if v is not None]
    description = (
        f"{len(shown)} days with data from {points[0][0].isoformat()} to {points[-1][0].isoformat()}; "
        f"lowest {min(shown):,.1f}{unit}, highest {max(shown):,.1f}{unit}."
    )
    return _svg(chart_id, title, description, WIDTH, HEIGHT, "".join(parts))


def label_bars(chart_id: str, title: str, items: Sequence[tuple[str, int]]) -> str:
    if not items:
        return '<p class="chart-empty">No data in this period.</p>'
    top = nice_ceiling(max(n for _, n in items))
    height = TOP + ROW * len(items) + BOTTOM
    plot_w = WIDTH - LABEL_WIDTH - RIGHT - 40
    parts = []
    for i in range(5):
        x = LABEL_WIDTH + plot_w * i / 4
        parts.append(
            f'<line x1="{x:.1f}" y1="{TOP}" x2="{x:.1f}" y2="{height - BOTTOM}" stroke="{GRID}"/>'
            f'<text x="{x:.1f}" y="{height - BOTTOM + 16}" text-anchor="middle" font-size="12" fill="{INK}">'
            f"{_tick(top * i / 4)}</text>"
        )
    for i, (label, n) in enumerate(items):
        y = TOP + i * ROW
        w = plot_w * n / top
        parts.append(
            f'<text x="{LABEL_WIDTH - 6}" y="{y + ROW * 0.65:.1f}" text-anchor="end" font-size="12" '
            f'fill="{INK}">{escape(label[:40])}</text>'
            f'<rect class="bar" x="{LABEL_WIDTH}" y="{y + 3}" width="{w:.1f}" height="{ROW - 6}" '
            f'fill="{BAR}"/><text x="{LABEL_WIDTH + w + 4:.1f}" y="{y + ROW * 0.65:.1f}" font-size="12" '
            f'fill="{INK}">{n:,}</text>'
        )
    parts.append(
        f'<line x1="{LABEL_WIDTH}" y1="{TOP}" x2="{LABEL_WIDTH}" y2="{height - BOTTOM}" stroke="{AXIS}"/>'
        f'<text x="{LABEL_WIDTH + plot_w / 2:.1f}" y="{height - 6}" text-anchor="middle" font-size="12" '
        f'fill="{INK}">count</text>'
    )
    description = "; ".join(f"{label}: {n}" for label, n in items) + "."
    return _svg(chart_id, title, description, WIDTH, height, "".join(parts))


def _svg(chart_id: str, title: str, description: str, width: int, height: int, body: str) -> str:
    cid = escape(chart_id)
    return (
        f'<svg id="{cid}" class="dashboard-chart" viewBox="0 0 {width} {height}" role="img" '
        f'aria-labelledby="{cid}-title {cid}-desc" preserveAspectRatio="xMidYMid meet">'
        f'<title id="{cid}-title">{escape(title)}</title><desc id="{cid}-desc">{escape(description)}</desc>'
        f"{body}</svg>"
    )
