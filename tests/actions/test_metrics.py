"""The action server's metrics: action_track_empathy's latency, tone changes and decisions, handoffs sent,
and the outbox depth, served on a loopback port of their own.
"""

import urllib.request
from pathlib import Path
from typing import Any

import pytest
from prometheus_client import CollectorRegistry, generate_latest
from prometheus_client.parser import text_string_to_metric_families
from rasa_sdk.executor import CollectingDispatcher

from actions import bootstrap, metrics, resources
from actions.clients.handoff import HandoffClient
from actions.empathy_tracking import ActionTrackEmpathy
from actions.escalation import ActionHandoff
from actions.metrics import ActionServerMetrics
from actions.outbox import Outbox
from actions.settings import ActionServerSettings, ConfigError
from handoff.app import create_app
from handoff.core.settings import Settings
from tests.support.ports import bound_socket, free_port, port_of
from tests.support.trackers import BASE_SLOTS, conversation, message, tracker

TOKEN = "metrics-test-token-0000"


def value(exposition: str, sample: str, **labels: str) -> float:
    """The sample's value (0 when absent), parsed as Prometheus would."""
    for family in text_string_to_metric_families(exposition):
        for found in family.samples:
            if found.name == sample and all(found.labels.get(k) == v for k, v in labels.items()):
                return float(found.value)
    return 0.0


def text(recorded: ActionServerMetrics) -> str:
    return generate_latest(recorded.registry).decode()


@pytest.fixture
def recorded() -> ActionServerMetrics:
    return metrics.create(CollectorRegistry())


async def track(
    recorded: ActionServerMetrics, slots: dict[str, Any], events: list[dict[str, Any]]
) -> dict[str, Any]:
    action = ActionTrackEmpathy(metrics=lambda: recorded)
    result = await action.run(CollectingDispatcher(), tracker(slots, events), {})
    # The slots after the turn: a slot whose value did not change is not set again.
    return {**slots, **{e["name"]: e["value"] for e in result}}


async def test_each_message_is_timed_and_tone_changes_and_decisions_are_counted(
    recorded: ActionServerMetrics,
) -> None:
    calm = await track(recorded, {"tone": "neutral"}, [message("where is order 10002", "order_status")])
    angry = await track(
        recorded,
        {"tone": "neutral"},
        [message("YOU LOST MY PARCEL, USELESS!!!", "complain", emotion="anger")],
    )
    assert (calm["tone"], calm["escalation"]) == ("neutral", "none")
    assert (angry["tone"], angry["escalation"]) == ("calm_direct", "offer_human")

    exposition = text(recorded)

    assert value(exposition, "attune_empathy_turn_seconds_count", outcome="scored") == 2
    assert value(exposition, "attune_empathy_turn_seconds_sum", outcome="scored") > 0
    assert value(exposition, "attune_empathy_turn_seconds_bucket", outcome="scored", le="+Inf") == 2
    assert value(exposition, "attune_tone_changes_total", from_tone="neutral", to_tone="calm_direct") == 1
    assert value(exposition, "attune_tone_changes_total", from_tone="neutral", to_tone="neutral") == 0
    assert value(exposition, "attune_escalation_decisions_total", decision="none") == 1
    assert value(exposition, "attune_escalation_decisions_total", decision="offer_human") == 1


async def test_a_message_scored_already_an_opted_out_turn_and_a_failure_are_told_apart(
    recorded: ActionServerMetrics, monkeypatch: pytest.MonkeyPatch, tmp_path: Path
) -> None:
    first = message("where is order 10002", "order_status", timestamp=5.0)
    scored = await track(recorded, {}, [first])
    # Rasa runs slot extraction again when a form starts in the same turn: nothing new to score.
    again = ActionTrackEmpathy(metrics=lambda: recorded)
    assert await again.run(CollectingDispatcher(), tracker(scored, [first]), {}) == []
    opted_out = {
        **message("where is order 10002", "order_status"),
        "metadata": {"attune": {"emotion_processing": "off"}},
    }
    assert (await track(recorded, {"tone": "warm"}, [opted_out]))["tone"] == "neutral"
    monkeypatch.setenv("ATTUNE_EMPATHY_POLICY", str(tmp_path / "missing.yml"))
    bootstrap.reset()  # settings are read once per container: this one reads the missing policy
    assert await track(recorded, {}, [message("hello", "greet")]) == {}

    exposition = text(recorded)

    count = "attune_empathy_turn_seconds_count"
    assert [value(exposition, count, outcome=o) for o in ("scored", "unchanged", "opted_out", "error")] == [
        1,
        1,
        1,
        1,
    ]
    assert value(exposition, "attune_tone_changes_total", from_tone="warm", to_tone="neutral") == 1
    assert value(exposition, "attune_escalation_decisions_total", decision="none") == 2  # scored, opted out


async def test_a_broken_metrics_registry_never_costs_the_customer_a_reply() -> None:
    def broken() -> ActionServerMetrics:
        raise RuntimeError("no metrics today")

    action = ActionTrackEmpathy(metrics=broken)
    result = await action.run(CollectingDispatcher(), tracker({}, [message("hi", "greet")]), {})

    assert {e["name"] for e in result} >= {"turn_record", "tone", "escalation"}


async def test_handoffs_sent_are_counted_by_reason_and_delivery_status(
    aiohttp_server, tmp_path: Path, recorded: ActionServerMetrics
) -> None:
    settings = Settings(
        database_url=f"sqlite:///{tmp_path / 'handoff.db'}", log_format="text", api_token=TOKEN
    )
    server = await aiohttp_server(create_app(settings))
    outbox = Outbox.open(f"sqlite:///{tmp_path / 'outbox.db'}")
    up = HandoffClient(str(server.make_url("")).rstrip("/"), TOKEN)
    down = HandoffClient(f"http://127.0.0.1:{free_port()}", TOKEN, timeout=0.5)

    for order, client in (("10001", up), ("10002", down)):
        conversation_tracker = conversation({**BASE_SLOTS, "order_id": order})
        conversation_tracker.sender_id = f"conv-{order}"
        action = ActionHandoff(outbox=lambda: outbox, client=lambda c=client: c, metrics=lambda: recorded)
        await action.run(CollectingDispatcher(), conversation_tracker, {})

    exposition = text(recorded)

    sent = "attune_handoffs_sent_total"
    assert value(exposition, sent, kind="handoff", reason="frustration", status="delivered") == 1
    assert value(exposition, sent, kind="handoff", reason="frustration", status="queued") == 1
    assert "conv-1000" not in exposition and "ada@example.com" not in exposition


async def test_the_process_serves_its_metrics_on_the_configured_loopback_port(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    port = free_port()
    monkeypatch.setenv("ATTUNE_ACTIONS_METRICS_PORT", str(port))
    await ActionTrackEmpathy().run(CollectingDispatcher(), tracker({}, [message("hi", "greet")]), {})
    served = resources.metrics()
    assert served.server is not None
    try:
        resources.outbox().put({"idempotency_key": "waiting-1", "reason": "frustration"})
        with urllib.request.urlopen(f"http://127.0.0.1:{port}/metrics", timeout=5) as response:
            exposition = response.read().decode()
    finally:
        served.server.shutdown()
        served.server.server_close()

    assert resources.metrics() is served  # one per process
    assert value(exposition, "attune_empathy_turn_seconds_count", outcome="scored") == 1
    assert value(exposition, "attune_outbox_depth", queue="handoffs") == 1
    assert value(exposition, "attune_outbox_depth", queue="audit") >= 0


def test_a_port_that_is_taken_is_logged_and_the_metrics_still_count(caplog: pytest.LogCaptureFixture) -> None:
    with bound_socket() as taken:
        taken.listen()
        recorded = metrics.create(CollectorRegistry())
        assert metrics.serve(recorded.registry, port_of(taken)) is None

    assert "metrics not served" in caplog.text


def test_the_port_comes_from_the_environment() -> None:
    assert ActionServerSettings.from_env({}).metrics_port is None
    assert ActionServerSettings.from_env({"ATTUNE_ACTIONS_METRICS_PORT": ""}).metrics_port is None
    assert ActionServerSettings.from_env({"ATTUNE_ACTIONS_METRICS_PORT": "9105"}).metrics_port == 9105
    for wrong in ("ninety", "0", "70000"):
        with pytest.raises(ConfigError, match="ATTUNE_ACTIONS_METRICS_PORT"):
            ActionServerSettings.from_env({"ATTUNE_ACTIONS_METRICS_PORT": wrong})
