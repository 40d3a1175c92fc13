"""The shipped empathy engine, run over transcripts: the emotion model trained from data/, the
policy from policy/empathy.yml, and the same signal/score code the action server runs.

A transcript has no intents, timestamps or recorded self-service outcomes; the engine uses what
a transcript does have (text, the bot's replies, embeddings of earlier turns) and each score's
explanation says which inputs were unavailable.  A turn's score uses only that turn and earlier.
"""

import functools
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np
import numpy.typing as npt
import yaml

from bot.components import sentence_encoder
from bot.empathy.cues import without_quotes
from bot.empathy.emotion_model import EmotionModel, EmotionReading, train_emotion_model
from bot.empathy.emotions import EmotionExample, check_coverage, parse_emotion_data
from bot.empathy.policy import EmpathyPolicy
from bot.empathy.scoring import TurnScore, score_turn
from bot.empathy.signals import TurnObservation, TurnSignals, compute_signals
from bot.empathy.transcripts import bot_reply_failed

ROOT = Path(__file__).resolve().parents[2]
EMOTION_DATA = "data/emotions/*.yml"
POLICY_FILE = "policy/empathy.yml"


@dataclass(frozen=True)
class Turn:
    speaker: str
    text: str


@dataclass(frozen=True)
class ScoredTurn:
    index: int  # position in the dialogue
    text: str
    score: TurnScore


@dataclass(frozen=True)
class TurnReading:
    index: int  # position in the dialogue
    text: str
    signals: TurnSignals


def load_policy(path: Path = ROOT / POLICY_FILE) -> EmpathyPolicy:
    return EmpathyPolicy.from_mapping(yaml.safe_load(path.read_text(encoding="utf-8")), source=str(path))


def load_emotion_examples(root: Path = ROOT) -> list[EmotionExample]:
    examples: list[EmotionExample] = []
    for path in sorted(root.glob(EMOTION_DATA)):
        examples.extend(
            parse_emotion_data(yaml.safe_load(path.read_text(encoding="utf-8")), source=str(path))
        )
    check_coverage(examples, EMOTION_DATA)
    return examples


class EmpathyEngine:
    """The emotion model, the policy and the scoring code together, scoring whole transcripts."""

    def __init__(self, policy: EmpathyPolicy, batch_size: int = 64) -> None:
        self.policy = policy
        self._encoder = sentence_encoder.load_encoder(sentence_encoder.default_model_path())
        self._batch_size = batch_size
        self._emotion: EmotionModel | None = None

    @classmethod
    def shipped(cls) -> "EmpathyEngine":
        engine = cls(load_policy())
        examples = load_emotion_examples()
        texts = [without_quotes(e.text) for e in examples]
        engine._emotion = train_emotion_model(engine.embed(texts), examples)
        return engine

    def embed(self, texts: Sequence[str]) -> npt.NDArray[np.float32]:
        return sentence_encoder.encode(self._encoder, list(texts), self._batch_size, 2000)

    def read_emotions(self, texts: Sequence[str]) -> tuple[npt.NDArray[np.float32], list[EmotionReading]]:
        assert self._emotion is not None
        # As the Rasa component does: quoted speech is someone else's emotion.
        embeddings = self.embed([without_quotes(t) for t in texts])
        return embeddings, self._emotion.read(embeddings, texts)

    def score_dialogue(self, turns: Sequence[Turn]) -> list[ScoredTurn]:
        """Scores for each user turn, in order, each from that turn and the ones before it."""
        return score_signals(self.dialogue_signals(turns), self.policy)

    def dialogue_signals(self, turns: Sequence[Turn]) -> list[TurnReading]:
        """Each user turn's signals, in order; they do not depend on the policy.

        ``attune fit frustration`` computes them once and scores them under many settings.
        """
        user_positions = [i for i, t in enumerate(turns) if t.speaker == "user"]
        embeddings, readings = self.read_emotions([turns[i].text for i in user_positions])
        found: list[TurnReading] = []
        previous: TurnObservation | None = None
        failures = 0
        for n, position in enumerate(user_positions):
            before = turns[position - 1] if position > 0 else None
            if before is not None and before.speaker == "bot":
                failures = failures + 1 if bot_reply_failed(before.text) else 0
            observation = TurnObservation(
                text=turns[position].text,
                emotion=readings[n].probabilities,
                cues=readings[n].cues,
                embedding=embeddings[n].tolist(),
                failed_attempts=failures,
            )
            found.append(TurnReading(position, turns[position].text, compute_signals(observation, previous)))
            previous = observation
        return found


def score_signals(readings: Sequence[TurnReading], policy: EmpathyPolicy) -> list[ScoredTurn]:
    """The scores of one dialogue's user turns under ``policy``, each carrying over to the next."""
    scored: list[ScoredTurn] = []
    frustration = distress = 0.0
    for reading in readings:
        score = score_turn(reading.signals, frustration, distress, policy)
        frustration, distress = score.frustration.value, score.distress.value
        scored.append(ScoredTurn(reading.index, reading.text, score))
    return scored


def turns_of(record: dict[str, Any]) -> list[Turn]:
    return [Turn(str(t.get("speaker")), str(t.get("text") or "")) for t in record.get("turns", [])]


@functools.lru_cache(maxsize=1)
def shipped_engine() -> EmpathyEngine:
    """The shipped engine, built once per process (training the emotion model takes seconds)."""
    return EmpathyEngine.shipped()
