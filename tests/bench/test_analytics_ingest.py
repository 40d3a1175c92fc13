"""The RabbitMQ mode of the ingestion benchmark (bench/analytics_ingest.py ``--broker amqp``), run small."""

import argparse
import asyncio

import pytest

from bench.analytics_ingest import _percentile, measure_amqp
from tests.support.datastores import require_rabbitmq


def test_percentiles_are_taken_from_the_sorted_values() -> None:
    values = [0.9, 0.1, 0.5, 0.3, 0.7]

    assert _percentile(values, 0.5) == 0.5
    assert _percentile(values, 0.95) == 0.9
    assert _percentile([], 0.5) != _percentile([], 0.5)  # NaN when there is nothing to measure


@pytest.mark.integration
def test_every_event_published_through_rabbitmq_is_ingested_and_its_lag_measured() -> None:
    require_rabbitmq()
    args = argparse.Namespace(broker="amqp", rate=100.0, seconds=1.3, backlog=260)

    report = asyncio.run(measure_amqp(args))

    assert report["events_streamed"] == 130
    assert report["events_ingested"] == 130  # one lag per event, none twice
    assert report["backlog_ingested"] == 260
    assert 0 < report["lag_p50_s"] <= report["lag_p95_s"] <= report["lag_max_s"] < 5
    assert report["catch_up_events_per_second"] > 0
