"""The eval report's pure parts: confident misses, the emotion confusion matrix, the comparison
with the previous run, and the HTML (axis values, tables, escaping).
"""

import json
from pathlib import Path

import pytest

from bot.empathy.scoring import score_turn
from bot.empathy.signals import TurnSignals
from bot.evaluation import report_comparison
from bot.evaluation.engine import ScoredTurn, load_policy
from bot.evaluation.evaluate import confusion_matrix, most_confident_misses
from bot.evaluation.report import write_report

POLICY = load_policy()


def scored(text: str, negative: float, index: int = 0) -> ScoredTurn:
    signals = TurnSignals({"negative_emotion": negative, "punctuation": 1.0}, {"fear": 0.0})
    return ScoredTurn(index, text, score_turn(signals, 0.0, 0.0, POLICY))


def test_the_most_confident_misses_come_first_with_their_signals() -> None:
    candidates = [
        ("calm-a", scored("fine, thanks", 0.95), False),  # offered: the most confident false offer
        ("calm-b", scored("ok", 0.9), False),
        ("calm-c", scored("hello", 0.0), False),  # not offered: no miss
        ("angry-a", scored("whatever.", 0.0), True),  # frustrated, scored lowest: the surest miss
        ("angry-b", scored("hm", 0.2), True),
        ("angry-c", scored("USELESS", 1.0), True),  # caught
    ]

    misses = most_confident_misses(candidates, offer_above=0.5, threshold=0.2, keep=1)

    assert misses["counts"] == {"false_offers": 2, "missed_frustration": 2}
    assert [m["id"] for m in misses["false_offers"]] == ["calm-a"]
    assert [m["id"] for m in misses["missed_frustration"]] == ["angry-a"]
    top = misses["false_offers"][0]["contributions"][0]
    assert top["signal"] == "negative_emotion"
    assert top["contribution"] == pytest.approx(top["value"] * top["weight"], abs=1e-3)


def test_the_confusion_matrix_counts_single_label_texts_only() -> None:
    labels = ("anger", "joy", "neutral")
    gold = [{"anger"}, {"anger"}, {"joy"}, {"joy", "neutral"}, {"surprise"}]
    predicted = ["anger", "joy", "joy", "neutral", "joy"]

    found = confusion_matrix(gold, predicted, labels)

    assert found["matrix"] == [[1, 1, 0], [0, 1, 0], [0, 0, 0]]
    assert found["left_out"] == 2
    assert found["labels"] == list(labels)


def test_the_previous_run_is_kept_and_compared(tmp_path: Path) -> None:
    out = tmp_path / "eval.json"
    out.write_text(json.dumps({"file": "d.jsonl", "auc": 0.70, "f1": 0.5, "threshold": 0.2}))

    previous = report_comparison.keep_previous(out)
    deltas = report_comparison.compare(
        previous, [{"file": "d.jsonl", "auc": 0.75, "f1": 0.45, "threshold": 0.3}]
    )

    assert not out.exists() and report_comparison.previous_path(out).is_file()
    assert [(d["metric"], round(d["delta"], 3)) for d in deltas] == [("auc", 0.05), ("f1", -0.05)]
    assert "auc 0.700 -> 0.750 (+0.050)" in report_comparison.format_deltas(deltas)


@pytest.mark.parametrize(
    "content",
    [b"not json", b"\xff\xfe", b"[1, 2, 3]", b'{"file": "d.jsonl", "auc": "high", "f1": NaN}', b"null"],
)
def test_a_previous_file_of_another_shape_is_no_comparison(tmp_path: Path, content: bytes) -> None:
    out = tmp_path / "eval.json"
    out.write_bytes(content)

    deltas = report_comparison.compare(
        report_comparison.keep_previous(out), [{"file": "d.jsonl", "auc": 0.7}]
    )

    assert deltas == []
    assert report_comparison.format_deltas(deltas).startswith("no previous run")


def test_the_report_shows_axis_values_misses_confusion_and_changes(tmp_path: Path) -> None:
    hostile = "<script>alert(1)</script>"
    dialogues = {
        "file": "d.jsonl",
        "auc": 0.8,
        "threshold": 0.2,
        "_roc": [(0.0, 0.0), (1.0, 1.0)],
        "_examples": [
            {"id": "x", "turns": [{"text": hostile, "frustration": 0.3, "distress": 0.1, "positive": True}]}
        ],
        "misses": most_confident_misses([("x", scored(hostile, 0.95), False)], 0.5, 0.2),
    }
    emotions = {"file": "e.jsonl", "confusion": confusion_matrix([{"joy"}], ["joy"], ("joy", "anger"))}
    delta = {"file": "d.jsonl", "metric": "auc", "before": 0.7, "after": 0.8, "delta": 0.1}

    write_report(tmp_path / "d.html", "dialogues", [dialogues], [delta])
    write_report(tmp_path / "e.html", "emotions", [emotions])
    page, emotion_page = (tmp_path / "d.html").read_text(), (tmp_path / "e.html").read_text()

    assert ">0.5</text>" in page and ">1</text>" in page  # values on the axes
    assert "False offers" in page and "negative_emotion" in page
    assert "+0.100" in page and "Compared with the previous run" in page
    assert hostile not in page and "&lt;script&gt;" in page
    assert "Emotion confusion" in emotion_page and "No previous run" in emotion_page


def test_attune_eval_keeps_the_last_run_and_prints_the_change(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    from bot.cli import main

    turns = [
        {"speaker": "user", "text": "where is my parcel", "frustration": 0},
        {"speaker": "bot", "text": "Sorry, I can't find that order."},
        {"speaker": "user", "text": "THIS IS THE THIRD TIME, USELESS!!!", "frustration": 4},
    ]
    source = tmp_path / "d.jsonl"
    source.write_text(json.dumps({"id": "a", "turns": turns}) + "\n")
    out = tmp_path / "out.json"
    out.write_text(json.dumps({"file": str(source), "auc": 0.5, "f1": 0.0}))

    assert main(["eval", "dialogues", str(source), "--json", str(out)]) == 0

    printed = capsys.readouterr().out
    assert "d.jsonl: auc 0.500 -> 1.000 (+0.500)" in printed
    assert json.loads((tmp_path / "out.previous.json").read_text())["auc"] == 0.5
    assert json.loads(out.read_text())["misses"]["counts"] == {"false_offers": 0, "missed_frustration": 0}
    assert "Compared with the previous run" in out.with_suffix(".html").read_text()
