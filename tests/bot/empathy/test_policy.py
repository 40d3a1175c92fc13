import copy
import dataclasses
from pathlib import Path
from typing import Any

import pytest
import yaml

from bot.empathy.policy import (
    DISTRESS_SIGNALS,
    FRUSTRATION_SIGNALS,
    EmpathyPolicy,
    EscalationRules,
    PolicyError,
    ToneThresholds,
)

REPO_ROOT = Path(__file__).resolve().parents[3]


def shipped_document() -> dict[str, Any]:
    with (REPO_ROOT / "policy" / "empathy.yml").open(encoding="utf-8") as handle:
        document: dict[str, Any] = yaml.safe_load(handle)
    return document


@pytest.fixture
def document() -> dict[str, Any]:
    return copy.deepcopy(shipped_document())


def test_shipped_policy_loads() -> None:
    policy = EmpathyPolicy.from_mapping(shipped_document())
    assert set(policy.frustration_weights) == set(FRUSTRATION_SIGNALS)
    assert set(policy.distress_weights) == set(DISTRESS_SIGNALS)
    assert policy.frustration_weights["negative_emotion"] == 0.60
    assert policy.frustration_carry == 0.3
    assert policy.distress_threshold == 0.5
    assert policy.tone == ToneThresholds()
    # Issue 17: a person is offered from 0.55 (chosen by replaying real threads); the default stays 0.60.
    assert policy.escalation == dataclasses.replace(EscalationRules(), offer_human_above=0.55)


def test_unknown_top_level_key_is_named(document: dict[str, Any]) -> None:
    document["frustraton"] = {}
    with pytest.raises(PolicyError, match="frustraton"):
        EmpathyPolicy.from_mapping(document)


def test_unknown_weight_is_named(document: dict[str, Any]) -> None:
    document["frustration"]["weights"]["shoutng"] = 0.1
    with pytest.raises(PolicyError, match=r"frustration\.weights.*shoutng"):
        EmpathyPolicy.from_mapping(document)


def test_unknown_tone_key_is_named(document: dict[str, Any]) -> None:
    document["tone"]["cold_above"] = 0.9
    with pytest.raises(PolicyError, match=r"tone.*cold_above"):
        EmpathyPolicy.from_mapping(document)


def test_missing_weight_is_named(document: dict[str, Any]) -> None:
    del document["distress"]["weights"]["fear"]
    with pytest.raises(PolicyError, match=r"distress\.weights: missing weight\(s\) for \['fear'\]"):
        EmpathyPolicy.from_mapping(document)


@pytest.mark.parametrize("weight", [1.5, -1.2])
def test_weight_out_of_range_is_named(document: dict[str, Any], weight: float) -> None:
    document["frustration"]["weights"]["sarcasm"] = weight
    with pytest.raises(PolicyError, match=r"frustration\.weights\.sarcasm: must be between"):
        EmpathyPolicy.from_mapping(document)


def test_negative_weight_within_range_is_allowed(document: dict[str, Any]) -> None:
    document["frustration"]["weights"]["fast_reply"] = -0.2
    assert EmpathyPolicy.from_mapping(document).frustration_weights["fast_reply"] == -0.2


@pytest.mark.parametrize("value", ["0.2", True, None])
def test_non_number_weight_is_named(document: dict[str, Any], value: Any) -> None:
    document["frustration"]["weights"]["profanity"] = value
    with pytest.raises(PolicyError, match=r"frustration\.weights\.profanity: must be a number"):
        EmpathyPolicy.from_mapping(document)


def test_carry_over_above_one_is_named(document: dict[str, Any]) -> None:
    document["distress"]["carry_over"] = 1.5
    with pytest.raises(PolicyError, match=r"distress\.carry_over: must be between 0 and 1"):
        EmpathyPolicy.from_mapping(document)


def test_negative_int_in_escalation_is_named(document: dict[str, Any]) -> None:
    document["escalation"]["cooldown_turns"] = -1
    with pytest.raises(PolicyError, match=r"escalation\.cooldown_turns: must be a whole number >= 0"):
        EmpathyPolicy.from_mapping(document)


def test_fractional_turn_count_is_rejected(document: dict[str, Any]) -> None:
    document["tone"]["min_turns"] = 1.5
    with pytest.raises(PolicyError, match=r"tone\.min_turns: must be a whole number"):
        EmpathyPolicy.from_mapping(document)


def test_missing_escalation_key_is_named(document: dict[str, Any]) -> None:
    del document["escalation"]["offer_human_above"]
    with pytest.raises(PolicyError, match=r"escalation\.offer_human_above: missing"):
        EmpathyPolicy.from_mapping(document)


def test_wrong_version_is_rejected(document: dict[str, Any]) -> None:
    document["version"] = "2"
    with pytest.raises(PolicyError, match="'version'"):
        EmpathyPolicy.from_mapping(document)


def test_missing_section_is_named(document: dict[str, Any]) -> None:
    del document["tone"]
    with pytest.raises(PolicyError, match="'tone' must be a mapping"):
        EmpathyPolicy.from_mapping(document)


def test_non_mapping_document_is_rejected() -> None:
    with pytest.raises(PolicyError, match="top level"):
        EmpathyPolicy.from_mapping("version: 1")
