"""The emotion model: MiniLM embedding + message cues -> probability of each of the nine emotions.

Trained from the designer-written examples in ``data/emotions/*.yml`` (never from evaluation
data).  The Rasa component and the eval command both call ``train_emotion_model`` and
``EmotionModel.read``, so the numbers the eval prints are the shipped model's.
"""

from collections.abc import Sequence
from dataclasses import dataclass

import numpy as np
import numpy.typing as npt

from bot.empathy.cues import Cues, extract_cues
from bot.empathy.emotions import EMOTIONS, NEUTRAL, EmotionExample
from bot.empathy.softmax import SoftmaxModel, train_softmax

# Cues are 0/1-ish next to a unit-length embedding; this keeps them from dominating.
CUE_WEIGHT = 0.5
# Most messages to a shop carry no emotion; the designer data has equal counts per class, so
# a prior toward neutral restores the real-world balance (tuned on GoEmotions dev, see bench/README.md).
NEUTRAL_PRIOR = 1.5
L2 = 1e-4


def features(embeddings: npt.NDArray[np.float32], cues: Sequence[Cues]) -> npt.NDArray[np.float64]:
    cue_matrix = np.array([c.as_vector() for c in cues], dtype=np.float64).reshape(len(cues), -1)
    return np.hstack([np.asarray(embeddings, dtype=np.float64), CUE_WEIGHT * cue_matrix])


@dataclass(frozen=True)
class EmotionReading:
    probabilities: dict[str, float]
    cues: Cues

    @property
    def top(self) -> str:
        return max(self.probabilities, key=lambda e: self.probabilities[e])


@dataclass(frozen=True)
class EmotionModel:
    softmax: SoftmaxModel

    def read(self, embeddings: npt.NDArray[np.float32], texts: Sequence[str]) -> list[EmotionReading]:
        """One reading per text; ``embeddings`` are the texts' unit-length MiniLM vectors."""
        cues = [extract_cues(text) for text in texts]
        if not texts:
            return []
        probabilities = self.softmax.predict_proba(features(embeddings, cues))
        return [
            EmotionReading({label: float(p) for label, p in zip(self.softmax.labels, row, strict=True)}, cue)
            for row, cue in zip(probabilities, cues, strict=True)
        ]


def train_emotion_model(
    embeddings: npt.NDArray[np.float32], examples: Sequence[EmotionExample]
) -> EmotionModel:
    cues = [extract_cues(e.text) for e in examples]
    model = train_softmax(features(embeddings, cues), [e.emotion for e in examples], EMOTIONS, l2=L2)
    bias = model.bias.copy()
    bias[EMOTIONS.index(NEUTRAL)] += NEUTRAL_PRIOR
    return EmotionModel(SoftmaxModel(model.weights, bias, model.labels))
