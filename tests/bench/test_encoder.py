"""The ONNX encoder keeps the intent accuracy of torch on BANKING77 (bench/encoder.py ``accuracy``).

Trains the shipped NLU pipeline twice (a few minutes), so it is not in `make unit`.
"""

import os
from pathlib import Path

import pytest

from bench.encoder import accuracy, config_with_backend

SHARED = Path(__file__).resolve().parents[2].parent / "shared" / "data"
ROOT = Path(__file__).resolve().parents[2]


def shared_file(name: str) -> Path:
    path = SHARED / name
    if not path.is_file():
        if os.environ.get("CI") == "true":
            pytest.fail(f"{path} is missing; CI must provide ../shared/data")
        pytest.skip(f"{path} not present (a user's clone has no ../shared); set CI=true to require it")
    return path


def test_the_benchmark_config_changes_only_the_featurizer_backend(tmp_path: Path) -> None:
    import yaml

    shipped = yaml.safe_load((ROOT / "config.yml").read_text())
    written = config_with_backend("torch", ROOT / "config.yml", tmp_path / "c.yml")
    changed = yaml.safe_load(written.read_text())

    differences = [(a, b) for a, b in zip(shipped["pipeline"], changed["pipeline"], strict=True) if a != b]
    assert [b.get("backend") for _, b in differences] == ["torch"]
    assert {k: v for k, v in changed.items() if k != "pipeline"} == {
        k: v for k, v in shipped.items() if k != "pipeline"
    }


@pytest.mark.integration
@pytest.mark.slow
def test_onnx_intent_accuracy_on_banking77_is_within_0_3_points_of_torch() -> None:
    data = shared_file("intents_banking77.dev.jsonl")

    report = accuracy(data, ["torch", "onnx"], limit_test=0)

    torch, onnx = report["results"]["torch"], report["results"]["onnx"]
    assert torch["n_test"] == onnx["n_test"] > 900
    assert torch["accuracy"] > 0.8  # a broken encoder fails both alike; this catches that too
    assert abs(onnx["delta_points"]) <= 0.3, report
