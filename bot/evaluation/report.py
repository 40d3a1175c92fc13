"""A self-contained HTML report: ROC curves and example frustration trajectories as inline SVG."""

import html
from pathlib import Path
from typing import Any

WIDTH, HEIGHT, PAD = 320, 220, 30


def _polyline(points: list[tuple[float, float]], colour: str) -> str:
    coords = " ".join(
        f"{PAD + x * (WIDTH - 2 * PAD):.1f},{HEIGHT - PAD - y * (HEIGHT - 2 * PAD):.1f}" for x, y in points
    )
    return f'<polyline fill="none" stroke="{colour}" stroke-width="2" points="{coords}"/>'


def _frame(title: str, body: str, x_label: str, y_label: str) -> str:
    axes = (
        f'<line x1="{PAD}" y1="{HEIGHT - PAD}" x2="{WIDTH - PAD}" y2="{HEIGHT - PAD}" stroke="#444"/>'
        f'<line x1="{PAD}" y1="{PAD}" x2="{PAD}" y2="{HEIGHT - PAD}" stroke="#444"/>'
        f'<text x="{WIDTH / 2}" y="{HEIGHT - 6}" text-anchor="middle" font-size="11">{html.escape(x_label)}</text>'
        f'<text x="10" y="{HEIGHT / 2}" font-size="11" transform="rotate(-90 10 {HEIGHT / 2})" '
        f'text-anchor="middle">{html.escape(y_label)}</text>'
        f'<text x="{WIDTH / 2}" y="16" text-anchor="middle" font-size="12">{html.escape(title)}</text>'
    )
    return f'<svg width="{WIDTH}" height="{HEIGHT}" role="img" aria-label="{html.escape(title)}">{axes}{body}</svg>'


def roc_svg(result: dict[str, Any]) -> str:
    auc = result.get("auc")
    title = f"ROC, AUC {auc:.3f}" if isinstance(auc, float) else "ROC"
    chance = _polyline([(0, 0), (1, 1)], "#bbb")
    return _frame(
        title, chance + _polyline(result["_roc"], "#c0392b"), "false positive rate", "true positive rate"
    )


def trajectory_svg(example: dict[str, Any], threshold: float) -> str:
    turns = example["turns"]
    n = max(1, len(turns) - 1)
    frustration = [(i / n, t["frustration"]) for i, t in enumerate(turns)]
    distress = [(i / n, t["distress"]) for i, t in enumerate(turns)]
    line = _polyline([(0, threshold), (1, threshold)], "#999")
    marks = "".join(
        f'<circle cx="{PAD + i / n * (WIDTH - 2 * PAD):.1f}" cy="{HEIGHT - PAD - t["frustration"] * (HEIGHT - 2 * PAD):.1f}" '
        f'r="4" fill="{"#c0392b" if t["positive"] else "#2c3e50"}"><title>{html.escape(t["text"])}</title></circle>'
        for i, t in enumerate(turns)
    )
    body = line + _polyline(frustration, "#2c3e50") + _polyline(distress, "#8e44ad") + marks
    return _frame(str(example["id"]), body, "customer turn", "score")


def write_report(path: Path, kind: str, results: list[dict[str, Any]]) -> None:
    sections = []
    for result in results:
        rows = "".join(
            f"<tr><th>{html.escape(k)}</th><td>{html.escape(str(round(v, 4) if isinstance(v, float) else v))}</td></tr>"
            for k, v in result.items()
            if not k.startswith("_") and k != "per_class"
        )
        for label, value in result.get("per_class", {}).items():
            rows += f"<tr><th>F1 {html.escape(label)}</th><td>{value:.3f}</td></tr>"
        charts = ""
        if kind == "dialogues":
            charts = roc_svg(result) + "".join(
                trajectory_svg(e, result["threshold"]) for e in result["_examples"]
            )
        sections.append(
            f"<section><h2>{html.escape(result['file'])}</h2><table>{rows}</table><div>{charts}</div></section>"
        )
    legend = (
        "<p>Trajectories: frustration (dark line), distress (purple), shipped threshold (grey); "
        "red dots are turns the annotators rated as frustrated/dissatisfied. Hover a dot for the message.</p>"
        if kind == "dialogues"
        else ""
    )
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(
        "<!doctype html><html lang='en'><head><meta charset='utf-8'><title>Attune eval: "
        f"{kind}</title><style>body{{font-family:sans-serif;margin:2em}}th{{text-align:left;padding-right:1em}}"
        f"svg{{margin:6px;border:1px solid #eee}}</style></head><body><h1>Attune eval: {kind}</h1>{legend}"
        + "".join(sections)
        + "</body></html>",
        encoding="utf-8",
    )
