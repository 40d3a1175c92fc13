"""The tone experiment in the action server: the arm, the wording it gives, the exposure it logs.

Issue 22, docs/experiments.md.  action_track_empathy scores the turn, chooses the tone and decides
on escalation exactly as without an experiment; only then does ``apply`` turn the chosen tone into
the wording the customer sees (the ``tone`` slot picks the response variants in domain.yml).  In a
neutral arm that wording is neutral; the decision, the scores, the distress handling and the
call-backs were made before and are not touched.  The engine's own tone is carried in the empathy
state so its hysteresis runs as in the adaptive arm.

Exposure is logged once per conversation, at the first reply the adaptive arm would word
differently (the first non-neutral tone), in *every* arm: a neutral-arm conversation is exposed at
the reply it would have had adapted.  So both arms count the same conversations, the sample-ratio
check means something, and conversations the experiment cannot affect are left out of the report.
"""

import logging
import threading
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from datetime import datetime, timezone
from pathlib import Path
from typing import Any, Final

import yaml
from rasa_sdk import Tracker

from actions import consent
from actions.policy_reload import FileWatch
from bot.empathy.experiments import EXCLUDED, Experiment, ExperimentError, assign, parse, running
from bot.empathy.tone import NEUTRAL

logger = logging.getLogger(__name__)

# The empathy state's entry: {"name", "arm", "exposed"}: the arm sticks for the conversation.
STATE_KEY: Final = "experiment"
# The empathy state's copy of the engine's tone, kept only while the wording differs from it.
ADAPTIVE_TONE_KEY: Final = "adaptive_tone"


def load(path: str | Path) -> tuple[Experiment, ...]:
    """The experiments in the file at ``path``, checked (ExperimentError names the key)."""
    try:
        text = Path(path).read_text(encoding="utf-8")
    except OSError as error:
        raise ExperimentError(f"{path}: cannot read the experiments ({error.strerror})") from error
    try:
        return parse(yaml.safe_load(text))
    except yaml.YAMLError as error:
        raise ExperimentError(f"{path}: not valid YAML ({error})") from error


class ExperimentsFile:
    """The experiments in the file ``watch`` looks at, re-read when it changes: no restart needed.

    ``current()`` is asked on every scored turn; the ``watch`` (actions/policy_reload.py) compares
    the file's (inode, size, mtime) with what it loaded at most once a second, and
    re-reads and re-checks the file only when they differ.  A file that no longer validates is not
    taken: the last good experiments stay in force and the error is logged once per change.  With
    no good file yet (a broken file at start-up) there are no experiments: everyone gets the
    adaptive tone, as without an experiment.  Assignment stays deterministic whatever is reloaded:
    the arm comes from the experiment's name and the unit, and a conversation keeps the arm it has.
    """

    def __init__(self, watch: FileWatch) -> None:
        self.path = watch.path
        self._lock = threading.Lock()
        self._watch = watch
        self._experiments: tuple[Experiment, ...] = ()
        self._load(first=True)

    def current(self) -> tuple[Experiment, ...]:
        with self._lock:
            if self._watch.changed():
                self._load(first=False)
            return self._experiments

    def _load(self, first: bool) -> None:
        try:
            experiments = load(self.path)
        except ExperimentError as error:
            kept = "no experiment runs" if first else "the previous experiments stay in force"
            logger.error("experiments %s not loaded, %s: %s", self.path, kept, error)
            return
        self._experiments = experiments
        if not first:
            running = ", ".join(e.name for e in experiments if e.enabled) or "none"
            logger.info("experiments %s reloaded: enabled now %s", self.path, running)


def current(experiments: Callable[[], Sequence[Experiment]], now: float) -> Experiment | None:
    """The experiment assigning at ``now``; None (everyone adaptive) when the file cannot be used.

    A broken experiments file must not cost a customer the scoring of their turn: it is logged
    and the bot behaves as without an experiment.
    """
    try:
        return running(experiments(), datetime.fromtimestamp(now, timezone.utc).date())
    except (ExperimentError, OSError, ValueError, OverflowError):
        logger.exception("experiments unavailable; every conversation gets the adaptive tone")
        return None


def unit_of(tracker: Tracker, latest: dict[str, Any]) -> str:
    """What is assigned: the customer the Rasa server verified, else this conversation.

    Never the e-mail typed in the chat: what a client asserts must not choose an arm.
    """
    answer = consent.gate_answer(latest)
    customer = answer.customer or answer.verified_id
    return f"customer:{customer}" if customer else f"conversation:{tracker.sender_id}"


@dataclass(frozen=True)
class Applied:
    wording: str  # the ``tone`` slot: the variants the customer sees
    state: dict[str, Any] | None  # the empathy state's STATE_KEY entry after this turn
    exposure: dict[str, str] | None  # the exposure slot's value to set on this turn


def _carried_arm(experiment: Experiment, carried: Any) -> tuple[str | None, bool]:
    if isinstance(carried, dict) and carried.get("name") == experiment.name:
        arm = carried.get("arm")
        if arm == EXCLUDED or (isinstance(arm, str) and experiment.arm(arm) is not None):
            return arm, bool(carried.get("exposed"))
    return None, False


def apply(experiment: Experiment | None, carried: Any, unit: str, adaptive_tone: str) -> Applied:
    """The wording for the engine's ``adaptive_tone`` in this conversation's arm."""
    if experiment is None:
        return Applied(adaptive_tone, None, None)
    name, exposed = _carried_arm(experiment, carried)
    arm = experiment.arm(name) if name else assign(experiment, unit)
    if arm is None:  # excluded earlier in the conversation (opted out, then back in): stays out
        return Applied(adaptive_tone, carried, None)
    exposure = None
    if not exposed and adaptive_tone != NEUTRAL:
        exposure, exposed = {"experiment": experiment.name, "variant": arm.name}, True
    wording = adaptive_tone if arm.adaptive else NEUTRAL
    return Applied(wording, {"name": experiment.name, "arm": arm.name, "exposed": exposed}, exposure)


def exclude(experiment: Experiment | None, carried: Any) -> Applied:
    """A turn of a customer who opted out of emotion processing: never assigned, excluded once."""
    if experiment is None:
        return Applied(NEUTRAL, None, None)
    name, exposed = _carried_arm(experiment, carried)
    if exposed or name == EXCLUDED:
        return Applied(NEUTRAL, carried, None)
    # Not the conversation id: on SMS it is a phone number.
    logger.info("experiment %s: a conversation excluded (emotion processing off)", experiment.name)
    return Applied(
        NEUTRAL,
        {"name": experiment.name, "arm": EXCLUDED, "exposed": True},
        {"experiment": experiment.name, "variant": EXCLUDED},
    )
