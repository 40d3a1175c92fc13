"""Fitting the frustration weights on data/frustration/: the data format, the fit and the write-back."""

from pathlib import Path

import numpy as np
import pytest
import yaml

from bot.empathy.fitting import (
    LABELS,
    FrustrationDataError,
    fit_logistic,
    informative,
    parse_frustration_data,
    set_number,
)
from bot.empathy.policy import EmpathyPolicy

ROOT = Path(__file__).resolve().parents[3]
POLICY = ROOT / "policy" / "empathy.yml"


def document(*turns: object) -> dict[str, object]:
    return {"version": "1", "conversations": [{"style": "standard", "turns": list(turns)}]}


def test_a_conversation_keeps_its_turns_in_order_with_labels() -> None:
    (conversation,) = parse_frustration_data(
        document(
            {"calm": "where is 10231?"}, {"bot": "Sorry, I couldn't find it."}, {"frustrated": "again?!"}
        ),
        "t.yml",
    )
    assert [(t.speaker, t.label) for t in conversation] == [
        ("user", "calm"),
        ("bot", None),
        ("user", "frustrated"),
    ]


@pytest.mark.parametrize(
    ("doc", "message"),
    [
        ([], "expected a mapping"),
        ({"version": "2", "conversations": []}, "expected a mapping"),
        ({"version": "1", "conversations": []}, "non-empty list"),
        (document({"angry": "grr"}), "unknown key 'angry'"),
        (document({"calm": 10277}), "put quotes around a number"),
        (document({"calm": ""}), "1 to 2000 characters"),
        (document({"calm": "x" * 2001}), "1 to 2000 characters"),
        (document({"calm": "hi", "bot": "hello"}), "one key per turn"),
        ({"version": "1", "conversations": [{"turns": [{"calm": "hi"}] * 41}]}, "1 to 40 turns"),
        ({"version": "1", "conversations": ["just text"]}, "'turns' must be a list"),
    ],
)
def test_a_malformed_file_names_the_problem(doc: object, message: str) -> None:
    with pytest.raises(FrustrationDataError, match=message):
        parse_frustration_data(doc, "t.yml")


def test_the_shipped_data_parses_and_teaches_every_label() -> None:
    conversations = [
        conversation
        for path in sorted((ROOT / "data" / "frustration").glob("*.yml"))
        for conversation in parse_frustration_data(
            yaml.safe_load(path.read_text(encoding="utf-8")), str(path)
        )
    ]
    labels = [t.label for c in conversations for t in c if t.label is not None]

    assert len(labels) >= 250
    assert {label: labels.count(label) >= 40 for label in LABELS} == dict.fromkeys(LABELS, True)


def test_the_fit_learns_which_signal_predicts_and_keeps_signs() -> None:
    rng = np.random.default_rng(7)
    x = rng.uniform(0, 1, size=(400, 3))
    # Only the first signal predicts; positive_emotion (calm evidence) may only lower the score and
    # "noise" raises nothing, so both end at or near zero on the side their meaning allows.
    target = (x[:, 0] > 0.6).astype(float)
    fit = fit_logistic(x, target, ("negative_emotion", "positive_emotion", "noise"), l2=0.1)

    assert fit.coefficients[0] > 3.0
    assert fit.coefficients[1] <= 0.0
    assert fit.coefficients[2] >= 0.0
    assert fit.intercept < 0


def test_policy_weights_put_the_fitted_even_odds_on_the_threshold() -> None:
    rng = np.random.default_rng(3)
    x = rng.uniform(0, 1, size=(300, 2))
    target = ((x[:, 0] + 0.5 * x[:, 1]) > 0.8).astype(float)
    fit = fit_logistic(x, target, ("negative_emotion", "sarcasm"), l2=0.1)
    weights = fit.policy_weights(threshold=0.2)
    instant = x @ np.array([weights["negative_emotion"], weights["sarcasm"]])
    over = instant >= 0.2
    likely = fit.probability(x) >= 0.5

    # Rounding the weights to 2 decimals may move a turn sitting right on the boundary, no more.
    assert (over != likely).mean() < 0.02


def test_a_fit_that_reads_silence_as_frustration_is_refused() -> None:
    x = np.zeros((10, 1))
    fit = fit_logistic(x, np.ones(10), ("negative_emotion",))
    with pytest.raises(FrustrationDataError, match="intercept"):
        fit.policy_weights(0.2)


def test_a_constant_signal_is_not_fitted() -> None:
    x = np.array([[0.0, 1.0, 0.3], [0.0, 0.0, 0.3]])
    assert informative(x, ("a", "b", "c")) == ["b"]


def test_set_number_changes_only_the_number_and_keeps_the_comment() -> None:
    text = POLICY.read_text(encoding="utf-8")
    after = set_number(text, "frustration", "negative_emotion", 0.45)
    changed = [(a, b) for a, b in zip(text.splitlines(), after.splitlines(), strict=True) if a != b]

    assert len(changed) == 1
    before_line, after_line = changed[0]
    assert after_line.split("#")[1] == before_line.split("#")[1]
    assert after_line.index("#") == before_line.index("#")
    policy = EmpathyPolicy.from_mapping(yaml.safe_load(after))
    assert policy.frustration_weights["negative_emotion"] == 0.45


def test_set_number_finds_the_key_in_its_own_section() -> None:
    text = POLICY.read_text(encoding="utf-8")
    policy = EmpathyPolicy.from_mapping(yaml.safe_load(set_number(text, "frustration", "carry_over", 0.4)))

    assert policy.frustration_carry == 0.4
    assert policy.distress_carry == EmpathyPolicy.from_mapping(yaml.safe_load(text)).distress_carry


def test_set_number_names_a_missing_key() -> None:
    with pytest.raises(FrustrationDataError, match=r"frustration\.nonsense"):
        set_number(POLICY.read_text(encoding="utf-8"), "frustration", "nonsense", 0.1)
