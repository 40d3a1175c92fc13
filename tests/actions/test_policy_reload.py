"""The action server re-reads the empathy policy when its file changes (actions/policy_reload.py)."""

import logging
import shutil
from pathlib import Path

import pytest

from actions import bootstrap
from actions.policy_reload import PolicyFile
from actions.settings import ActionServerSettings
from bot.empathy.policy import PolicyError
from tests.support.reloading import Clock, rewrite

ROOT = Path(__file__).resolve().parents[2]


@pytest.fixture
def policy_file(tmp_path: Path) -> Path:
    copy = tmp_path / "empathy.yml"
    shutil.copy(ROOT / "policy" / "empathy.yml", copy)
    return copy


def test_a_saved_change_is_in_force_after_the_check_interval(policy_file: Path) -> None:
    clock = Clock()
    source = PolicyFile(policy_file, check_seconds=1.0, clock=clock)
    first = source.version

    rewrite(policy_file, "negative_emotion: 0.60", "negative_emotion: 0.70")
    clock.now = 0.5
    before_interval = source.current().frustration_weights["negative_emotion"]
    clock.now = 1.0
    after_interval = source.current().frustration_weights["negative_emotion"]

    assert (before_interval, after_interval) == (0.6, 0.7)
    assert source.version != first


def test_an_invalid_file_keeps_the_last_good_policy_and_says_so_once(
    policy_file: Path, caplog: pytest.LogCaptureFixture
) -> None:
    clock = Clock()
    source = PolicyFile(policy_file, clock=clock)

    rewrite(policy_file, "negative_emotion: 0.60", "negative_emotion: 7.0")
    with caplog.at_level(logging.ERROR, logger="actions.policy_reload"):
        for second in range(1, 4):
            clock.now = float(second)
            kept = source.current()

    assert kept.frustration_weights["negative_emotion"] == 0.6
    logged = [r.getMessage() for r in caplog.records if "not reloaded" in r.getMessage()]
    assert len(logged) == 1 and "must be between -1.0 and 1.0" in logged[0]


def test_an_invalid_file_still_stops_the_first_use(policy_file: Path) -> None:
    rewrite(policy_file, "negative_emotion: 0.60", "negative_emotion: yes")

    with pytest.raises(PolicyError, match="must be a number"):
        PolicyFile(policy_file)


def test_the_action_servers_container_serves_the_reloaded_policy(policy_file: Path) -> None:
    services = bootstrap.bootstrap(ActionServerSettings(empathy_policy_file=str(policy_file)))
    try:
        assert services.empathy_policy().tone.warm_above == 0.2
        rewrite(policy_file, "warm_above: 0.20", "warm_above: 0.25")
        source = services._once("empathy_policy", lambda: None)
        assert isinstance(source, PolicyFile)
        source._watch._checked -= 10  # as if the check interval had passed
        assert services.empathy_policy().tone.warm_above == 0.25
    finally:
        bootstrap.reset()
