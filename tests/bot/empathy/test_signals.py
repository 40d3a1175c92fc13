import pytest

from bot.empathy.signals import TurnObservation, compute_signals

OPTED_OUT = "emotion and wording (customer opted out)"
WORDING_SIGNALS = {
    "negative_emotion",
    "positive_emotion",
    "confusion",
    "shouting",
    "punctuation",
    "profanity",
    "repetition_words",
    "sarcasm",
}


def test_opted_out_turn_has_no_emotion_or_wording_signals() -> None:
    current = TurnObservation(
        text="WHY IS THIS SHIT LATE AGAIN!!! great, just great",
        emotion={"anger": 0.9, "fear": 0.8},
        intent="order_status",
        failed_attempts=1,
    )
    signals = compute_signals(current, None, use_emotion=False)
    assert WORDING_SIGNALS.isdisjoint(signals.values)
    assert "human_request" not in signals.values
    assert signals.distress_values == {}
    assert OPTED_OUT in signals.unavailable
    assert "emotion model" not in signals.sources
    assert "message cues" not in signals.sources
    assert signals.values["failed_self_service"] == pytest.approx(1 / 3)


def test_same_turn_with_emotion_reads_wording_and_model() -> None:
    current = TurnObservation(text="WHY IS THIS LATE!!!", emotion={"anger": 0.5, "sadness": 0.4, "fear": 0.2})
    signals = compute_signals(current, None)
    assert signals.values["negative_emotion"] == pytest.approx(0.7)
    assert signals.values["shouting"] == 1.0
    assert signals.values["punctuation"] == 1.0
    assert signals.distress_values["fear"] == 0.2
    assert signals.distress_values["sadness"] == 0.4
    assert "emotion model" in signals.sources


def test_missing_emotion_reading_is_listed_as_unavailable() -> None:
    signals = compute_signals(TurnObservation(text="hello"), None)
    assert "negative_emotion" not in signals.values
    assert "emotion model" in signals.unavailable


def test_identical_embeddings_are_a_full_rephrase() -> None:
    previous = TurnObservation(text="where is my order", embedding=[1.0, 0.0, 0.0])
    current = TurnObservation(text="my order, where is it", embedding=[2.0, 0.0, 0.0])
    assert compute_signals(current, previous).values["rephrase"] == 1.0


def test_orthogonal_embeddings_are_no_rephrase() -> None:
    previous = TurnObservation(text="where is my order", embedding=[1.0, 0.0])
    current = TurnObservation(text="I want a refund", embedding=[0.0, 1.0])
    assert compute_signals(current, previous).values["rephrase"] == 0.0


def test_rephrase_ramps_between_low_and_high_similarity() -> None:
    # cosine([1, 0], [0.7, sqrt(1 - 0.49)]) == 0.7, halfway between 0.55 and 0.85.
    previous = TurnObservation(text="a", embedding=[1.0, 0.0])
    current = TurnObservation(text="b", embedding=[0.7, (1 - 0.49) ** 0.5])
    assert compute_signals(current, previous).values["rephrase"] == pytest.approx(0.5)


def test_mismatched_or_missing_embeddings_are_unavailable() -> None:
    previous = TurnObservation(text="a", embedding=[1.0, 0.0])
    current = TurnObservation(text="b", embedding=[1.0, 0.0, 0.0])
    signals = compute_signals(current, previous)
    assert "rephrase" not in signals.values
    assert "message embeddings" in signals.unavailable


def test_same_request_intent_twice_is_repeated_intent() -> None:
    previous = TurnObservation(text="where is my order", intent="order_status")
    current = TurnObservation(text="my order??", intent="order_status")
    assert compute_signals(current, previous).values["repeated_intent"] == 1.0


def test_repeated_small_talk_intent_is_not_repeated_intent() -> None:
    previous = TurnObservation(text="yes", intent="affirm")
    current = TurnObservation(text="yes", intent="affirm")
    assert compute_signals(current, previous).values["repeated_intent"] == 0.0


def test_different_intents_are_not_repeated_intent() -> None:
    previous = TurnObservation(text="where is my order", intent="order_status")
    current = TurnObservation(text="refund please", intent="request_refund")
    assert compute_signals(current, previous).values["repeated_intent"] == 0.0


def test_nlu_fallback_intent_sets_fallback_signal() -> None:
    signals = compute_signals(TurnObservation(text="asdf", intent="nlu_fallback"), None)
    assert signals.values["nlu_fallback"] == 1.0


def test_request_human_intent_is_a_human_request_even_when_opted_out() -> None:
    signals = compute_signals(TurnObservation(text="agent", intent="request_human"), None, use_emotion=False)
    assert signals.values["human_request"] == 1.0


def test_fast_reply_from_timestamps() -> None:
    previous = TurnObservation(text="where is my order", timestamp=100.0)
    current = TurnObservation(text="hello??", timestamp=102.0)
    signals = compute_signals(current, previous)
    assert signals.values["fast_reply"] == pytest.approx(0.75)
    assert "timestamps" in signals.sources


def test_slow_reply_is_not_fast() -> None:
    previous = TurnObservation(text="where is my order", timestamp=100.0)
    current = TurnObservation(text="hello", timestamp=160.0)
    assert compute_signals(current, previous).values["fast_reply"] == 0.0


def test_reply_seconds_take_precedence_over_timestamps() -> None:
    previous = TurnObservation(text="where is my order", timestamp=100.0)
    current = TurnObservation(text="hello", timestamp=200.0, reply_seconds=0.0)
    assert compute_signals(current, previous).values["fast_reply"] == 1.0


def test_missing_timestamps_are_listed_as_unavailable() -> None:
    previous = TurnObservation(text="where is my order", timestamp=100.0)
    current = TurnObservation(text="hello")
    signals = compute_signals(current, previous)
    assert "fast_reply" not in signals.values
    assert "timestamps" in signals.unavailable


@pytest.mark.parametrize(("attempts", "expected"), [(0, 0.0), (1, 1 / 3), (2, 2 / 3), (3, 1.0), (7, 1.0)])
def test_failed_attempts_scale_up_to_three(attempts: int, expected: float) -> None:
    signals = compute_signals(TurnObservation(text="hi", failed_attempts=attempts), None)
    assert signals.values["failed_self_service"] == pytest.approx(expected)


def test_unknown_failed_attempts_are_unavailable() -> None:
    signals = compute_signals(TurnObservation(text="hi"), None)
    assert "failed_self_service" not in signals.values
    assert "self-service outcomes" in signals.unavailable


def test_much_longer_message_than_before_is_a_building_rant() -> None:
    previous = TurnObservation(text="where is it")  # 11 characters
    current = TurnObservation(text="x" * 55)  # five times longer
    assert compute_signals(current, previous).values["longer_message"] == 1.0


def test_quick_return_on_another_channel_counts() -> None:
    signals = compute_signals(TurnObservation(text="hi", returned_after_minutes=15.0), None)
    assert signals.values["channel_return"] == pytest.approx(0.75)


def test_unavailable_reasons_are_not_duplicated() -> None:
    previous = TurnObservation(text="a")
    signals = compute_signals(TurnObservation(text="b"), previous)
    assert len(signals.unavailable) == len(set(signals.unavailable))


def test_capitals_alone_are_not_shouting() -> None:
    calm = TurnObservation(
        text="THANKS FOR YOUR HELP EARLIER, EVERYTHING ARRIVED FINE.", emotion={"joy": 0.6, "anger": 0.1}
    )
    assert compute_signals(calm, None).values["shouting"] == 0.0


def test_capitals_count_next_to_other_evidence() -> None:
    angry = TurnObservation(text="WHERE IS MY ORDER, AGAIN", emotion={"anger": 0.1})
    assert compute_signals(angry, None).values["shouting"] == 1.0


def test_capitals_count_next_to_a_strong_negative_reading() -> None:
    angry = TurnObservation(text="WHERE IS MY ORDER", emotion={"anger": 0.6})
    assert compute_signals(angry, None).values["shouting"] == 1.0


def test_joy_is_calm_evidence_and_confusion_its_own_signal() -> None:
    turn = TurnObservation(text="sorry, what do you mean?", emotion={"joy": 0.3, "confusion": 0.2})
    values = compute_signals(turn, None).values
    assert values["positive_emotion"] == pytest.approx(0.3)
    assert values["confusion"] == 1.0


def test_confusion_without_the_words_is_the_model_reading() -> None:
    turn = TurnObservation(text="which order is that", emotion={"confusion": 0.4})
    assert compute_signals(turn, None).values["confusion"] == pytest.approx(0.4)
