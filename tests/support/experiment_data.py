"""A tone experiment with known answers for the console's experiment pages, ingested as the consumer would.

``tone-page`` has ``PER_ARM`` exposed conversations per arm: ``SUCCESSES[arm]`` of them end in a
successful self-service look-up, the rest in a failed one (none escalates), so the self-service
rates are 30% and 70%, the horizon (``sample_size`` 50) is reached and the difference is significant.
``tone-later`` has a few conversations and a far horizon: its verdict is withheld.  One opted-out
customer is logged as excluded.
"""

import json
import math
from statistics import NormalDist
from typing import Any, Final

from sqlalchemy.engine import Engine

from handoff.analytics.ingest import BrokerRow, ingest
from tests.support.broker_events import T0, record, slot, user

EXPERIMENTS_YAML: Final = """
experiments:
  - name: tone-page
    start: 2026-11-01
    end: 2099-12-31
    sample_size: 50
    minimum_detectable_effect: 0.3
    primary_metric: self_service_success
    arms:
      - {name: neutral, weight: 1, adaptive: false}
      - {name: adaptive, weight: 1, adaptive: true}
  - name: tone-later
    enabled: false
    start: 2026-11-01
    sample_size: 1000
    minimum_detectable_effect: 0.05
    primary_metric: self_service_success
    arms:
      - {name: neutral, weight: 1, adaptive: false}
      - {name: adaptive, weight: 1, adaptive: true}
"""
PER_ARM: Final = 60
SUCCESSES: Final = {"neutral": 18, "adaptive": 42}
LATER_PER_ARM: Final = 5


def expected_interval() -> tuple[float, float, float]:
    """The Wald difference of the self-service rates and its 95% interval, from the numbers above."""
    p_c, p_t = SUCCESSES["neutral"] / PER_ARM, SUCCESSES["adaptive"] / PER_ARM
    se = math.sqrt(p_c * (1 - p_c) / PER_ARM + p_t * (1 - p_t) / PER_ARM)
    half = NormalDist().inv_cdf(0.975) * se
    return p_t - p_c, p_t - p_c - half, p_t - p_c + half


def _exposed(sender: str, experiment: str, variant: str, succeeded: bool, at: float) -> list[dict[str, Any]]:
    """Two customer turns, exposed at the first reply; the second turn's look-up succeeds or fails."""
    last = record(2, outcome="order_found" if succeeded else "order_not_found")
    exposure = {"experiment": experiment, "variant": variant}
    return [
        user(sender, at),
        slot(sender, at + 0.1, "turn_record", record(1)),
        slot(sender, at + 0.2, "experiment_exposure", exposure),
        user(sender, at + 5),
        slot(sender, at + 5.1, "turn_record", last),
    ]


def events() -> list[dict[str, Any]]:
    found: list[dict[str, Any]] = []
    at = T0
    for arm, successes in SUCCESSES.items():
        for i in range(PER_ARM):
            found += _exposed(f"web:page-{arm}-{i}", "tone-page", arm, i < successes, at)
            at += 20
        for i in range(LATER_PER_ARM):
            found += _exposed(f"web:later-{arm}-{i}", "tone-later", arm, i % 2 == 0, at)
            at += 20
    opted_out = {"experiment": "tone-page", "variant": "excluded"}
    found += [user("web:opted-out", at), slot("web:opted-out", at + 0.1, "experiment_exposure", opted_out)]
    return found


def load(engine: Engine) -> None:
    ingest(engine, [BrokerRow(None, json.dumps(event)) for event in events()], source=None)
