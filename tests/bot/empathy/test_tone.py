from bot.empathy.policy import ToneThresholds
from bot.empathy.tone import APOLOGETIC, CALM_DIRECT, NEUTRAL, WARM, choose_tone

# Defaults: warm 0.25, apologetic 0.45, calm_direct 0.70, distress_warm 0.35, hysteresis 0.08, min_turns 2.
LIMITS = ToneThresholds()


def test_neutral_conversation_stays_neutral() -> None:
    choice = choose_tone(0.1, 0.0, NEUTRAL, 3, LIMITS)
    assert (choice.tone, choice.turns_held) == (NEUTRAL, 4)


def test_tone_goes_up_immediately() -> None:
    choice = choose_tone(0.5, 0.0, NEUTRAL, 5, LIMITS)
    assert (choice.tone, choice.turns_held) == (APOLOGETIC, 1)


def test_tone_can_jump_straight_to_calm_direct() -> None:
    assert choose_tone(0.9, 0.0, WARM, 1, LIMITS).tone == CALM_DIRECT


def test_tone_is_held_within_hysteresis_band() -> None:
    # 0.40 is below apologetic (0.45) but not below 0.45 - 0.08 = 0.37.
    choice = choose_tone(0.40, 0.0, APOLOGETIC, 5, LIMITS)
    assert (choice.tone, choice.turns_held) == (APOLOGETIC, 6)
    assert "hysteresis" in choice.reason


def test_tone_drops_below_band_after_min_turns() -> None:
    choice = choose_tone(0.30, 0.0, APOLOGETIC, LIMITS.min_turns, LIMITS)
    assert (choice.tone, choice.turns_held) == (WARM, 1)


def test_tone_is_held_below_band_until_min_turns() -> None:
    choice = choose_tone(0.30, 0.0, APOLOGETIC, LIMITS.min_turns - 1, LIMITS)
    assert (choice.tone, choice.turns_held) == (APOLOGETIC, LIMITS.min_turns)


def test_tone_drops_to_neutral_when_calm() -> None:
    assert choose_tone(0.0, 0.0, CALM_DIRECT, 4, LIMITS).tone == NEUTRAL


def test_distress_alone_makes_the_bot_warm() -> None:
    choice = choose_tone(0.0, 0.4, NEUTRAL, 1, LIMITS)
    assert choice.tone == WARM


def test_warmth_is_held_while_distress_is_within_band() -> None:
    # distress 0.30 is under 0.35 but not under 0.35 - 0.08 = 0.27.
    assert choose_tone(0.0, 0.30, WARM, 5, LIMITS).tone == WARM
    assert choose_tone(0.0, 0.20, WARM, 5, LIMITS).tone == NEUTRAL


def test_unknown_previous_tone_is_treated_as_neutral() -> None:
    choice = choose_tone(0.3, 0.0, "grumpy", 9, LIMITS)
    assert (choice.tone, choice.turns_held) == (WARM, 1)


def test_first_turn_without_previous_tone() -> None:
    assert choose_tone(0.0, 0.0, None, 0, LIMITS).to_dict() == {
        "tone": NEUTRAL,
        "turns_held": 1,
        "reason": "unchanged",
    }
