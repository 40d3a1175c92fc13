"""The language detector: which messages are flagged, what it puts in the parse data, and what follows.

A message in a language the models do not read gets ``language.supported`` false, the intent
``unsupported_language`` and no emotion reading; payloads, numbers, addresses and short replies are
never flagged.
"""

from pathlib import Path
from typing import Any

import pytest
import yaml
from rasa.engine.graph import ExecutionContext
from rasa.engine.storage.local_model_storage import LocalModelStorage
from rasa.engine.storage.resource import Resource
from rasa.shared.exceptions import InvalidConfigException
from rasa.shared.nlu.constants import INTENT, INTENT_RANKING_KEY, TEXT
from rasa.shared.nlu.training_data.message import Message

from actions.languages import HONEST_ANSWER, OFFER_PERSON, TRANSLATED
from bench.language_samples import FOREIGN, NEVER_FOREIGN
from bot.components.emotion_classifier import EmotionClassifier
from bot.components.language_detector import (
    DETECTED,
    PAYLOAD,
    SCRIPT,
    TOO_SHORT,
    UNDETERMINED,
    DetectorSettings,
    LanguageDetector,
    LanguageIntentRouter,
    detect,
    prose,
)
from bot.constants import PARSE_LANGUAGE, UNSUPPORTED_LANGUAGE

ROOT = Path(__file__).resolve().parents[2]


def context() -> ExecutionContext:
    return ExecutionContext(node_name="language", graph_schema=None)  # type: ignore[arg-type]


def detector(tmp_path: Path, **config: Any) -> LanguageDetector:
    storage = LocalModelStorage(tmp_path)
    return LanguageDetector.create(
        {**LanguageDetector.get_default_config(), **config}, storage, Resource("language"), context()
    )


def parsed(tmp_path: Path, text: str, intent: str = "order_status") -> Message:
    """``text`` after the detector, an intent classifier that said ``intent``, and the router."""
    message = Message({TEXT: text})
    detector(tmp_path).process([message])
    classified = {"name": intent, "confidence": 0.41}
    message.set(INTENT, classified, add_to_output=True)
    message.set(INTENT_RANKING_KEY, [classified], add_to_output=True)
    router = LanguageIntentRouter.create({}, LocalModelStorage(tmp_path), Resource("router"), context())
    router.process([message])
    return message


# --- the decisions -------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("text", "code"),
    [
        ("¿Dónde está mi pedido 10002?", "es"),
        ("Hallo, wo ist meine Bestellung 10004?", "de"),
        ("Où est ma commande 10002 ?", "fr"),
        ("Dov'è il mio ordine 10002?", "it"),
        ("Onde está o meu pedido 10002?", "pt"),
        ("Waar is mijn bestelling 10002?", "nl"),
        ("Gdzie jest moje zamówienie 10002?", "pl"),
        ("Где мой заказ 10002?", "ru"),
    ],
)
def test_a_message_in_another_language_is_flagged_with_its_code(text: str, code: str) -> None:
    reading = detect(text)

    assert reading.code == code
    assert reading.supported is False
    assert reading.reason == DETECTED
    assert 0.5 <= reading.confidence <= 1.0


@pytest.mark.parametrize("text", NEVER_FOREIGN)
def test_payloads_numbers_addresses_short_replies_and_english_are_never_flagged(text: str) -> None:
    assert detect(text).supported is True


@pytest.mark.parametrize(
    ("text", "reason"),
    [
        ("/affirm", PAYLOAD),
        ('/inform{"order_id": "10002"}', PAYLOAD),
        ("  /deny", PAYLOAD),
        ("10002", TOO_SHORT),
        ("ana@example.com", TOO_SHORT),
        ("+44 7911 123456", TOO_SHORT),
        ("hola", TOO_SHORT),
        ("Danke schön", TOO_SHORT),
        ("", TOO_SHORT),
    ],
)
def test_what_cannot_be_told_is_undetermined_and_read_as_before(text: str, reason: str) -> None:
    reading = detect(text)

    assert reading.to_dict() == {"code": UNDETERMINED, "supported": True, "confidence": 0.0, "reason": reason}


def test_english_is_supported_with_its_code() -> None:
    reading = detect("where is my order 10002, it was due yesterday")

    assert (reading.code, reading.supported, reading.reason) == ("en", True, DETECTED)


def test_a_message_partly_in_english_is_read() -> None:
    assert detect("hola, I need help with my order 10002 please, it has not arrived").supported is True


def test_informal_english_that_cld2_names_scots_counts_as_english() -> None:
    reading = detect("raw oysters look like snot, I'll pass")

    assert (reading.code, reading.supported) == ("en", True)


def test_another_script_is_flagged_even_without_spaces_between_words() -> None:
    reading = detect("我的订单10002在哪里\uff1f")  # with a full-width question mark

    assert reading.supported is False
    assert reading.reason in (DETECTED, SCRIPT)


def test_numbers_addresses_and_links_are_no_evidence_of_a_language() -> None:
    assert prose("Mi pedido 10002, ana@example.com, https://x.example/a?b=1 +44 7911 123456") == "Mi pedido"


@pytest.mark.parametrize(
    "text",
    [
        "\x00\x01\x02 ¿Dónde está mi pedido?",
        "\ud800 lone surrogate in a message text",
        "a" * 100_000,
        "\u202e" * 50,
    ],
)
def test_hostile_text_never_raises(text: str) -> None:
    reading = detect(text)

    assert isinstance(reading.supported, bool)


def test_a_supported_language_can_be_added_in_the_config() -> None:
    settings = DetectorSettings(supported=frozenset({"en", "es"}))

    assert detect("¿Dónde está mi pedido 10002?", settings).supported is True


def test_the_benchmark_samples_are_mostly_flagged() -> None:
    """Sanity check on the samples bench/language.py measures (the numbers are in its report)."""
    flagged = [not detect(text).supported for texts in FOREIGN.values() for text in texts]

    assert sum(flagged) / len(flagged) >= 0.9


# --- the component -------------------------------------------------------------------------


def test_the_component_puts_language_into_the_parse_data(tmp_path: Path) -> None:
    messages = [Message({TEXT: "¿Dónde está mi pedido 10002?"}), Message({TEXT: "/affirm"}), Message({})]
    detector(tmp_path).process(messages)

    assert messages[0].get(PARSE_LANGUAGE)["code"] == "es"
    assert messages[0].get(PARSE_LANGUAGE)["supported"] is False
    assert messages[1].get(PARSE_LANGUAGE)["supported"] is True
    assert messages[2].get(PARSE_LANGUAGE)["code"] == UNDETERMINED
    # add_to_output: Rasa copies it into the parse data (tracker.latest_message["language"]).
    assert messages[0].as_dict_nlu()[PARSE_LANGUAGE]["code"] == "es"


@pytest.mark.parametrize(
    "config",
    [
        {"supported_languages": []},
        {"supported_languages": "en"},
        {"min_letters": 0},
        {"min_words": True},
        {"min_supported_percent": 101},
    ],
)
def test_a_bad_config_fails_at_start_up(tmp_path: Path, config: dict[str, Any]) -> None:
    with pytest.raises(InvalidConfigException):
        detector(tmp_path, **config)


def test_the_router_replaces_the_guess_for_another_language_and_keeps_the_entities(tmp_path: Path) -> None:
    message = parsed(tmp_path, "¿Dónde está mi pedido 10002?")
    message.set("entities", [{"entity": "order_id", "value": "10002"}], add_to_output=True)

    assert message.get(INTENT)["name"] == UNSUPPORTED_LANGUAGE
    assert [r["name"] for r in message.get(INTENT_RANKING_KEY)] == [UNSUPPORTED_LANGUAGE, "order_status"]
    assert message.get("entities") == [{"entity": "order_id", "value": "10002"}]


@pytest.mark.parametrize("text", ["where is my order 10002", "10002", "/affirm", "ja", "hola"])
def test_the_router_leaves_everything_else_alone(tmp_path: Path, text: str) -> None:
    assert parsed(tmp_path, text, intent="affirm").get(INTENT)["name"] == "affirm"


def test_no_emotion_is_read_from_a_message_in_another_language(tmp_path: Path) -> None:
    """The emotion component makes no claim: no probabilities, cues or embedding, and says why."""
    storage = LocalModelStorage(tmp_path)
    classifier = EmotionClassifier(EmotionClassifier.get_default_config(), storage, Resource("e"), None)
    foreign, english = Message({TEXT: "¡ESTOY HARTO, MI PEDIDO NO LLEGA!!!"}), Message({TEXT: "I'm fed up"})
    detector(tmp_path).process([foreign, english])
    classifier.process([foreign, english])

    emotion = foreign.get("emotion")
    assert set(emotion) == {"skipped", "reason", "language"}
    assert emotion["language"] == "es"
    assert "does not read" in emotion["skipped"]
    # The English message goes to the model as before (untrained here, so it says so).
    assert english.get("emotion") == {"error": "emotion model not trained"}


# --- the wiring ----------------------------------------------------------------------------


def test_the_detector_runs_before_the_emotion_component_and_the_router_last() -> None:
    names = [c["name"] for c in yaml.safe_load((ROOT / "config.yml").read_text())["pipeline"]]
    detector_at = names.index("bot.components.language_detector.LanguageDetector")

    assert detector_at < names.index("bot.components.emotion_classifier.EmotionClassifier")
    assert names[-1] == "bot.components.language_detector.LanguageIntentRouter"


def test_every_translated_language_has_its_answer_and_offer_in_the_domain() -> None:
    responses = yaml.safe_load((ROOT / "domain.yml").read_text())["responses"]

    for base in (HONEST_ANSWER, OFFER_PERSON):
        assert base in responses
        for code in TRANSLATED:
            text = responses[f"{base}_{code}"][0]["text"]
            # The customer's language, then the English words of the base response.
            assert text.endswith(responses[base][0]["text"]), f"{base}_{code}"
            assert detect(text.split("\n\n")[0]).code == code, f"{base}_{code}"
