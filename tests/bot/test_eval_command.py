"""`attune eval`: metrics from the shipped engine on files in the ../shared/data formats."""

import json
import os
from pathlib import Path

import pytest

from bot.cli import main

SHARED = Path(__file__).resolve().parents[2].parent / "shared" / "data"


def shared_file(name: str) -> Path:
    path = SHARED / name
    if not path.is_file():
        if os.environ.get("CI") == "true":
            pytest.fail(f"{path} is missing; CI must provide ../shared/data")
        pytest.skip(f"{path} not present (a user's clone has no ../shared); set CI=true to require it")
    return path


def write_jsonl(path: Path, rows: list[dict]) -> Path:
    path.write_text("".join(json.dumps(r) + "\n" for r in rows))
    return path


def test_dialogue_metrics_on_a_small_file(tmp_path: Path) -> None:
    turns = [
        {"speaker": "user", "text": "where is my parcel", "frustration": 0},
        {"speaker": "bot", "text": "Sorry, I can't find that order."},
        {"speaker": "user", "text": "THIS IS THE THIRD TIME, USELESS!!!", "frustration": 4},
        {"speaker": "bot", "text": "I understand."},
        {"speaker": "user", "text": "thanks, that's sorted now", "frustration": 0},
    ]
    source = write_jsonl(tmp_path / "d.jsonl", [{"id": "a", "turns": turns}])
    out = tmp_path / "out.json"

    assert main(["eval", "dialogues", str(source), "--json", str(out)]) == 0

    result = json.loads(out.read_text())
    assert result["n_turns"] == 3
    assert result["positives"] == 1
    assert result["auc"] == 1.0  # the shouted complaint outranks both calm turns
    assert set(result) >= {
        "n_turns",
        "positives",
        "auc",
        "f1",
        "precision",
        "recall",
        "threshold",
        "spearman",
    }
    assert "<svg" in out.with_suffix(".html").read_text()


def test_a_malformed_line_is_reported_with_its_number(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    source = tmp_path / "bad.jsonl"
    source.write_text('{"turns": []}\n{not json\n')

    assert main(["eval", "dialogues", str(source)]) == 2
    assert "bad.jsonl:2" in capsys.readouterr().err


def test_twcs_dev_file(tmp_path: Path) -> None:
    out = tmp_path / "twcs.json"
    assert (
        main(
            [
                "eval",
                "dialogues",
                str(shared_file("frustration_dialogues_twcs.dev.jsonl")),
                "--json",
                str(out),
            ]
        )
        == 0
    )
    result = json.loads(out.read_text())
    assert result["n_turns"] > 200
    # Better than chance by a clear margin (the VADER baseline reaches 0.68 on this set).
    assert result["auc"] > 0.65
    assert result["spearman"] > 0.3


def test_fit_frustration_prints_the_weights_and_a_patch_without_writing(
    capsys: pytest.CaptureFixture[str],
) -> None:
    policy = Path(__file__).resolve().parents[2] / "policy" / "empathy.yml"
    before = policy.read_text(encoding="utf-8")

    assert main(["fit", "frustration"]) == 0

    out = capsys.readouterr().out
    assert "frustrated" in out.splitlines()[0]
    assert "negative_emotion" in out and "kept" in out  # nlu_fallback has no evidence in a transcript
    assert "+++ policy/empathy.yml" in out or "policy unchanged" in out
    assert policy.read_text(encoding="utf-8") == before


@pytest.mark.parametrize(
    "argv", [["fit", "frustration", "--l2", "0"], ["fit", "frustration", "--dev", "nope.jsonl"]]
)
def test_fit_frustration_rejects_bad_arguments(argv: list[str]) -> None:
    with pytest.raises(SystemExit) as exit_info:
        main(argv)
    assert exit_info.value.code == 2
