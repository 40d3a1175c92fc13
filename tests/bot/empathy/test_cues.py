import time

import pytest

from bot.empathy.cues import CUE_NAMES, MAX_CHARS, Cues, confusion_words, extract_cues, without_quotes


def test_all_caps_message_has_caps_ratio_one() -> None:
    assert extract_cues("WHY IS MY ORDER LATE").caps_ratio == 1.0


def test_caps_ratio_is_share_of_letters_in_shouted_words() -> None:
    # "please"(6) "HELP"(4) "me"(2) "NOW"(3): 7 of 15 letters are shouted.
    assert extract_cues("please HELP me NOW").caps_ratio == pytest.approx(7 / 15)


def test_lowercase_message_has_no_caps() -> None:
    assert extract_cues("where is my order").caps_ratio == 0.0


def test_too_short_message_is_not_shouting() -> None:
    assert extract_cues("WHY").caps_ratio == 0.0


def test_triple_exclamation_is_a_punctuation_burst() -> None:
    cues = extract_cues("where is it!!!")
    assert cues.punctuation_burst == 1.0
    assert cues.exclamations == 1.0


def test_single_exclamation_is_not_a_burst() -> None:
    cues = extract_cues("thanks!")
    assert cues.punctuation_burst == 0.0
    assert cues.exclamations == pytest.approx(1 / 3)


def test_swearing_about_a_failure_is_profanity() -> None:
    cues = extract_cues("this is fucking useless")
    assert cues.profanity == 1.0
    assert cues.positive_profanity == 0.0


def test_swearing_with_praise_is_positive_profanity() -> None:
    cues = extract_cues("this is f***ing great, thanks!")
    assert cues.positive_profanity == 1.0
    assert cues.profanity == 0.0


def test_polite_message_has_no_profanity() -> None:
    cues = extract_cues("hello, could you check my order please")
    assert cues.profanity == 0.0
    assert cues.positive_profanity == 0.0


def test_third_time_counts_as_repetition() -> None:
    assert extract_cues("this is the third time I ask").repetition == 0.5


def test_two_repetition_words_saturate_at_one() -> None:
    assert extract_cues("again and again").repetition == 1.0


def test_message_without_repetition_words_scores_zero_repetition() -> None:
    assert extract_cues("where is my parcel").repetition == 0.0


def test_praise_next_to_a_failure_is_sarcasm() -> None:
    assert extract_cues("great, just great, third time").sarcasm == 1.0


def test_plain_thanks_is_not_sarcasm() -> None:
    assert extract_cues("great, thanks").sarcasm == 0.0


def test_asking_for_a_real_person_is_a_human_request() -> None:
    assert extract_cues("can I talk to a real person").human_request == 1.0


def test_ordinary_question_is_not_a_human_request() -> None:
    assert extract_cues("when will my parcel arrive").human_request == 0.0


def test_distress_words_are_counted_up_to_two() -> None:
    assert extract_cues("I am scared").distress_words == 0.5
    assert extract_cues("I am scared and can't afford the rent").distress_words == 1.0


def test_shouting_inside_quotes_is_ignored() -> None:
    cues = extract_cues('my son said "I HATE THIS"')
    assert cues.caps_ratio == 0.0
    assert cues.quoted == 1.0


def test_same_shouting_outside_quotes_counts() -> None:
    cues = extract_cues("I HATE THIS")
    assert cues.caps_ratio == 1.0
    assert cues.quoted == 0.0


def test_curly_and_single_quotes_are_removed_too() -> None:
    assert extract_cues("she wrote “WHERE IS IT” to me").caps_ratio == 0.0
    assert extract_cues("he said 'I HATE THIS' again").caps_ratio == 0.0


@pytest.mark.parametrize(
    "text",
    ["", "   ", "😡😡😡", "🙂👍", "مرحبا كيف حالك", "שלום מה שלומך"],
    ids=["empty", "blank", "angry-emoji", "happy-emoji", "arabic", "hebrew"],
)
def test_text_without_latin_cues_yields_all_zeros(text: str) -> None:
    assert extract_cues(text) == Cues()


def test_hundred_kilobyte_message_is_processed_quickly() -> None:
    text = "WHY IS MY ORDER LATE!!! " * 4300
    assert len(text) > 100_000
    start = time.perf_counter()
    cues = extract_cues(text)
    assert time.perf_counter() - start < 2.0
    assert cues.caps_ratio == 1.0
    assert cues.punctuation_burst == 1.0


def test_text_beyond_max_chars_is_ignored() -> None:
    text = "a" * MAX_CHARS + " can I talk to a real person"
    assert extract_cues(text).human_request == 0.0


def test_as_vector_follows_cue_names_order() -> None:
    cues = Cues(caps_ratio=0.1, quoted=1.0)
    vector = cues.as_vector()
    assert len(vector) == len(CUE_NAMES)
    assert vector[CUE_NAMES.index("caps_ratio")] == 0.1
    assert vector[CUE_NAMES.index("quoted")] == 1.0
    assert sum(vector) == pytest.approx(1.1)


def test_to_dict_rounds_to_three_decimals() -> None:
    assert extract_cues("thanks!").to_dict()["exclamations"] == 0.333


@pytest.mark.parametrize(
    "text, expected",
    [
        ("No, I am looking for a place in the West.", 1.0),
        ("that's not what I asked", 1.0),
        ("I said premium economy", 1.0),
        ("nothing else, thanks", 0.0),
        ("I know the number", 0.0),
    ],
)
def test_correction_of_the_bot(text: str, expected: float) -> None:
    assert extract_cues(text).correction == expected


def test_quoted_speech_is_removed_and_unquoted_text_is_left_alone() -> None:
    assert without_quotes("my son said 'I hate this' but he loves it") == "my son said but he loves it"
    assert without_quotes("where is  my parcel ") == "where is  my parcel "


# Issue 16: "great, just great" right after "order 10003 is delayed" has no failure word of its own.
@pytest.mark.parametrize(
    "text",
    [
        "great, just great",
        "Great. Just great.",
        "brilliant, really brilliant",
        "thanks for nothing",
        "yeah right",
    ],
)
def test_flat_repeated_praise_and_set_phrases_are_sarcasm_on_their_own(text: str) -> None:
    assert extract_cues(text).sarcasm == 1.0


@pytest.mark.parametrize(
    "text",
    ["great, thanks", "that's just perfect, thank you", "perfect, thanks so much", "great, great news"],
)
def test_praise_that_is_meant_is_not_sarcasm(text: str) -> None:
    assert extract_cues(text).sarcasm == 0.0


@pytest.mark.parametrize(
    "text", ["I don't understand", "what do you mean by that?", "I'm confused", "this makes no sense"]
)
def test_saying_you_are_lost_is_confusion(text: str) -> None:
    assert confusion_words(text) == 1.0


@pytest.mark.parametrize(
    "text", ["I understand, thanks", "what does the warranty cover", 'she said "I\'m confused"']
)
def test_understanding_or_quoted_confusion_is_not_confusion(text: str) -> None:
    assert confusion_words(text) == 0.0


@pytest.mark.parametrize(
    "text",
    [
        "the agent sorted my refund",
        "The agent sorted my refund, thanks a lot",
        "your agent was lovely yesterday",
        "my manager asked me to order these",
        "the operator cut me off",
        "your customer service is awful",
    ],
)
def test_mentioning_a_person_is_not_asking_for_one(text: str) -> None:
    # Issue 17: "agent" in a thank-you set human_request and read the thanks as frustration.
    assert extract_cues(text).human_request == 0.0


@pytest.mark.parametrize(
    "text",
    [
        "agent",
        "Agent please!",
        "human pls",
        "I want to speak to a manager",
        "put me through to someone",
        "can I have a human",
        "is there a person I can talk to",
        "get me a supervisor now",
        "I need customer service",
        "let me talk to your staff",
    ],
)
def test_asking_for_a_person_is_a_human_request(text: str) -> None:
    assert extract_cues(text).human_request == 1.0


@pytest.mark.parametrize(
    "text",
    [
        "another order please",
        "can I place another order",
        "IS IT POSSIBLE TO ADD ANOTHER ITEM",
        "one more thing",
    ],
)
def test_another_is_not_a_repetition_word(text: str) -> None:
    # Issue 17: "another item" counted as repetition and let capitals through as shouting.
    assert extract_cues(text).repetition == 0.0


def test_said_again_is_still_a_repetition_word() -> None:
    assert extract_cues("it's late yet again").repetition > 0.0
