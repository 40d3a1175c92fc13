"""Both services' Prometheus metrics, scraped over HTTP from the stack `make run` starts."""

import uuid

import aiohttp
import pytest
from prometheus_client.parser import text_string_to_metric_families

from tests.support.rest_chat import rest
from tests.support.stack import RunningStack

pytestmark = pytest.mark.integration


async def scrape(url: str) -> str:
    async with aiohttp.ClientSession() as session, session.get(url) as response:
        assert response.status == 200, url
        assert response.headers["Content-Type"].startswith("text/plain"), url
        return await response.text()


def total(exposition: str, sample: str, **labels: str) -> float:
    """The sum of every sample of that name carrying those labels."""
    return sum(
        found.value
        for family in text_string_to_metric_families(exposition)
        for found in family.samples
        if found.name == sample and all(found.labels.get(k) == v for k, v in labels.items())
    )


async def test_after_a_conversation_both_services_serve_metrics_that_counted_it(stack: RunningStack) -> None:
    handoff_metrics = f"{stack.handoff_url}/metrics"
    resolved = "attune_http_request_duration_seconds_count"
    before = total(await scrape(handoff_metrics), resolved, route="/api/v1/customers/resolve")
    sender = f"metrics-{uuid.uuid4().hex}"
    for text in ("where is my order 10002?", "and 99999?", "sorry, 10001"):
        status, _ = await rest(stack, text, sender)
        assert status == 200

    actions = await scrape(stack.actions_metrics_url)
    handoff = await scrape(handoff_metrics)

    # Every customer message ran action_track_empathy once, and each scored turn made a decision.
    assert total(actions, "attune_empathy_turn_seconds_count") >= 3
    assert total(actions, "attune_escalation_decisions_total") >= total(
        actions, "attune_empathy_turn_seconds_count", outcome="scored"
    )
    assert "attune_outbox_depth" in actions
    # The consent gate asked the handoff service about this new customer; the queue depth is there.
    assert total(handoff, resolved, route="/api/v1/customers/resolve") > before
    assert "attune_handoff_queue_depth" in handoff
    for exposition in (actions, handoff):
        assert sender not in exposition
