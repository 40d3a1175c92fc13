"""Property-based fuzzing of the pure empathy core (issue 12): any text, any numbers, any config
document.  Scores and cues stay in [0, 1], the tone and decisions stay in their closed sets, and
nothing raises but the documented errors of the two config parsers.

Budget: ATTUNE_FUZZ_EXAMPLES examples per property (default 200; ``make fuzz`` sets 10 000).
"""

import contextlib
import math
import os
from collections import Counter
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import numpy as np
import pytest
import yaml
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from bot.empathy.cues import CUE_NAMES, MAX_CHARS, extract_cues, without_quotes
from bot.empathy.emotion_model import EmotionModel, features
from bot.empathy.emotions import EMOTIONS, EmotionDataError, parse_emotion_data
from bot.empathy.escalation import DECISIONS, EscalationHistory, decide
from bot.empathy.policy import EmpathyPolicy, PolicyError
from bot.empathy.scoring import Score, score_turn
from bot.empathy.signals import TurnObservation, compute_signals
from bot.empathy.softmax import SoftmaxModel
from bot.empathy.tone import TONES, choose_tone
from bot.empathy.transcripts import bot_reply_failed

pytestmark = pytest.mark.fuzz

ROOT = Path(__file__).resolve().parents[3]
EXAMPLES = int(os.environ.get("ATTUNE_FUZZ_EXAMPLES") or 200)
FUZZ = settings(
    max_examples=EXAMPLES,
    deadline=None,
    suppress_health_check=[HealthCheck.too_slow, HealthCheck.data_too_large],
)
TRIED: Counter[str] = Counter()

# What customers (and attackers) type: cue words, shouting, the scripts and marks that break naive
# text handling (RTL, combining, zero-width, lone surrogates, NUL), and emoji.
WORDS = [
    "AGAIN", "again", "still", "human", "agent", "real person", "useless", "fuck", "great", "thanks",
    "oh great", "not", "never", "scared", "help", "!!!", "???", "'quoted'", '"quoted"', "“quoted”",
    "no,", "I said", "for weeks", "third time", "أين طلبي", "מתי", "订单", "😡", "🙏🏽", "e\u0301",
    "\u0336", "\u200f", "\u202e", "\u200b", "\u200d", "\udfff", "\ud800", "\x00", "\x1b[2J", "\n", "\t",
]  # fmt: skip
ANY_CHAR = st.characters(exclude_categories=())  # every code point, lone surrogates included
TEXT = st.one_of(
    st.text(ANY_CHAR, max_size=400),
    st.lists(st.sampled_from(WORDS), max_size=60).map(" ".join),
    st.lists(st.one_of(st.sampled_from(WORDS), st.text(ANY_CHAR, max_size=8)), max_size=40).map("".join),
    st.tuples(st.text(ANY_CHAR, min_size=1, max_size=12), st.integers(MAX_CHARS // 8, 20 * MAX_CHARS)).map(
        lambda repeated: (repeated[0] * (repeated[1] // len(repeated[0]) + 1))[: repeated[1]]
    ),
)
ANY_FLOAT = st.floats(allow_nan=True, allow_infinity=True)
UNIT = st.floats(0.0, 1.0)
EMOTION = st.one_of(st.none(), st.dictionaries(st.sampled_from(EMOTIONS), UNIT, max_size=len(EMOTIONS)))
EMBEDDING = st.one_of(st.none(), st.lists(st.floats(-1.0, 1.0), min_size=0, max_size=4))
OBSERVATION = st.builds(
    TurnObservation,
    text=TEXT,
    emotion=EMOTION,
    embedding=EMBEDDING,
    intent=st.one_of(st.none(), st.sampled_from(["request_human", "nlu_fallback", "greet", "order_status"])),
    timestamp=st.one_of(st.none(), st.floats(0, 2e9)),
    reply_seconds=st.one_of(st.none(), st.floats(-1e6, 1e6)),
    failed_attempts=st.one_of(st.none(), st.integers(-5, 1000)),
    returned_after_minutes=st.one_of(st.none(), st.floats(-1e4, 1e6)),
)
# Any YAML-ish document: what a bot designer's typo or a hostile edit can produce.
JSONISH = st.recursive(
    st.none() | st.booleans() | st.integers() | ANY_FLOAT | st.text(ANY_CHAR, max_size=20),
    lambda children: (
        st.lists(children, max_size=4) | st.dictionaries(st.text(max_size=12), children, max_size=4)
    ),
    max_leaves=20,
)


@pytest.fixture(scope="module", autouse=True)
def report() -> Iterator[None]:
    yield
    print(f"\nempathy core fuzz: {sum(TRIED.values())} cases ({dict(TRIED)})")


def policy() -> EmpathyPolicy:
    return EmpathyPolicy.from_mapping(yaml.safe_load((ROOT / "policy" / "empathy.yml").read_text()))


def in_unit(value: float) -> bool:
    return 0.0 <= value <= 1.0 and not math.isnan(value)


def assert_score(score: Score) -> None:
    assert in_unit(score.value) and in_unit(score.instant) and in_unit(score.carried)


@FUZZ
@given(text=TEXT)
def test_cues_of_any_text_are_in_the_unit_interval(text: str) -> None:
    TRIED["cues"] += 1
    cues = extract_cues(text)

    assert len(cues.as_vector()) == len(CUE_NAMES)
    assert all(in_unit(value) for value in cues.as_vector())
    assert isinstance(without_quotes(text), str)
    assert isinstance(bot_reply_failed(text), bool)


@FUZZ
@given(
    current=OBSERVATION,
    previous=st.one_of(st.none(), OBSERVATION),
    use_emotion=st.booleans(),
    previous_scores=st.tuples(ANY_FLOAT, ANY_FLOAT),
)
def test_signals_and_scores_of_any_turn_are_in_the_unit_interval(
    current: TurnObservation,
    previous: TurnObservation | None,
    use_emotion: bool,
    previous_scores: tuple[float, float],
) -> None:
    TRIED["signals and scores"] += 1
    signals = compute_signals(current, previous, use_emotion)

    assert all(in_unit(v) for v in [*signals.values.values(), *signals.distress_values.values()]), signals
    frustration, distress = (value if math.isfinite(value) else 0.0 for value in previous_scores)
    score = score_turn(signals, frustration, distress, policy())
    assert_score(score.frustration)
    assert_score(score.distress)


@FUZZ
@given(
    frustration=UNIT,
    distress=UNIT,
    previous=st.one_of(st.none(), st.sampled_from(TONES), st.text(ANY_CHAR, max_size=10)),
    turns_held=st.integers(-10, 10_000),
    turn=st.integers(0, 10_000),
    explicit=st.booleans(),
    failed=st.integers(-5, 10_000),
    history=JSONISH,
)
def test_tone_and_escalation_stay_in_their_closed_sets(
    frustration: float,
    distress: float,
    previous: str | None,
    turns_held: int,
    turn: int,
    explicit: bool,
    failed: int,
    history: Any,
) -> None:
    TRIED["tone and escalation"] += 1
    rules = policy()
    tone = choose_tone(frustration, distress, previous, turns_held, rules.tone)
    signals = compute_signals(
        TurnObservation(text="x", emotion={"anger": frustration, "fear": distress}), None
    )
    decision = decide(
        turn, score_turn(signals, frustration, distress, rules), explicit, failed,
        EscalationHistory.from_dict(history), rules.escalation,
    )  # fmt: skip

    assert tone.tone in TONES
    assert decision.kind in DECISIONS
    assert decision.to_dict()["decision"] == decision.kind


@FUZZ
@given(texts=st.lists(TEXT, max_size=4), seed=st.integers(0, 2**32 - 1))
def test_emotion_probabilities_of_any_text_are_a_distribution(texts: list[str], seed: int) -> None:
    TRIED["emotion model"] += 1
    rng = np.random.default_rng(seed)
    dimensions = 8
    softmax = SoftmaxModel(
        rng.normal(size=(dimensions + len(CUE_NAMES), len(EMOTIONS))),
        rng.normal(size=len(EMOTIONS)),
        EMOTIONS,
    )
    embeddings = rng.normal(size=(len(texts), dimensions)).astype(np.float32)

    readings = EmotionModel(softmax).read(embeddings, texts)

    assert len(readings) == len(texts)
    for reading in readings:
        assert all(in_unit(p) for p in reading.probabilities.values())
        assert math.isclose(sum(reading.probabilities.values()), 1.0, abs_tol=1e-6)
        assert reading.top in EMOTIONS
    if texts:  # read() returns early for none; features() of zero rows would raise (unreachable)
        shape = features(embeddings, [r.cues for r in readings]).shape
        assert shape == (len(texts), dimensions + len(CUE_NAMES))


@FUZZ
@given(document=JSONISH)
def test_a_broken_config_document_raises_only_the_documented_errors(document: Any) -> None:
    TRIED["config documents"] += 1
    with contextlib.suppress(PolicyError):
        EmpathyPolicy.from_mapping(document)
    with contextlib.suppress(EmotionDataError):
        parse_emotion_data(document)


@FUZZ
@given(
    document=st.fixed_dictionaries(
        {"version": st.sampled_from(["1", 1, "2"])},
        optional={
            "emotions": st.lists(
                st.fixed_dictionaries(
                    {"emotion": st.one_of(st.sampled_from(EMOTIONS), JSONISH)},
                    optional={
                        "examples": st.one_of(
                            st.lists(TEXT, max_size=4).map(lambda ls: "- " + "\n- ".join(ls)), JSONISH
                        )
                    },
                ),
                max_size=4,
            )
        },
    )
)
def test_emotion_data_of_any_text_parses_or_says_why(document: dict[str, Any]) -> None:
    TRIED["emotion data"] += 1
    try:
        examples = parse_emotion_data(document)
    except EmotionDataError as error:
        assert str(error).startswith("data/emotions/emotions.yml: ")
        return
    assert all(example.emotion in EMOTIONS and example.text.strip() for example in examples)
