"""The frustration/distress trajectory of a handoff as an inline SVG (no JavaScript, no CDN)."""

from html import escape
from typing import Any

WIDTH, HEIGHT, PAD = 460, 200, 28


def trajectory_svg(points: list[dict[str, Any]], threshold: float = 0.25) -> str:
    if not points:
        return '<p class="chart-empty">No scored turns.</p>'
    n = max(1, len(points) - 1)

    def xy(i: int, value: float) -> str:
        return f"{PAD + i / n * (WIDTH - 2 * PAD):.1f},{HEIGHT - PAD - value * (HEIGHT - 2 * PAD):.1f}"

    frustration = " ".join(xy(i, float(p["frustration"])) for i, p in enumerate(points))
    distress = " ".join(xy(i, float(p["distress"])) for i, p in enumerate(points))
    dots = "".join(
        f'<circle cx="{xy(i, float(p["frustration"])).split(",")[0]}" cy="{xy(i, float(p["frustration"])).split(",")[1]}" '
        f'r="4" fill="#2c3e50"><title>turn {p["turn"]}: {float(p["frustration"]):.2f} '
        f"({escape(', '.join(p.get('top_signals', [])))})</title></circle>"
        for i, p in enumerate(points)
    )
    line = xy(0, threshold).split(",")[1]
    return (
        f'<svg id="trajectory" width="{WIDTH}" height="{HEIGHT}" role="img" aria-label="frustration per turn">'
        f'<line x1="{PAD}" y1="{HEIGHT - PAD}" x2="{WIDTH - PAD}" y2="{HEIGHT - PAD}" stroke="#888"/>'
        f'<line x1="{PAD}" y1="{PAD}" x2="{PAD}" y2="{HEIGHT - PAD}" stroke="#888"/>'
        f'<line x1="{PAD}" y1="{line}" x2="{WIDTH - PAD}" y2="{line}" stroke="#ccc" stroke-dasharray="4"/>'
        f'<polyline fill="none" stroke="#8e44ad" stroke-width="2" points="{distress}"/>'
        f'<polyline fill="none" stroke="#2c3e50" stroke-width="2" points="{frustration}"/>{dots}'
        f'<text x="4" y="{PAD}" font-size="10">1</text><text x="4" y="{HEIGHT - PAD}" font-size="10">0</text></svg>'
    )
