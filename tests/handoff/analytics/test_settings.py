"""The consumer's settings fail fast and name the variable."""

import pytest

from handoff.core.settings import ConfigError, Settings

BASE = {"ATTUNE_SESSION_KEY": "k" * 40}


def test_the_broker_url_and_the_switch_are_read() -> None:
    settings = Settings.from_env(
        {**BASE, "ATTUNE_EVENT_BROKER_URL": "sqlite:///var/events.db", "ATTUNE_ANALYTICS_CONSUMER": "0"}
    )
    assert (settings.event_broker_url, settings.analytics_consumer) == ("sqlite:///var/events.db", False)
    assert Settings.from_env(BASE).event_broker_url is None and Settings.from_env(BASE).analytics_consumer


@pytest.mark.parametrize(
    ("name", "value"),
    [("ATTUNE_EVENT_BROKER_URL", "var/events.db"), ("ATTUNE_ANALYTICS_CONSUMER", "yes")],
)
def test_a_malformed_value_stops_the_service(name: str, value: str) -> None:
    with pytest.raises(ConfigError, match=name):
        Settings.from_env({**BASE, name: value})
