"""Learning the frustration weights from the project's own labelled turns (``data/frustration/*.yml``).

The model stays the policy's linear one, so every score keeps its explanation (weight x signal per
signal).  A logistic regression is fitted on the signals the shipped engine computes for each
labelled customer turn; its weights, scaled so that the fitted 50% point lands on the shipped
threshold, become the policy's weights:

    instant = sum(w_i * s_i)  with  w_i = scale * beta_i,  scale = threshold / -intercept

so ``instant >= threshold`` exactly when the fitted probability of "frustrated" is at least 0.5.
A signal's sign is fixed by its meaning (calm evidence lowers the score, everything else can only
raise it); a weight that would cross zero stays at zero.  Stdlib + numpy only; the engine that
computes the signals is the caller's (bot/evaluation/fitting.py).
"""

import re
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from typing import Any, Final, Literal, get_args

import numpy as np
import numpy.typing as npt

Array = npt.NDArray[np.float64]

Label = Literal["calm", "annoyed", "frustrated"]
LABELS: Final[tuple[Label, ...]] = get_args(Label)
# The fitted target: an annoyed turn is half-way, so the 50% point sits between annoyed and frustrated.
TARGET: Final[Mapping[Label, float]] = {"calm": 0.0, "annoyed": 0.5, "frustrated": 1.0}
BOT: Final = "bot"
# Signals whose meaning says the score can only fall with them; every other signal can only raise it.
CALM_EVIDENCE: Final = frozenset({"positive_emotion"})
# A hostile or mistaken file should fail with a message, not fill memory.
MAX_TEXT_CHARS: Final = 2000
MAX_TURNS: Final = 40


class FrustrationDataError(ValueError):
    """``data/frustration/*.yml`` is malformed; the message says which conversation and turn."""


@dataclass(frozen=True)
class LabelledTurn:
    speaker: str  # "user" or "bot"
    text: str
    label: Label | None  # None for the bot's turns


def parse_frustration_data(document: Any, source: str) -> list[list[LabelledTurn]]:
    """The conversations of one parsed data file, each a list of turns in order."""
    if not isinstance(document, Mapping) or str(document.get("version", "")) != "1":
        raise FrustrationDataError(f"{source}: expected a mapping with version \"1\" and 'conversations'")
    conversations = document.get("conversations")
    if not isinstance(conversations, list) or not conversations:
        raise FrustrationDataError(f"{source}: 'conversations' must be a non-empty list")
    parsed = []
    for number, conversation in enumerate(conversations, 1):
        where = f"{source}: conversation {number}"
        turns = conversation.get("turns") if isinstance(conversation, Mapping) else None
        if not isinstance(turns, list) or not turns or len(turns) > MAX_TURNS:
            raise FrustrationDataError(f"{where}: 'turns' must be a list of 1 to {MAX_TURNS} turns")
        parsed.append([_turn(turn, f"{where}, turn {n}") for n, turn in enumerate(turns, 1)])
    return parsed


def _turn(turn: Any, where: str) -> LabelledTurn:
    if not isinstance(turn, Mapping) or len(turn) != 1:
        raise FrustrationDataError(f"{where}: one key per turn: {', '.join(LABELS)} or {BOT}")
    ((key, text),) = turn.items()
    if key != BOT and key not in LABELS:
        raise FrustrationDataError(f"{where}: unknown key {key!r}; use {', '.join(LABELS)} or {BOT}")
    if not isinstance(text, str):
        raise FrustrationDataError(f"{where}: the text must be a string (put quotes around a number)")
    if not text.strip() or len(text) > MAX_TEXT_CHARS:
        raise FrustrationDataError(f"{where}: the text must be 1 to {MAX_TEXT_CHARS} characters")
    if key == BOT:
        return LabelledTurn("bot", text, None)
    return LabelledTurn("user", text, key)


@dataclass(frozen=True)
class Fit:
    names: tuple[str, ...]  # the signals fitted, in column order
    coefficients: Array  # one per name, on the logit scale
    intercept: float

    def probability(self, x: Array) -> Array:
        return np.asarray(1.0 / (1.0 + np.exp(-(np.atleast_2d(x) @ self.coefficients + self.intercept))))

    def policy_weights(self, threshold: float) -> dict[str, float]:
        """Weights on the policy's scale: ``instant >= threshold`` where the fitted probability is 0.5."""
        if self.intercept >= 0:
            raise FrustrationDataError(
                "the fit reads a turn with no signal as frustrated (intercept >= 0): "
                "the data needs more calm turns"
            )
        scale = threshold / -self.intercept
        return {
            name: round(float(c) * scale, 2) for name, c in zip(self.names, self.coefficients, strict=True)
        }


def fit_logistic(
    x: Array, target: Array, names: Sequence[str], l2: float = 0.1, steps: int = 4000, rate: float = 0.5
) -> Fit:
    """L2-penalised logistic regression with soft targets and sign constraints (projected gradient)."""
    x = np.asarray(x, dtype=np.float64)
    y = np.asarray(target, dtype=np.float64)
    upper = np.array([0.0 if name in CALM_EVIDENCE else np.inf for name in names])
    lower = np.array([-np.inf if name in CALM_EVIDENCE else 0.0 for name in names])
    beta = np.zeros(x.shape[1])
    intercept = float(np.log(max(y.mean(), 1e-3) / max(1 - y.mean(), 1e-3)))
    n = len(y)
    for _ in range(steps):
        p = 1.0 / (1.0 + np.exp(-(x @ beta + intercept)))
        error = p - y
        beta = np.clip(beta - rate * (x.T @ error / n + l2 * beta / n), lower, upper)
        intercept -= rate * float(error.mean())
    return Fit(tuple(names), beta, intercept)


def informative(x: Array, names: Sequence[str]) -> list[str]:
    """The signals that vary in the data: a constant column carries no evidence to fit its weight."""
    return [name for i, name in enumerate(names) if np.ptp(x[:, i]) > 0]


def set_number(text: str, section: str, key: str, value: float) -> str:
    """``text`` (the policy YAML) with ``key``'s number under top-level ``section`` set to ``value``.

    Only the number changes: the key, the comment after it and every other line stay as written,
    so the designer's explanations survive a re-fit.  The number keeps its width where it can, so
    the comments stay aligned.
    """
    start = re.search(rf"^{re.escape(section)}:\s*$", text, re.MULTILINE)
    if start is None:
        raise FrustrationDataError(f"policy: no top-level section {section!r}")
    end = re.search(r"^\S", text[start.end() :], re.MULTILINE)
    stop = start.end() + end.start() if end else len(text)
    line = re.compile(
        rf"^(?P<lead>\s+{re.escape(key)}:\s*)(?P<number>-?\d+(\.\d+)?)(?P<rest>[^\n]*)$", re.MULTILINE
    )
    found = line.search(text, start.end(), stop)
    if found is None:
        raise FrustrationDataError(f"policy: no number for {section}.{key}")
    number = f"{value:.2f}"
    rest = found["rest"]
    spare = len(found["number"]) - len(number)
    if spare < 0 and rest.startswith(" " * (1 - spare)):
        rest = rest[-spare:]
    elif spare > 0 and rest.lstrip().startswith("#"):
        rest = " " * spare + rest
    return text[: found.start()] + found["lead"] + number + rest + text[found.end() :]
