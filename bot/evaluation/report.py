"""A self-contained HTML report: ROC curves and example frustration trajectories as inline SVG."""

import html
from collections.abc import Mapping, Sequence
from pathlib import Path
from typing import Any, Final

WIDTH, HEIGHT, PAD = 320, 220, 30


def _polyline(points: list[tuple[float, float]], colour: str) -> str:
    coords = " ".join(
        f"{PAD + x * (WIDTH - 2 * PAD):.1f},{HEIGHT - PAD - y * (HEIGHT - 2 * PAD):.1f}" for x, y in points
    )
    return f'<polyline fill="none" stroke="{colour}" stroke-width="2" points="{coords}"/>'


def ticks(x_values: Sequence[tuple[float, str]], y_values: Sequence[tuple[float, str]]) -> str:
    """Tick marks and their values: ``x_values``/``y_values`` as (position in [0, 1], label)."""
    marks = []
    for x, label in x_values:
        px = PAD + x * (WIDTH - 2 * PAD)
        marks.append(
            f'<line x1="{px:.1f}" y1="{HEIGHT - PAD}" x2="{px:.1f}" y2="{HEIGHT - PAD + 4}" stroke="#444"/>'
            f'<text x="{px:.1f}" y="{HEIGHT - PAD + 13}" text-anchor="middle" font-size="9">{html.escape(label)}</text>'
        )
    for y, label in y_values:
        py = HEIGHT - PAD - y * (HEIGHT - 2 * PAD)
        marks.append(
            f'<line x1="{PAD - 4}" y1="{py:.1f}" x2="{PAD}" y2="{py:.1f}" stroke="#444"/>'
            f'<text x="{PAD - 6}" y="{py + 3:.1f}" text-anchor="end" font-size="9">{html.escape(label)}</text>'
        )
    return "".join(marks)


UNIT_TICKS: Final = [(v, f"{v:g}") for v in (0.0, 0.25, 0.5, 0.75, 1.0)]


def _frame(title: str, body: str, x_label: str, y_label: str) -> str:
    axes = (
        f'<line x1="{PAD}" y1="{HEIGHT - PAD}" x2="{WIDTH - PAD}" y2="{HEIGHT - PAD}" stroke="#444"/>'
        f'<line x1="{PAD}" y1="{PAD}" x2="{PAD}" y2="{HEIGHT - PAD}" stroke="#444"/>'
        f'<text x="{WIDTH / 2}" y="{HEIGHT - 6}" text-anchor="middle" font-size="11">{html.escape(x_label)}</text>'
        f'<text x="8" y="{HEIGHT / 2}" font-size="11" transform="rotate(-90 8 {HEIGHT / 2})" '
        f'text-anchor="middle">{html.escape(y_label)}</text>'
        f'<text x="{WIDTH / 2}" y="16" text-anchor="middle" font-size="12">{html.escape(title)}</text>'
    )
    return f'<svg width="{WIDTH}" height="{HEIGHT}" role="img" aria-label="{html.escape(title)}">{axes}{body}</svg>'


def roc_svg(result: dict[str, Any]) -> str:
    auc = result.get("auc")
    title = f"ROC, AUC {auc:.3f}" if isinstance(auc, float) else "ROC"
    chance = _polyline([(0, 0), (1, 1)], "#bbb")
    body = chance + _polyline(result["_roc"], "#c0392b") + ticks(UNIT_TICKS, UNIT_TICKS)
    return _frame(title, body, "false positive rate", "true positive rate")


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
    turn_ticks = (
        [(i / n, str(i + 1)) for i in range(len(turns))]
        if len(turns) <= 12
        else [(0.0, "1"), (1.0, str(len(turns)))]
    )
    axis = ticks(turn_ticks, UNIT_TICKS)
    body = line + _polyline(frustration, "#2c3e50") + _polyline(distress, "#8e44ad") + marks + axis
    return _frame(str(example["id"]), body, "customer turn", "score")


def misses_html(misses: Mapping[str, Any]) -> str:
    """The most confident misses, each with the signals that scored it."""
    parts = []
    titles = {
        "false_offers": "False offers: a person offered on a turn rated calm (highest score first)",
        "missed_frustration": "Missed frustration: a frustrated turn under the threshold (lowest score first)",
    }
    for kind, title in titles.items():
        rows = "".join(
            f"<tr><td>{html.escape(str(m['id']))}#{m['turn']}</td><td>{m['frustration']:.3f}</td>"
            f"<td>{m['carried']:.3f}</td><td>{html.escape(m['text'])}</td><td>"
            + ", ".join(
                f"{html.escape(c['signal'])} {c['value']:.2f}&times;{c['weight']:+.2f}={c['contribution']:+.3f}"
                for c in m["contributions"]
            )
            + "</td></tr>"
            for m in misses.get(kind, [])
        )
        count = misses.get("counts", {}).get(kind, 0)
        parts.append(
            f"<h3>{html.escape(title)}: {count}</h3><table class='misses'><tr><th>dialogue#turn</th>"
            f"<th>frustration</th><th>carried</th><th>message</th><th>signals (value&times;weight)</th></tr>{rows}</table>"
        )
    return "".join(parts)


def confusion_html(confusion: Mapping[str, Any]) -> str:
    """Rows: the annotators' single label; columns: the model's top Ekman emotion; the diagonal is right."""
    labels = confusion["labels"]
    head = "".join(f"<th>{html.escape(label)}</th>" for label in labels)
    rows = ""
    for label, counts in zip(labels, confusion["matrix"], strict=True):
        total = max(1, sum(counts))
        cells = "".join(
            f"<td style='background:rgba(41,128,185,{count / total:.2f})'>{count}</td>" for count in counts
        )
        rows += f"<tr><th>{html.escape(label)}</th>{cells}</tr>"
    return (
        "<h3>Emotion confusion (rows: annotated, columns: predicted top; "
        f"{confusion['left_out']} multi-label texts left out)</h3>"
        f"<table class='confusion'><tr><th></th>{head}</tr>{rows}</table>"
    )


def deltas_html(deltas: Sequence[Mapping[str, Any]]) -> str:
    if not deltas:
        return "<p>No previous run of these files to compare with.</p>"
    rows = "".join(
        f"<tr><td>{html.escape(str(d['file']))}</td><th>{html.escape(d['metric'])}</th>"
        f"<td>{d['before']:.3f}</td><td>{d['after']:.3f}</td>"
        f"<td style='color:{'#27ae60' if d['delta'] >= 0 else '#c0392b'}'>{d['delta']:+.3f}</td></tr>"
        for d in deltas
    )
    return (
        "<h2>Compared with the previous run</h2><table><tr><th>file</th><th>metric</th><th>before</th>"
        f"<th>now</th><th>change</th></tr>{rows}</table>"
    )


def write_report(
    path: Path, kind: str, results: list[dict[str, Any]], deltas: Sequence[Mapping[str, Any]] = ()
) -> None:
    sections = [deltas_html(deltas)]
    for result in results:
        rows = "".join(
            f"<tr><th>{html.escape(k)}</th><td>{html.escape(str(round(v, 4) if isinstance(v, float) else v))}</td></tr>"
            for k, v in result.items()
            if not k.startswith("_") and k not in ("per_class", "misses", "confusion")
        )
        for label, value in result.get("per_class", {}).items():
            rows += f"<tr><th>F1 {html.escape(label)}</th><td>{value:.3f}</td></tr>"
        charts = ""
        if kind == "dialogues":
            charts = roc_svg(result) + "".join(
                trajectory_svg(e, result["threshold"]) for e in result["_examples"]
            )
        details = misses_html(result["misses"]) if "misses" in result else ""
        details += confusion_html(result["confusion"]) if "confusion" in result else ""
        sections.append(
            f"<section><h2>{html.escape(result['file'])}</h2><table>{rows}</table><div>{charts}</div>"
            f"{details}</section>"
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
        f"svg{{margin:6px;border:1px solid #eee}}td,th{{padding:2px 6px;vertical-align:top}}"
        f".misses td{{font-size:90%}}.confusion td{{text-align:right}}</style></head><body><h1>Attune eval: {kind}</h1>{legend}"
        + "".join(sections)
        + "</body></html>",
        encoding="utf-8",
    )
