"""The action server re-reads policy/experiments.yml when it changes (actions/experiment_arm.py): an
experiment starts or stops without a restart, a broken file keeps the last good one, and assignment
stays deterministic.
"""

import logging
import shutil
from datetime import date
from pathlib import Path

import pytest

from actions import bootstrap
from actions.experiment_arm import ExperimentsFile, apply
from actions.policy_reload import FileWatch
from actions.settings import ActionServerSettings
from bot.empathy.experiments import assign, running
from bot.empathy.tone import NEUTRAL
from tests.support.reloading import Clock, rewrite

ROOT = Path(__file__).resolve().parents[2]
SHIPPED = ROOT / "policy" / "experiments.yml"
DURING = date(2027, 2, 1)  # within the shipped experiment's start and end
UNITS = [f"customer:C-{i:04d}" for i in range(200)]


@pytest.fixture
def experiments_file(tmp_path: Path) -> Path:
    copy = tmp_path / "experiments.yml"
    shutil.copy(SHIPPED, copy)
    return copy


def test_enabling_the_experiment_takes_effect_after_the_check_interval(experiments_file: Path) -> None:
    clock = Clock()
    source = ExperimentsFile(FileWatch(experiments_file, check_seconds=1.0, clock=clock))
    assert running(source.current(), DURING) is None  # shipped disabled

    rewrite(experiments_file, "enabled: false", "enabled: true")
    clock.now = 0.5
    before_interval = running(source.current(), DURING)
    clock.now = 1.0
    after_interval = running(source.current(), DURING)

    assert before_interval is None
    assert after_interval is not None and after_interval.name == "adaptive-tone-v1"


def test_assignment_is_the_same_before_and_after_a_reload(experiments_file: Path) -> None:
    clock = Clock()
    rewrite(experiments_file, "enabled: false", "enabled: true")
    source = ExperimentsFile(FileWatch(experiments_file, clock=clock))
    (before,) = source.current()
    arms_before = [assign(before, unit).name for unit in UNITS]

    rewrite(experiments_file, "minimum_detectable_effect: 0.05", "minimum_detectable_effect: 0.04")
    clock.now = 5.0
    (after,) = source.current()

    assert after.minimum_detectable_effect == 0.04  # the new file is in force
    assert [assign(after, unit).name for unit in UNITS] == arms_before
    assert {"neutral", "adaptive"} == set(arms_before)  # and the split is a split
    # A conversation already in an arm keeps it, even when a reload changes the weights.
    rewrite(experiments_file, "weight: 1\n        adaptive: false", "weight: 0\n        adaptive: false")
    clock.now = 10.0
    (reweighted,) = source.current()
    carried = {"name": reweighted.name, "arm": "neutral", "exposed": True}
    assert apply(reweighted, carried, UNITS[0], "apologetic").wording == NEUTRAL
    assert apply(reweighted, None, UNITS[0], "apologetic").wording == "apologetic"  # new: all adaptive


def test_a_broken_file_keeps_the_last_good_experiments_and_says_so_once(
    experiments_file: Path, caplog: pytest.LogCaptureFixture
) -> None:
    clock = Clock()
    rewrite(experiments_file, "enabled: false", "enabled: true")
    source = ExperimentsFile(FileWatch(experiments_file, clock=clock))

    rewrite(experiments_file, "primary_metric: self_service_success", "primary_metric: happiness")
    with caplog.at_level(logging.ERROR, logger="actions.experiment_arm"):
        for second in range(1, 4):
            clock.now = float(second)
            kept = source.current()

    assert [e.primary_metric for e in kept] == ["self_service_success"]
    assert running(kept, DURING) is not None
    logged = [r.getMessage() for r in caplog.records if "not loaded" in r.getMessage()]
    assert len(logged) == 1
    assert "previous experiments stay in force" in logged[0] and "primary_metric must be one of" in logged[0]


@pytest.mark.parametrize("broken", ["experiments: [unclosed", "experiments: [{name: x}]"])
def test_a_file_broken_from_the_start_runs_no_experiment_until_it_is_fixed(
    experiments_file: Path, caplog: pytest.LogCaptureFixture, broken: str
) -> None:
    good = experiments_file.read_text(encoding="utf-8").replace("enabled: false", "enabled: true")
    experiments_file.write_text(broken, encoding="utf-8")
    clock = Clock()
    with caplog.at_level(logging.ERROR, logger="actions.experiment_arm"):
        source = ExperimentsFile(FileWatch(experiments_file, clock=clock))
        first = source.current()

    rewrite(experiments_file, broken, good)
    clock.now = 2.0
    fixed = source.current()

    assert first == ()
    assert any("no experiment runs" in r.getMessage() for r in caplog.records)
    assert running(fixed, DURING) is not None


def test_a_file_that_disappears_keeps_the_last_good_experiments(experiments_file: Path) -> None:
    clock = Clock()
    source = ExperimentsFile(FileWatch(experiments_file, clock=clock))
    loaded = source.current()

    experiments_file.unlink()
    clock.now = 2.0

    assert source.current() == loaded and len(loaded) == 1


def test_the_action_servers_container_serves_the_reloaded_experiments(experiments_file: Path) -> None:
    services = bootstrap.bootstrap(ActionServerSettings(experiments_file=str(experiments_file)))
    try:
        assert [e.enabled for e in services.experiments()] == [False]
        rewrite(experiments_file, "enabled: false", "enabled: true")
        source = services._once("experiments", lambda: None)
        assert isinstance(source, ExperimentsFile)
        source._watch._checked -= 10  # as if the check interval had passed
        assert [e.enabled for e in services.experiments()] == [True]
    finally:
        bootstrap.reset()
