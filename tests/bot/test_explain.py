"""`attune explain`: the turn loop agrees with action_track_empathy, and the report reads it right.

The parse data here is what the emotion component writes (probabilities, cues, the packed vector);
no model is loaded.  The action runs with the same policy file on throwaway databases.
"""

from collections.abc import Iterator
from pathlib import Path
from typing import Any

import numpy as np
import pytest

from actions import bootstrap
from actions.empathy_tracking import ActionTrackEmpathy, stored
from bot.empathy import compact_vector
from bot.empathy.emotions import EMOTIONS
from bot.empathy.explain import explain_conversation
from bot.evaluation import explain
from bot.evaluation.engine import ROOT, load_policy
from tests.support.trackers import tracker

RNG = np.random.default_rng(7)
BASE = RNG.normal(size=384)


def parse(
    text: str,
    intent: str,
    emotion: str = "neutral",
    strength: float = 0.8,
    near: float = 0.0,
    cues: dict[str, float] | None = None,
    language: dict[str, Any] | None = None,
) -> dict[str, Any]:
    """Parse data as the NLU writes it; ``near`` in [0, 1] makes the vector a rephrase of BASE."""
    rest = (1.0 - strength) / (len(EMOTIONS) - 1)
    vector = near * BASE + (1 - near) * RNG.normal(size=384)
    return {
        "text": text,
        "intent": {"name": intent, "confidence": 0.9},
        "intent_ranking": [{"name": intent, "confidence": 0.9}, {"name": "inform", "confidence": 0.05}],
        "entities": [],
        "language": language or {"code": "en", "supported": True},
        "emotion": {
            "probabilities": {e: strength if e == emotion else rest for e in EMOTIONS},
            "cues": cues or {},
            "vector": compact_vector.pack(vector),
        },
    }


@pytest.fixture
def action_server(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Iterator[ActionTrackEmpathy]:
    monkeypatch.setenv("ATTUNE_STORE_DATABASE_URL", f"sqlite:///{tmp_path / 'store.db'}")
    monkeypatch.setenv("ATTUNE_OUTBOX_DATABASE_URL", f"sqlite:///{tmp_path / 'outbox.db'}")
    monkeypatch.setenv("ATTUNE_HANDOFF_URL", "http://127.0.0.1:9")
    monkeypatch.setenv("ATTUNE_EMPATHY_POLICY", str(ROOT / "policy" / "empathy.yml"))
    bootstrap.reset()
    yield ActionTrackEmpathy()
    bootstrap.reset()


def action_explanations(
    action: ActionTrackEmpathy, parses: list[dict[str, Any]], opted_out: bool
) -> list[dict[str, Any]]:
    """What the action decides turn by turn, the slots between turns kept as Rasa keeps them."""
    slots: dict[str, Any] = {"tone": "neutral", "failed_attempts": 0}
    events: list[dict[str, Any]] = []
    found = []
    gate = {"attune": {"emotion_processing": "off" if opted_out else "on"}}
    for number, data in enumerate(parses):
        body = {k: v for k, v in data.items() if k != "text"}
        events.append(
            {
                "event": "user",
                "text": data["text"],
                "message_id": f"m{number}",
                "parse_data": body,
                "metadata": gate,
            }
        )
        seen = tracker(slots, list(events))
        decided = action.track(seen)
        found.append({e["name"]: e["value"] for e in decided}["empathy_explanation"])
        slots |= {e["name"]: e["value"] for e in stored(seen, decided)}
        # The tracker store keeps no message vector in a stored event (bot/components/tracker_store.py).
        events[-1] = {**events[-1], "parse_data": {**body, "emotion": {**body["emotion"], "vector": None}}}
        events.append({"event": "bot", "text": "ok"})
    return found


CONVERSATIONS = {
    "rising anger, the same request rephrased": [
        parse("where is my order", "order_status", near=1.0),
        parse(
            "where is my ORDER??",
            "order_status",
            "frustration",
            0.6,
            near=0.9,
            cues={"punctuation_burst": 1.0},
        ),
        parse(
            "THIRD TIME: WHERE IS IT, this is useless",
            "order_status",
            "anger",
            0.9,
            near=0.8,
            cues={"caps_ratio": 0.9, "repetition": 1.0, "sarcasm": 0.5},
        ),
        parse("thanks, found it", "thank", "joy", 0.9),
    ],
    "not understood twice, then a person asked for": [
        parse("blorf", "nlu_fallback"),
        parse("zzzq wibble", "nlu_fallback", "confusion", 0.7, cues={"punctuation_burst": 1.0}),
        parse(
            "I'm scared, please get me a person", "request_human", "fear", 0.9, cues={"distress_words": 1.0}
        ),
    ],
    "a language the models do not read": [
        parse("wo ist mein Paket", "order_status", "anger", 0.9, language={"code": "de", "supported": False}),
        parse("where is my parcel", "order_status", near=0.5),
    ],
}


@pytest.mark.parametrize("opted_out", [False, True])
@pytest.mark.parametrize("name", sorted(CONVERSATIONS))
def test_explain_decides_what_the_action_server_decides(
    action_server: ActionTrackEmpathy, name: str, opted_out: bool
) -> None:
    parses = CONVERSATIONS[name]
    expected = action_explanations(action_server, parses, opted_out)

    explained = explain_conversation([explain.read_turn(p) for p in parses], load_policy(), opted_out)

    assert len(explained) == len(expected)
    for mine, theirs in zip(explained, expected, strict=True):
        assert mine.decision.to_dict() == theirs["decision"]
        if opted_out:
            assert mine.score is None and theirs["opted_out"] is True
            continue
        assert mine.score is not None
        assert mine.score.to_dict()["frustration"] == theirs["frustration"]
        assert mine.score.to_dict()["distress"] == theirs["distress"]
        assert mine.tone.to_dict() == theirs["tone"]
        assert mine.score.unavailable == tuple(theirs["unavailable"])


def test_the_conversations_reach_what_they_are_about() -> None:
    """The parity test above is only worth something if the decisions vary."""
    policy = load_policy()

    def run(name: str) -> list[Any]:
        return explain_conversation([explain.read_turn(p) for p in CONVERSATIONS[name]], policy)

    angry = run("rising anger, the same request rephrased")
    lost = run("not understood twice, then a person asked for")
    foreign = run("a language the models do not read")

    assert [e.decision.kind for e in angry][:3] == ["none", "offer_human", "none"]
    assert "cooldown" in angry[2].decision.reasons[-1]
    assert angry[2].tone.tone != "neutral"
    assert angry[2].score is not None and angry[2].score.frustration.carried > 0
    assert lost[-1].decision.kind == "handoff" and lost[-1].decision.priority == "high"
    assert (
        foreign[0].score is not None and "negative_emotion" not in foreign[0].score.frustration.contributions
    )


def test_the_report_names_every_part_of_the_score() -> None:
    parses = CONVERSATIONS["rising anger, the same request rephrased"][:3]
    explained = explain_conversation([explain.read_turn(p) for p in parses], load_policy())

    result = explain.report(parses, explained, explain.Replies.load(ROOT), {"start to explained": 1.5})
    text = explain.render_text(result)

    parts = result["frustration"]["contributions"]
    assert parts["negative_emotion"]["contribution"] == pytest.approx(
        parts["negative_emotion"]["value"] * parts["negative_emotion"]["weight"], abs=1e-3
    )
    assert result["frustration"]["carried"] > 0  # the two turns before count
    assert result["intent_ranking"][0] == {"intent": "order_status", "confidence": 0.9}
    assert result["emotion"]["anger"] == pytest.approx(0.9)
    assert result["cues"] == {"caps_ratio": 1.0 * 0.9, "repetition": 1.0, "sarcasm": 0.5}
    assert result["decision"]["decision"] == "none" and "cooldown" in result["decision"]["reasons"][-1]
    assert result["reply"]["action"] == "order_form" and result["reply"]["text"] is None
    assert "negative_emotion" in text and "carried over" in text and "escalation: none" in text
    assert result["timings_ms"] == {"start to explained": 1500.0}


def test_an_opted_out_customer_gets_no_emotion_reading() -> None:
    parses = CONVERSATIONS["rising anger, the same request rephrased"][:3]
    explained = explain_conversation([explain.read_turn(p) for p in parses], load_policy(), opted_out=True)

    result = explain.report(parses, explained, explain.Replies.load(ROOT), {})

    assert result["opted_out"] is True
    assert result["emotion"] is None and result["cues"] == {}
    assert "frustration" not in result
    assert result["tone"]["tone"] == "neutral"
    assert "not read" in explain.render_text(result)


def test_the_reply_is_the_variant_of_the_chosen_tone() -> None:
    replies = explain.Replies.load(ROOT)

    assert replies.answers["greet"] == "utter_greet"
    assert replies.variant("utter_offer_human", "calm_direct") != replies.variant(
        "utter_offer_human", "apologetic"
    )
    assert replies.variant("utter_offer_human", "no_such_tone") == replies.variant(
        "utter_offer_human", "neutral"
    )
    assert replies.variant("utter_no_such_response", "warm") is None


def test_explain_refuses_what_it_cannot_read(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    from bot import cli

    with pytest.raises(SystemExit) as missing:
        cli.main(["explain", "hi", "--model", str(tmp_path / "none.tar.gz")])
    too_many = ["--after=x"] * cli.MAX_EXPLAIN_TURNS
    with pytest.raises(SystemExit) as long:
        cli.main(["explain", "hi", *too_many, "--model", str(tmp_path / "none.tar.gz")])

    assert missing.value.code == 2 and long.value.code == 2
    errors = capsys.readouterr().err
    assert "no trained model at" in errors and "at most 49 --after messages" in errors


@pytest.mark.integration
def test_explain_reads_a_message_with_the_trained_model() -> None:
    """The real command on the trained model: one process, model load included."""
    import json
    import subprocess
    import sys

    from tests.support.stack import trained_model

    model = trained_model()
    command = [sys.executable, "-m", "bot.cli", "explain", "I'm scared, my medication was in that parcel"]
    done = subprocess.run(
        [*command, "--after", "where is my order", "--json", "--model", str(model)],
        capture_output=True,
        text=True,
        timeout=300,
        cwd=ROOT,
    )

    assert done.returncode == 0, done.stderr[-2000:]
    result = json.loads(done.stdout)
    assert result["turn"] == 2 and len(result["trajectory"]) == 2
    assert abs(sum(result["emotion"].values()) - 1.0) < 0.01
    assert result["distress"]["contributions"]["distress_words"]["value"] > 0
    assert result["decision"]["decision"] in {"offer_callback", "none", "offer_human"}
    assert result["intent_ranking"][0]["confidence"] >= result["intent_ranking"][1]["confidence"]
