"""The pure parts of the broker on/off benchmark (bench/e2e_broker.py, bench/launch_without_broker.py)."""

from pathlib import Path
from typing import Any

import pytest
import yaml

from bench.e2e_broker import parse_args, schedule, summary, table
from bench.launch_without_broker import write_endpoints_without_broker
from bot.launcher import Ports, write_endpoints


def run(p50: float | None, p95: float | None, errors: int = 0) -> dict[str, Any]:
    return {"p50_ms": p50, "p95_ms": p95, "cpu_ms_per_msg": 100.0, "errors": errors, "messages": 20}


def test_the_stack_without_a_broker_has_everything_else_of_make_runs_endpoints(tmp_path: Path) -> None:
    ports = Ports(5005, 5055, 5056, None)
    with_broker = yaml.safe_load(write_endpoints(tmp_path, ports).read_text())
    without = yaml.safe_load(write_endpoints_without_broker(tmp_path, ports).read_text())

    assert with_broker["event_broker"]["type"] == "bot.components.event_broker.QueuedSQLEventBroker"
    assert "event_broker" not in without
    assert without == {k: v for k, v in with_broker.items() if k != "event_broker"}


def test_differences_are_paired_run_by_run_and_a_run_without_figures_drops_its_pair() -> None:
    levels = summary(
        {
            "off": [run(60, 90), run(70, 100), run(65, None)],
            "on": [run(61, 95), run(73, 99, errors=1), run(66, 140)],
        }
    )

    assert levels["p50_ms"]["added_each_run"] == [1, 3, 1]
    assert levels["p50_ms"]["added_median"] == 1
    assert levels["p95_ms"]["added_each_run"] == [5, -1]
    assert levels["p95_ms"]["on"] == {"median": 99, "min": 95, "max": 140}
    assert (levels["errors"], levels["messages"]) == ({"off": 0, "on": 1}, {"off": 60, "on": 60})
    assert "| 1 | 65.0 (60.0-70.0) | 66.0 (61.0-73.0) | 1 |" in table({1: levels})


@pytest.mark.parametrize(
    "argv", [["--levels", "0"], ["--levels", "1,x"], ["--repeats", "0"], ["--repeats", "51"]]
)
def test_nonsense_arguments_are_refused(argv: list[str]) -> None:
    with pytest.raises(SystemExit):
        parse_args(argv)


@pytest.mark.parametrize("levels", [[1], [1, 4], [1, 2, 4]])
def test_every_level_runs_off_first_and_on_first_equally_often(levels: list[int]) -> None:
    runs = schedule(4, levels)

    assert [(repeat, users) for repeat, users, _ in runs] == [(r, u) for r in range(4) for u in levels]
    for users in levels:
        orders = [order for _, level, order in runs if level == users]
        assert orders.count(("off", "on")) == orders.count(("on", "off")) == 2
