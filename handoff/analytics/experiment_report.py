"""An experiment's outcomes from the analytics tables, and the report as text, JSON or HTML.

The conversations are those in ``analytics_exposures`` for the experiment (one row per conversation,
logged at the first reply the arms word differently; ``excluded`` rows are opted-out customers,
counted and never analysed).  Per conversation (docs/experiments.md):

- self-service success: its last self-service outcome is not a failed one (rollups.FAILED_OUTCOMES)
  and it was never escalated;
- escalated: at least one escalation decision; time to escalation: first decision minus first event;
- CSAT: its last answer; frustration slope: least-squares slope of frustration per turn (two or
  more scored turns); conversation length: customer turns.

The statistics are bot/empathy/experiment_report.py's.
"""

import html
import json
from collections.abc import Sequence
from datetime import date
from typing import Any

import numpy as np
import numpy.typing as npt
from sqlalchemy import select
from sqlalchemy.engine import Engine

from bot.empathy.experiment_report import ArmData, Floats, build
from bot.empathy.experiments import EXCLUDED, Experiment
from handoff.analytics.rollups import FAILED_OUTCOMES
from handoff.core.db import as_utc
from handoff.core.models import AnalyticsConversation, AnalyticsCsat, AnalyticsExposure, AnalyticsTurn


class _Columns:
    """Per-conversation values while reading, indexed like ``ids``."""

    def __init__(self, ids: Sequence[str]) -> None:
        n = len(ids)
        self.index = {conversation: i for i, conversation in enumerate(ids)}
        self.escalated = np.zeros(n)
        self.length = np.zeros(n)
        self.to_escalation = np.full(n, np.nan)
        self.last_outcome_failed = np.full(n, np.nan)  # NaN: no self-service outcome
        self.csat = np.full(n, np.nan)
        self.slope = np.full(n, np.nan)


def _slopes(conversation: npt.NDArray[np.int64], x: Floats, y: Floats, size: int) -> Floats:
    """Least-squares slope of y on x per conversation index (NaN with fewer than two distinct x)."""
    count = np.bincount(conversation, minlength=size).astype(float)
    sx, sy = np.bincount(conversation, x, size), np.bincount(conversation, y, size)
    sxx, sxy = np.bincount(conversation, x * x, size), np.bincount(conversation, x * y, size)
    denominator = count * sxx - sx * sx
    with np.errstate(invalid="ignore", divide="ignore"):
        slope = (count * sxy - sx * sy) / denominator
    slope[(count < 2) | (denominator <= 0)] = np.nan
    return slope


def load(engine: Engine, name: str) -> tuple[dict[str, ArmData], int]:
    """Each arm's outcomes for experiment ``name``, and how many conversations were excluded."""
    exposed = select(AnalyticsExposure.conversation_id, AnalyticsExposure.variant).where(
        AnalyticsExposure.experiment == name
    )
    with engine.connect() as connection:
        rows = connection.execute(exposed).all()
        variants = {str(c): str(v) for c, v in rows if v != EXCLUDED}
        excluded = sum(1 for _, v in rows if v == EXCLUDED)
        ids = sorted(variants)
        cols = _Columns(ids)
        members = exposed.where(AnalyticsExposure.variant != EXCLUDED).subquery()
        c, t, s = AnalyticsConversation, AnalyticsTurn, AnalyticsCsat
        for cid, turns, escalations, started, first in connection.execute(
            select(c.conversation_id, c.turns, c.escalations, c.started_at, c.first_escalation_at).join(
                members, members.c.conversation_id == c.conversation_id
            )
        ):
            i = cols.index[cid]
            cols.length[i], cols.escalated[i] = turns or 0, 1.0 if escalations else 0.0
            if first is not None:
                cols.to_escalation[i] = (as_utc(first) - as_utc(started)).total_seconds()
        turn_rows = connection.execute(
            select(t.conversation_id, t.turn, t.outcome, t.frustration)
            .join(members, members.c.conversation_id == t.conversation_id)
            .order_by(t.conversation_id, t.turn, t.at, t.id)
        ).all()
        for cid, score in connection.execute(
            select(s.conversation_id, s.score)
            .join(members, members.c.conversation_id == s.conversation_id)
            .order_by(s.at, s.id)
        ):
            cols.csat[cols.index[cid]] = score
    scored_conv, scored_turn, scored_value = [], [], []
    for cid, turn, outcome, frustration in turn_rows:
        i = cols.index[cid]
        if outcome is not None:
            cols.last_outcome_failed[i] = 1.0 if outcome in FAILED_OUTCOMES else 0.0
        if frustration is not None:
            scored_conv.append(i)
            scored_turn.append(turn)
            scored_value.append(frustration)
    cols.slope = _slopes(
        np.asarray(scored_conv, dtype=np.int64),
        np.asarray(scored_turn, dtype=float),
        np.asarray(scored_value, dtype=float),
        len(ids),
    )
    return _arms(ids, variants, cols), excluded


def _arms(ids: Sequence[str], variants: dict[str, str], cols: _Columns) -> dict[str, ArmData]:
    arm_of = np.asarray([variants[c] for c in ids], dtype=object)
    success = ((cols.last_outcome_failed == 0.0) & (cols.escalated == 0.0)).astype(float)
    out = {}
    for arm in sorted(set(variants.values())):
        mask = arm_of == arm

        def present(values: Floats, mask: npt.NDArray[np.bool_] = mask) -> Floats:
            chosen: Floats = values[mask]
            kept: Floats = chosen[~np.isnan(chosen)]
            return kept

        out[arm] = ArmData(
            success=success[mask],
            escalated=cols.escalated[mask],
            length=cols.length[mask],
            csat=present(cols.csat),
            frustration_slope=present(cols.slope),
            time_to_escalation=present(cols.to_escalation),
        )
    return out


def report(engine: Engine, experiment: Experiment, today: date) -> dict[str, Any]:
    arms, excluded = load(engine, experiment.name)
    return build(experiment, arms, today, excluded)


def _number(value: Any) -> str:
    return "—" if value is None else f"{value:.4g}" if isinstance(value, float) else str(value)


def render_text(result: dict[str, Any]) -> str:
    lines = [
        f"experiment {result['experiment']}: primary metric {result['primary_metric']}, "
        f"minimum detectable effect {result['minimum_detectable_effect']}, {result['design']}",
        f"needs {result['required_per_arm']:,} conversations per arm; horizon reached: "
        f"{'yes' if result['horizon_reached'] else 'no'}; opted-out customers excluded: "
        f"{result['excluded_opted_out']:,}",
    ]
    for arm, summary in result["arms"].items():
        means = "  ".join(f"{k} {_number(v['mean'])}" for k, v in summary.items() if isinstance(v, dict))
        lines.append(f"  {arm:<12} n={summary['conversations']:,}  {means}")
    srm = result["sample_ratio"]
    lines.append(
        f"sample ratio: chi2 {srm['chi2']} p {srm['p_value']} "
        f"({'MISMATCH' if srm['mismatch'] else 'as weighted'})"
    )
    for comparison in result["comparisons"]:
        lines.append(f"{comparison['arm']} vs {comparison['against']}:")
        for metric, found in comparison["effects"].items():
            if found is not None:
                lines.append(
                    f"  {metric:<22} {found['estimate']:+.4g}  95% CI [{found['low']:+.4g}, "
                    f"{found['high']:+.4g}]  p {found['p_value']:.3g}"
                )
            else:
                lines.append(f"  {metric:<22} not enough data")
        lines.append(f"verdict ({comparison['status']}): {comparison['verdict']}")
    return "\n".join(lines)


def render_html(result: dict[str, Any]) -> str:
    """The same report as a page of its own (no scripts, every value escaped)."""
    e = html.escape
    rows = "".join(
        f"<tr><th scope='row'>{e(arm)}</th><td>{summary['conversations']}</td>"
        + "".join(f"<td>{e(_number(v['mean']))}</td>" for v in summary.values() if isinstance(v, dict))
        + "</tr>"
        for arm, summary in result["arms"].items()
    )
    metrics = [k for k, v in next(iter(result["arms"].values())).items() if isinstance(v, dict)]
    head = "".join(f"<th scope='col'>{e(m)}</th>" for m in metrics)
    verdicts = "".join(
        f"<h2>{e(c['arm'])} vs {e(c['against'])}</h2><p><strong>{e(c['status'])}</strong>: "
        f"{e(c['verdict'])}</p>"
        for c in result["comparisons"]
    )
    return (
        "<!doctype html><html lang='en'><meta charset='utf-8'>"
        f"<title>Experiment {e(result['experiment'])}</title>"
        f"<h1>Experiment {e(result['experiment'])}</h1>"
        f"<table><tr><th scope='col'>arm</th><th scope='col'>conversations</th>{head}</tr>{rows}</table>"
        f"{verdicts}<pre>{e(json.dumps(result, indent=2))}</pre></html>"
    )
