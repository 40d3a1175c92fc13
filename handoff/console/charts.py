"""The frustration/distress trajectory of a handoff as an inline SVG (no JavaScript, no CDN).

The SVG has a viewBox and no fixed size, so it scales with its column (console.css sizes it); the
y axis shows the score from 0 to 1, the x axis the customer's turns, and each dashed line the
threshold the bot scored the conversation against, labelled with its value.  The thresholds come
from the handoff's own score explanation (what the bot used then), not from today's policy file:
a handoff without them gets no threshold line rather than a guessed one.
"""

from collections.abc import Mapping
from html import escape
from math import ceil
from typing import Any

WIDTH, HEIGHT = 480, 230
LEFT, RIGHT, TOP, BOTTOM = 48, 16, 14, 44
Y_TICKS = (0.0, 0.25, 0.5, 0.75, 1.0)
MAX_X_LABELS = 10
FRUSTRATION, DISTRESS = "#2c3e50", "#8e44ad"
INK, GRID, AXIS = "#333", "#e3e3e3", "#767676"
LABEL_GAP = 0.08  # two threshold labels closer than this are put on either side of their lines


def thresholds_of(payload: Mapping[str, Any]) -> dict[str, float]:
    """``{"frustration": t, "distress": t}`` from the payload's score explanation, where it says them."""
    explanation = payload.get("explanation")
    found: dict[str, float] = {}
    if not isinstance(explanation, Mapping):
        return found
    for name in ("frustration", "distress"):
        score = explanation.get(name)
        value = score.get("threshold") if isinstance(score, Mapping) else None
        if isinstance(value, int | float) and not isinstance(value, bool) and 0.0 <= value <= 1.0:
            found[name] = float(value)
    return found


def _x(i: int, n: int) -> float:
    return LEFT + (i / n if n else 0.5) * (WIDTH - LEFT - RIGHT)


def _y(value: float) -> float:
    return HEIGHT - BOTTOM - max(0.0, min(1.0, value)) * (HEIGHT - TOP - BOTTOM)


def _score(point: Mapping[str, Any], name: str) -> float:
    try:
        return float(point.get(name, 0.0))
    except (TypeError, ValueError):
        return 0.0


def _axes(points: list[dict[str, Any]], n: int) -> str:
    parts = []
    for tick in Y_TICKS:
        y = _y(tick)
        parts.append(
            f'<line x1="{LEFT}" y1="{y:.1f}" x2="{WIDTH - RIGHT}" y2="{y:.1f}" stroke="{GRID}"/>'
            f'<text x="{LEFT - 6}" y="{y + 4:.1f}" text-anchor="end" font-size="13" fill="{INK}">{tick:g}</text>'
        )
    step = max(1, ceil(len(points) / MAX_X_LABELS))
    for i, point in enumerate(points):
        if i % step == 0 or i == len(points) - 1:
            parts.append(
                f'<text x="{_x(i, n):.1f}" y="{HEIGHT - BOTTOM + 16}" text-anchor="middle" font-size="13" '
                f'fill="{INK}">{escape(str(point.get("turn", i + 1)))}</text>'
            )
    bottom = HEIGHT - BOTTOM
    parts.append(
        f'<line x1="{LEFT}" y1="{bottom}" x2="{WIDTH - RIGHT}" y2="{bottom}" stroke="{AXIS}"/>'
        f'<line x1="{LEFT}" y1="{TOP}" x2="{LEFT}" y2="{bottom}" stroke="{AXIS}"/>'
        f'<text x="{(LEFT + WIDTH - RIGHT) / 2:.1f}" y="{HEIGHT - 6}" text-anchor="middle" font-size="13" '
        f'fill="{INK}">customer turn</text>'
    )
    return "".join(parts)


def _threshold_lines(thresholds: Mapping[str, float]) -> str:
    parts = []
    placed: list[float] = []
    for name, colour in (("frustration", FRUSTRATION), ("distress", DISTRESS)):
        if name not in thresholds:
            continue
        value = thresholds[name]
        y = _y(value)
        # Above its line, unless another label is that close (then below), or the line is at the top.
        below = any(abs(value - other) < LABEL_GAP for other in placed) or y - 4 < TOP + 8
        label_y = y + 13 if below else y - 4
        placed.append(value)
        parts.append(
            f'<line class="threshold" data-name="{name}" x1="{LEFT}" y1="{y:.1f}" x2="{WIDTH - RIGHT}" '
            f'y2="{y:.1f}" stroke="{colour}" stroke-dasharray="5 4" stroke-opacity=".7"/>'
            f'<text x="{WIDTH - RIGHT - 2}" y="{label_y:.1f}" text-anchor="end" font-size="13" fill="{colour}">'
            f"{name} threshold {value:.2f}</text>"
        )
    return "".join(parts)


def _series(points: list[dict[str, Any]], n: int, name: str, colour: str) -> str:
    line = " ".join(f"{_x(i, n):.1f},{_y(_score(p, name)):.1f}" for i, p in enumerate(points))
    return f'<polyline fill="none" stroke="{colour}" stroke-width="2" points="{line}"/>'


def _dots(points: list[dict[str, Any]], n: int) -> str:
    return "".join(
        f'<circle cx="{_x(i, n):.1f}" cy="{_y(_score(p, "frustration")):.1f}" r="4" fill="{FRUSTRATION}">'
        f"<title>turn {escape(str(p.get('turn', i + 1)))}: frustration {_score(p, 'frustration'):.2f}, "
        f"distress {_score(p, 'distress'):.2f} ({escape(', '.join(map(str, p.get('top_signals', []))))})"
        "</title></circle>"
        for i, p in enumerate(points)
    )


def _description(points: list[dict[str, Any]], thresholds: Mapping[str, float]) -> str:
    last = points[-1]
    text = (
        f"{len(points)} customer turns; at turn {last.get('turn', len(points))} frustration "
        f"{_score(last, 'frustration'):.2f} and distress {_score(last, 'distress'):.2f}"
    )
    if thresholds:
        text += "; thresholds: " + ", ".join(f"{name} {value:.2f}" for name, value in thresholds.items())
    return escape(text + ".")


def trajectory_svg(points: list[dict[str, Any]], thresholds: Mapping[str, float] | None = None) -> str:
    if not points:
        return '<p class="chart-empty">No scored turns.</p>'
    n = len(points) - 1
    thresholds = thresholds or {}
    return (
        f'<svg id="trajectory" viewBox="0 0 {WIDTH} {HEIGHT}" role="img" '
        'aria-labelledby="trajectory-title trajectory-desc" preserveAspectRatio="xMidYMid meet">'
        '<title id="trajectory-title">Frustration and distress per customer turn</title>'
        f'<desc id="trajectory-desc">{_description(points, thresholds)}</desc>'
        f"{_axes(points, n)}{_threshold_lines(thresholds)}"
        f"{_series(points, n, 'distress', DISTRESS)}{_series(points, n, 'frustration', FRUSTRATION)}"
        f"{_dots(points, n)}</svg>"
    )
