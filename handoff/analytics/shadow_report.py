"""The shadow report's data and pages: ``attune_shadow`` read by name, compared, rendered.

The action server writes the table (actions/shadow_log.py, in ATTUNE_STORE_DATABASE_URL); the
handoff service never imports the action server, so the table is read here by its name and column
names, the contract between the two (a test writes with one and reads with the other).  The
arithmetic is the pure core's (bot/empathy/shadow.py ``report``).
"""

import html
import json
from datetime import datetime, timezone
from typing import Any, Final

from sqlalchemy import inspect, text
from sqlalchemy.engine import Engine

from bot.empathy.escalation import DECISIONS
from bot.empathy.shadow import OFFERS, ShadowRecord

TABLE_NAME: Final = "attune_shadow"
COLUMNS: Final = (
    "conversation_id",
    "turn",
    "candidate",
    "recorded_at",
    "live_frustration",
    "candidate_frustration",
    "live_distress",
    "candidate_distress",
    "live_decision",
    "candidate_decision",
    "live_tone",
    "candidate_tone",
    "signals",
    "continued",
)


def has_table(store: Engine | None) -> bool:
    return store is not None and bool(inspect(store).has_table(TABLE_NAME))


def _signals(raw: object) -> dict[str, float]:
    try:
        found = json.loads(str(raw))
    except ValueError:
        return {}
    if not isinstance(found, dict):
        return {}
    return {str(k): float(v) for k, v in found.items() if isinstance(v, (int, float))}


def record_of(row: Any) -> ShadowRecord:
    m = row._mapping
    return ShadowRecord(
        conversation_id=str(m["conversation_id"]),
        turn=int(m["turn"]),
        candidate=str(m["candidate"]),
        live_frustration=float(m["live_frustration"]),
        candidate_frustration=float(m["candidate_frustration"]),
        live_distress=float(m["live_distress"]),
        candidate_distress=float(m["candidate_distress"]),
        live_decision=str(m["live_decision"]),
        candidate_decision=str(m["candidate_decision"]),
        live_tone=str(m["live_tone"]),
        candidate_tone=str(m["candidate_tone"]),
        signals=_signals(m["signals"]),
        continued=bool(m["continued"]),
        recorded_at=float(m["recorded_at"]),
    )


def read_records(
    store: Engine, since: datetime | None = None, candidate: str | None = None
) -> list[ShadowRecord]:
    """The records from ``since`` on (all when None), of one ``candidate`` (all when None), oldest first."""
    if not has_table(store):
        return []
    where: list[str] = []
    params: dict[str, object] = {}
    if since is not None:
        where.append("recorded_at >= :since")
        params["since"] = since.timestamp()
    if candidate is not None:
        where.append("candidate = :candidate")
        params["candidate"] = candidate
    query = f"SELECT {', '.join(COLUMNS)} FROM {TABLE_NAME}"
    if where:
        query += " WHERE " + " AND ".join(where)
    with store.connect() as connection:
        rows = connection.execute(text(query + " ORDER BY recorded_at, id"), params).all()
    return [record_of(row) for row in rows]


def _number(value: object) -> str:
    return "n/a" if value is None else f"{value:.3f}" if isinstance(value, float) else str(value)


def _example_line(example: dict[str, Any]) -> str:
    signals = ", ".join(f"{k} {v:.2f}" for k, v in example["signals"].items()) or "no signal"
    return (
        f"      {example['conversation_id']} turn {example['turn']}: "
        f"{example['live_decision']} -> {example['candidate_decision']}; "
        f"frustration {example['frustration']['live']:.2f} -> {example['frustration']['candidate']:.2f}, "
        f"distress {example['distress']['live']:.2f} -> {example['distress']['candidate']:.2f} ({signals})"
    )


def render_text(result: dict[str, Any]) -> str:
    if not result["records"]:
        return "shadow report: no records (is shadow mode on? docs/shadow.md)"
    lines = [
        f"shadow report: {result['records']} turns of {result['conversations']} conversations "
        f"(candidate {', '.join(result['candidates'])}; "
        f"own carry on {_number(result['continued'])} of turns)",
        f"decision agreement {_number(result['decision_agreement'])} "
        f"({result['decisions_differ']} turns differ); tone agreement {_number(result['tone_agreement'])}",
        "confusion (rows live, columns candidate):",
        "  " + " " * 16 + "".join(f"{d:>16}" for d in DECISIONS),
    ]
    for live in DECISIONS:
        lines.append(f"  {live:<16}" + "".join(f"{result['confusion'][live][c]:>16}" for c in DECISIONS))
    for kind in ("frustration", "distress"):
        s = result[kind]
        lines.append(
            f"{kind}: Pearson {_number(s['pearson'])}, Spearman {_number(s['spearman'])}, "
            f"mean live {_number(s['mean_live'])} candidate {_number(s['mean_candidate'])}, "
            f"mean |difference| {_number(s['mean_abs_difference'])}"
        )
    lines.append("offers that would change:")
    for offer in OFFERS:
        c = result["offers_changed"][offer]
        lines.append(
            f"  {offer}: live {c['live']}, candidate {c['candidate']} "
            f"(+{c['added']} only the candidate, -{c['removed']} only live)"
        )
        for direction in ("added", "removed"):
            for example in c["examples"][direction]:
                lines.append(_example_line(example))
    return "\n".join(lines)


def _table(head: list[str], rows: list[list[object]]) -> str:
    cells = "".join(f"<th scope='col'>{html.escape(h)}</th>" for h in head)
    body = "".join(
        "<tr>"
        + "".join(f"<td>{html.escape(_number(v) if not isinstance(v, str) else v)}</td>" for v in row)
        + "</tr>"
        for row in rows
    )
    return f"<table><thead><tr>{cells}</tr></thead><tbody>{body}</tbody></table>"


def render_html(result: dict[str, Any], generated: datetime | None = None) -> str:
    """The report as one self-contained page (every value escaped)."""
    when = (generated or datetime.now(timezone.utc)).isoformat(timespec="seconds")
    summary = html.escape(render_text(result).split("\n", 1)[0])
    parts = [
        "<!doctype html><html lang='en'><head><meta charset='utf-8'><title>Shadow report</title>",
        "<style>body{font-family:system-ui,sans-serif;margin:2rem;color:#111}"
        "table{border-collapse:collapse;margin:1rem 0}"
        "td,th{border:1px solid #888;padding:.25rem .5rem;text-align:right}</style></head><body>",
        f"<h1>Shadow report</h1><p>{summary}</p><p>Generated {html.escape(when)}.</p>",
    ]
    if result["records"]:
        parts.append(
            f"<p>Decision agreement {_number(result['decision_agreement'])}; "
            f"tone agreement {_number(result['tone_agreement'])}.</p>"
            "<h2>Decisions (rows live, columns candidate)</h2>"
        )
        parts.append(
            _table(
                ["live \\ candidate", *DECISIONS],
                [[d, *(result["confusion"][d][c] for c in DECISIONS)] for d in DECISIONS],
            )
        )
        parts.append("<h2>Scores</h2>")
        parts.append(
            _table(
                ["score", "Pearson", "Spearman", "mean live", "mean candidate", "mean |difference|"],
                [
                    [
                        k,
                        *(
                            result[k][f]
                            for f in (
                                "pearson",
                                "spearman",
                                "mean_live",
                                "mean_candidate",
                                "mean_abs_difference",
                            )
                        ),
                    ]
                    for k in ("frustration", "distress")
                ],
            )
        )
        parts.append("<h2>Offers that would change</h2>")
        for offer in OFFERS:
            c = result["offers_changed"][offer]
            parts.append(
                f"<h3>{html.escape(offer)}: live {c['live']}, candidate {c['candidate']} "
                f"(+{c['added']}, -{c['removed']})</h3>"
            )
            rows = [
                [
                    direction,
                    e["conversation_id"],
                    str(e["turn"]),
                    f"{e['frustration']['live']:.2f} / {e['frustration']['candidate']:.2f}",
                    f"{e['distress']['live']:.2f} / {e['distress']['candidate']:.2f}",
                    ", ".join(f"{k} {v:.2f}" for k, v in e["signals"].items()),
                ]
                for direction in ("added", "removed")
                for e in c["examples"][direction]
            ]
            if rows:
                parts.append(
                    _table(
                        ["", "conversation", "turn", "frustration live / candidate", "distress", "signals"],
                        rows,
                    )
                )
    parts.append("</body></html>")
    return "".join(parts)
