"""`attune experiment report` timing and the design's power (issue 22).

1. Report time: ``--conversations`` generated exposed conversations (half per arm, 2-9 turns each,
   outcomes, frustration scores, escalations, CSAT answers) written straight into the analytics
   tables of a SQLite file, then the report (read + statistics) timed.  Goal: 100 000 in <= 10 s.
2. Power: ``--simulations`` experiments of ``--per-arm`` conversations per arm with a true
   +5-point effect on self-service success (baseline ``--baseline``), and as many with none, through
   the report's statistics at alpha .05.  Goals: detected in >= 80%, false positives <= 5%.

    .venv/bin/python -m bench.experiment_report [--conversations 100000] [--simulations 1000]
"""

import argparse
import json
import tempfile
import time
from datetime import date, datetime, timedelta, timezone
from pathlib import Path
from typing import Any

import numpy as np
from sqlalchemy import insert

from bot.empathy.experiment_report import ArmData, build
from bot.empathy.experiments import SIGNIFICANT, Experiment, parse
from handoff.analytics.experiment_report import report
from handoff.core.db import create_engine_for
from handoff.core.migrate import upgrade_to_head
from handoff.core.models import AnalyticsConversation, AnalyticsCsat, AnalyticsExposure, AnalyticsTurn

START = datetime(2027, 1, 4, tzinfo=timezone.utc)
OUTCOMES = ("refund_done", "delivered", "refund_rejected", "not_delivered_yet", None, None)


def experiment(per_arm: int) -> Experiment:
    return parse(
        {
            "experiments": [
                {
                    "name": "bench",
                    "start": "2027-01-04",
                    "sample_size": per_arm,
                    "minimum_detectable_effect": 0.05,
                    "primary_metric": "self_service_success",
                    "arms": [
                        {"name": "neutral", "weight": 1, "adaptive": False},
                        {"name": "adaptive", "weight": 1, "adaptive": True},
                    ],
                }
            ]
        }
    )[0]


def _generate(url: str, conversations: int, seed: int) -> int:
    """Writes the conversations' analytics rows; returns how many turn rows."""
    rng = np.random.default_rng(seed)
    engine = create_engine_for(url)
    turns_of = rng.integers(2, 10, conversations)
    escalated = rng.random(conversations) < 0.2
    conv, exposures, turns, csat = [], [], [], []
    for i in range(conversations):
        cid = f"web:{i:08d}"
        at = START + timedelta(seconds=int(i))
        n = int(turns_of[i])
        first = at + timedelta(seconds=30) if escalated[i] else None
        conv.append(
            {
                "conversation_id": cid,
                "channel": "web",
                "started_at": at,
                "last_event_at": at,
                "turns": n,
                "escalations": int(escalated[i]),
                "first_escalation_at": first,
                "first_escalation_turn": 2 if first else None,
            }
        )
        exposures.append(
            {
                "conversation_id": cid,
                "experiment": "bench",
                "variant": ("neutral", "adaptive")[i % 2],
                "at": at,
            }
        )
        for turn in range(1, n + 1):
            turns.append(
                {
                    "conversation_id": cid,
                    "event_key": f"{i}-{turn}",
                    "at": at,
                    "turn": turn,
                    "outcome": OUTCOMES[int(rng.integers(len(OUTCOMES)))],
                    "tone": "warm",
                    "decision": "none",
                    "emotion_processing": "on",
                    "frustration": float(rng.random()),
                }
            )
        if i % 5 == 0:
            csat.append(
                {"conversation_id": cid, "event_key": f"{i}-c", "at": at, "score": int(rng.integers(1, 6))}
            )
    with engine.begin() as connection:
        for model, values in (
            (AnalyticsConversation, conv),
            (AnalyticsExposure, exposures),
            (AnalyticsTurn, turns),
            (AnalyticsCsat, csat),
        ):
            for chunk in range(0, len(values), 50_000):
                connection.execute(insert(model), values[chunk : chunk + 50_000])
    engine.dispose()
    return len(turns)


def time_report(conversations: int, seed: int) -> dict[str, Any]:
    with tempfile.TemporaryDirectory() as folder:
        url = f"sqlite:///{Path(folder) / 'handoff.db'}"
        upgrade_to_head(url)
        started = time.perf_counter()
        turn_rows = _generate(url, conversations, seed)
        generated = time.perf_counter() - started
        engine = create_engine_for(url)
        started = time.perf_counter()
        result = report(engine, experiment(conversations // 2), date(2027, 3, 1))
        seconds = time.perf_counter() - started
        engine.dispose()
    return {
        "conversations": conversations,
        "turn_rows": turn_rows,
        "generate_seconds": round(generated, 2),
        "report_seconds": round(seconds, 3),
        "arms": {k: v["conversations"] for k, v in result["arms"].items()},
        "status": result["comparisons"][0]["status"],
    }


def power(simulations: int, per_arm: int, baseline: float, effect: float, seed: int) -> dict[str, Any]:
    rng = np.random.default_rng(seed)
    found = experiment(per_arm)

    def arm(rate: float) -> ArmData:
        success = (rng.random(per_arm) < rate).astype(float)
        return ArmData(success=success, escalated=np.zeros(per_arm), length=np.full(per_arm, 4.0))

    detected = false_positives = covered = 0
    started = time.perf_counter()
    for _ in range(simulations):
        real = build(found, {"neutral": arm(baseline), "adaptive": arm(baseline + effect)}, date(2027, 3, 1))
        comparison = real["comparisons"][0]
        detected += comparison["status"] == SIGNIFICANT
        interval = comparison["effects"]["self_service_success"]
        covered += interval["low"] <= effect <= interval["high"]
        null = build(found, {"neutral": arm(baseline), "adaptive": arm(baseline)}, date(2027, 3, 1))
        false_positives += null["comparisons"][0]["status"] == SIGNIFICANT
    return {
        "simulations": simulations,
        "per_arm": per_arm,
        "baseline": baseline,
        "true_effect": effect,
        "required_per_arm": real["required_per_arm"],
        "detected": detected / simulations,
        "coverage": covered / simulations,
        "false_positives": false_positives / simulations,
        "seconds": round(time.perf_counter() - started, 2),
    }


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--conversations", type=int, default=100_000)
    parser.add_argument("--simulations", type=int, default=1000)
    parser.add_argument("--per-arm", type=int, default=20_000)
    parser.add_argument("--baseline", type=float, default=0.40)
    parser.add_argument("--seed", type=int, default=22)
    parser.add_argument("--json", type=Path, default=Path("bench/results/experiment_report.json"))
    args = parser.parse_args(argv)
    timing = time_report(args.conversations, args.seed)
    print(
        f"report over {timing['conversations']:,} conversations ({timing['turn_rows']:,} turn rows): "
        f"{timing['report_seconds']} s (goal <= 10 s); arms {timing['arms']}"
    )
    found = power(args.simulations, args.per_arm, args.baseline, 0.05, args.seed)
    print(
        f"power: +5 points on {args.baseline:.0%} with {args.per_arm:,} per arm, {found['simulations']} "
        f"simulations: detected {found['detected']:.1%} (goal >= 80%), "
        f"95% CI coverage {found['coverage']:.1%}, "
        f"false positives {found['false_positives']:.1%} (goal <= 5%); the design needs "
        f"{found['required_per_arm']:,} per arm"
    )
    args.json.parent.mkdir(parents=True, exist_ok=True)
    args.json.write_text(json.dumps({"report": timing, "power": found}, indent=2), encoding="utf-8")
    print(f"wrote {args.json}")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
