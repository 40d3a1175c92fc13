"""Which language each message is in, so nothing claims to have read words it cannot read.

Attune's models (the intent classifier, MiniLM, the emotion model and the wording cues) were
trained on English only.  ``LanguageDetector`` runs early in the NLU pipeline and puts
``language`` into the parse data of every message::

    {"code": "es", "supported": false, "confidence": 0.95, "reason": "detected"}

``code`` is what Google's CLD2 (pycld2, offline, a few microseconds a message) names, or ``"und"``
(undetermined) when the message is too short to tell, was unreliable, or is a "/" payload.  Only a
reliable reading of a language the models do not read is ``supported: false``: numbers, e-mail
addresses, "ok", "10002" and "/affirm" are never flagged as foreign.  The emotion component makes no
emotion claim on an unsupported message (bot/components/emotion_classifier.py), and
``LanguageIntentRouter``, last in the pipeline, replaces the NLU's intent by ``unsupported_language``
(a guess from words the classifier cannot read is no reading), keeping the entities, which are
language-independent (order numbers, e-mail addresses).  actions/languages.py answers it honestly.
"""

import logging
import re
from dataclasses import dataclass
from typing import Any, Final, Literal

import pycld2
from rasa.engine.graph import ExecutionContext, GraphComponent
from rasa.engine.recipes.default_recipe import DefaultV1Recipe
from rasa.engine.storage.resource import Resource
from rasa.engine.storage.storage import ModelStorage
from rasa.shared.exceptions import InvalidConfigException
from rasa.shared.nlu.constants import INTENT, INTENT_RANKING_KEY, TEXT
from rasa.shared.nlu.training_data.message import Message
from rasa.shared.nlu.training_data.training_data import TrainingData

from bot.constants import PARSE_LANGUAGE, UNSUPPORTED_LANGUAGE

logger = logging.getLogger(__name__)

UNDETERMINED: Final = "und"  # BCP 47's code for "could not tell"
ENGLISH: Final = "en"

Reason = Literal["payload", "too_short", "unreliable", "detected", "script", "error"]
PAYLOAD: Final[Reason] = "payload"
TOO_SHORT: Final[Reason] = "too_short"
UNRELIABLE: Final[Reason] = "unreliable"
DETECTED: Final[Reason] = "detected"
SCRIPT: Final[Reason] = "script"  # written in a script the models never saw; CLD2 could not name it
ERROR: Final[Reason] = "error"

SUPPORTED_LANGUAGES = "supported_languages"
MIN_LETTERS = "min_letters"
MIN_WORDS = "min_words"
MIN_SCRIPT_LETTERS = "min_script_letters"
MIN_SUPPORTED_PERCENT = "min_supported_percent"
MAX_CHARS = "max_chars"

# Language-independent parts of a message, removed before detection: they are no evidence of a
# language, and order numbers, phone numbers and e-mail addresses are what the bot can still use.
_EMAIL = re.compile(r"\S+@\S+")
_URL = re.compile(r"(?:https?://|www\.)\S+", re.IGNORECASE)
_NUMBERS = re.compile(r"[#+]?\d[\d\-./:,]*")
# C0/C1 control characters (CLD2 rejects some of them as invalid input); whitespace stays.
_CONTROL = re.compile(r"[\x00-\x08\x0b\x0c\x0e-\x1f\x7f-\x9f]")
_LETTER = re.compile(r"[^\W\d_]")
# Letters of the Latin script (with its accented forms), the only script the models were trained on.
_LATIN = re.compile(r"[A-Za-z\u00c0-\u024f\u1e00-\u1eff]")
_NO_LANGUAGE = ("un", "xxx")
# What CLD2 names a reliable reading that is really a supported language: it takes informal or
# slangy English ("ugh, that's foul") for Scots now and then.
ALIASES: Final = {"sco": ENGLISH}


@dataclass(frozen=True)
class LanguageReading:
    """One message's language: ``supported`` False only for a reliable reading of another language."""

    code: str
    supported: bool
    confidence: float
    reason: Reason

    def to_dict(self) -> dict[str, Any]:
        return {
            "code": self.code,
            "supported": self.supported,
            "confidence": round(self.confidence, 3),
            "reason": self.reason,
        }


@dataclass(frozen=True)
class DetectorSettings:
    """What counts as readable (``supported``) and how much prose a reading needs."""

    supported: frozenset[str] = frozenset({ENGLISH})
    # Fewer letters or words than this (after numbers, addresses and links are removed) is too
    # short to tell: "ok", "hola", "ja", "no" are read by the NLU as they always were.
    min_letters: int = 15
    min_words: int = 2
    # Letters of another script than Latin that make a message unreadable to the models ("返金").
    min_script_letters: int = 2
    # A message at least this much (%) in a supported language is read: "hola, where is my order".
    min_supported_percent: int = 30
    # Only the start of a very long message is read (bounds the time per message).
    max_chars: int = 2000


def prose(text: str) -> str:
    """``text`` without what is no evidence of a language: e-mail addresses, links, numbers."""
    without = _URL.sub(" ", _EMAIL.sub(" ", _CONTROL.sub(" ", text)))
    return " ".join(_NUMBERS.sub(" ", without).split())


def _unknown(reason: Reason) -> LanguageReading:
    return LanguageReading(UNDETERMINED, True, 0.0, reason)


def detect(text: str, settings: DetectorSettings = DetectorSettings()) -> LanguageReading:
    """The language of one customer message."""
    if text.lstrip().startswith("/"):
        return _unknown(PAYLOAD)  # a button's payload ("/affirm"): no language at all
    words = prose(text[: settings.max_chars])
    letters = _LETTER.findall(words)
    other_script = sum(1 for letter in letters if not _LATIN.match(letter))
    # Mostly in a script the models never saw (Cyrillic, Arabic, Han, kana...): a few letters are
    # enough, and words need no spaces between them.
    script = other_script >= settings.min_script_letters and 2 * other_script > len(letters)
    if not script and (len(letters) < settings.min_letters or len(words.split()) < settings.min_words):
        return _unknown(TOO_SHORT)
    try:
        reliable, _, details = pycld2.detect(words, isPlainText=True, bestEffort=script)
    except (pycld2.error, UnicodeError, ValueError):
        logger.warning("language detection failed on a message; treating it as undetermined")
        return _unknown(ERROR)
    top_code, top_percent = details[0][1], details[0][2]
    if script and top_code in _NO_LANGUAGE:
        return LanguageReading(UNDETERMINED, False, 1.0, SCRIPT)
    if not (reliable or script) or top_code in _NO_LANGUAGE:
        return _unknown(UNRELIABLE)
    for _, code, percent, _ in details:
        code = ALIASES.get(code, code)
        if code in settings.supported and percent >= settings.min_supported_percent:
            return LanguageReading(code, True, percent / 100, DETECTED)
    return LanguageReading(str(top_code), False, top_percent / 100, DETECTED)


def _settings(config: dict[str, Any]) -> DetectorSettings:
    return DetectorSettings(
        supported=frozenset(str(code) for code in config[SUPPORTED_LANGUAGES]),
        min_letters=int(config[MIN_LETTERS]),
        min_words=int(config[MIN_WORDS]),
        min_script_letters=int(config[MIN_SCRIPT_LETTERS]),
        min_supported_percent=int(config[MIN_SUPPORTED_PERCENT]),
        max_chars=int(config[MAX_CHARS]),
    )


@DefaultV1Recipe.register(DefaultV1Recipe.ComponentType.MESSAGE_FEATURIZER, is_trainable=False)
class LanguageDetector(GraphComponent):  # type: ignore[misc]  # Rasa ships no type information
    """Adds ``language`` (code, supported, confidence, reason) to every parsed message."""

    @staticmethod
    def required_packages() -> list[str]:
        return ["pycld2"]

    @staticmethod
    def get_default_config() -> dict[str, Any]:
        defaults = DetectorSettings()
        return {
            # The languages the models were trained on (ISO 639-1 codes as CLD2 names them).
            SUPPORTED_LANGUAGES: sorted(defaults.supported),
            MIN_LETTERS: defaults.min_letters,
            MIN_WORDS: defaults.min_words,
            MIN_SCRIPT_LETTERS: defaults.min_script_letters,
            MIN_SUPPORTED_PERCENT: defaults.min_supported_percent,
            MAX_CHARS: defaults.max_chars,
        }

    @classmethod
    def validate_config(cls, config: dict[str, Any]) -> None:
        languages = config.get(SUPPORTED_LANGUAGES)
        if (
            not isinstance(languages, list)
            or not languages
            or not all(isinstance(code, str) and code for code in languages)
        ):
            raise InvalidConfigException(
                f"LanguageDetector: '{SUPPORTED_LANGUAGES}' must be a list of language codes, e.g. [en]"
            )
        for key in (MIN_LETTERS, MIN_WORDS, MIN_SCRIPT_LETTERS, MIN_SUPPORTED_PERCENT, MAX_CHARS):
            value = config.get(key)
            if not isinstance(value, int) or isinstance(value, bool) or value < 1:
                raise InvalidConfigException(f"LanguageDetector: '{key}' must be a positive integer")
        if config[MIN_SUPPORTED_PERCENT] > 100:
            raise InvalidConfigException(f"LanguageDetector: '{MIN_SUPPORTED_PERCENT}' is a percentage")

    def __init__(self, config: dict[str, Any]) -> None:
        merged = {**self.get_default_config(), **config}
        self.validate_config(merged)
        self._settings = _settings(merged)

    @classmethod
    def create(
        cls,
        config: dict[str, Any],
        model_storage: ModelStorage,
        resource: Resource,
        execution_context: ExecutionContext,
    ) -> "LanguageDetector":
        return cls(config)

    def process(self, messages: list[Message]) -> list[Message]:
        for message in messages:
            text = message.get(TEXT)
            reading = detect(text if isinstance(text, str) else "", self._settings)
            message.set(PARSE_LANGUAGE, reading.to_dict(), add_to_output=True)
        return messages

    def process_training_data(self, training_data: TrainingData) -> TrainingData:
        # The training examples are English and nothing downstream reads their language.
        return training_data


def unsupported(message: Message) -> dict[str, Any] | None:
    """The message's language reading when it is one the models do not read, else None."""
    reading = message.get(PARSE_LANGUAGE)
    return reading if isinstance(reading, dict) and reading.get("supported") is False else None


@DefaultV1Recipe.register(DefaultV1Recipe.ComponentType.INTENT_CLASSIFIER, is_trainable=False)
class LanguageIntentRouter(GraphComponent):  # type: ignore[misc]  # Rasa ships no type information
    """Last in the pipeline: a message in a language the models do not read gets the intent
    ``unsupported_language`` (the classifier's guesses stay in the ranking, below it).
    """

    @staticmethod
    def get_default_config() -> dict[str, Any]:
        return {}

    @classmethod
    def create(
        cls,
        config: dict[str, Any],
        model_storage: ModelStorage,
        resource: Resource,
        execution_context: ExecutionContext,
    ) -> "LanguageIntentRouter":
        return cls()

    def process(self, messages: list[Message]) -> list[Message]:
        for message in messages:
            reading = unsupported(message)
            if reading is None:
                continue
            intent = {"name": UNSUPPORTED_LANGUAGE, "confidence": float(reading.get("confidence") or 1.0)}
            ranking = [r for r in message.get(INTENT_RANKING_KEY) or [] if isinstance(r, dict)]
            message.set(INTENT, intent, add_to_output=True)
            message.set(INTENT_RANKING_KEY, [intent, *ranking], add_to_output=True)
        return messages
