"""The playground's service functions: score a typed conversation, re-score the samples, save the policy.

One ``Playground`` per app (the app factory builds it; ``PLAYGROUND`` in handoff/playground/routes.py):
it holds the readings Rasa gave (nlu.ReadingCache) and the sample sets' signals, computed on first use,
so a draft is re-scored without a single parse.  The policy file is read on every request (a few
kilobytes), so the page always starts from what is saved, wherever the last save came from.

Saving is the only write: the draft is validated (policy_draft.draft), compared with the version the
page started from (a conditional update: two designers cannot overwrite each other unseen), written
atomically (a temporary file renamed over the old one, so an action server never reads half a file)
and audited (``empathy_policy_saved``).  When the audit entry cannot be written the old file is put back.
"""

import asyncio
import contextlib
import os
import tempfile
import time
import uuid
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from datetime import datetime, timezone
from pathlib import Path
from typing import Any, Final

from sqlalchemy.engine import Engine

from bot.empathy import metrics
from bot.empathy.escalation import NONE
from bot.empathy.policy import EmpathyPolicy
from bot.empathy.signals import TurnSignals
from bot.empathy.tone import NEUTRAL
from handoff.audit import audit_log
from handoff.core.rasa_client import RasaClient
from handoff.playground import nlu, policy_draft, samples
from handoff.playground.replay import Reading, observe, replay
from handoff.shared.audit_entry import NewEntry
from handoff.shared.errors import Conflict, InvalidRequest

MAX_TURNS: Final = 20
MAX_FAILED_ATTEMPTS: Final = 9
CHANGES_SHOWN: Final = 30
AUDIT_SUBJECT: Final = "policy:empathy"
DESIGNER_ACTOR: Final = "bot designer (console playground)"


@dataclass(frozen=True)
class Turn:
    text: str
    failed_before: int = 0


@dataclass(frozen=True)
class Prepared:
    """A sample with its readings and policy-independent signals, ready to be re-scored."""

    sample: samples.Sample
    readings: list[Reading]
    signals: list[TurnSignals]


def parse_turns(document: object) -> list[Turn]:
    """The conversation in a request body: 1 to MAX_TURNS turns of 1 to 1000 characters of text."""
    if not isinstance(document, list) or not 1 <= len(document) <= MAX_TURNS:
        raise InvalidRequest(f"turns: send a list of 1 to {MAX_TURNS} customer messages")
    turns = []
    for index, item in enumerate(document):
        item = {"text": item} if isinstance(item, str) else item
        if not isinstance(item, Mapping) or not isinstance(item.get("text"), str):
            raise InvalidRequest(f"turns[{index}]: send the message as text")
        text = item["text"].strip()
        if not 1 <= len(text) <= samples.MAX_TEXT_CHARS:
            raise InvalidRequest(f"turns[{index}]: 1 to {samples.MAX_TEXT_CHARS} characters, please")
        if any(ord(c) < 32 and c not in "\t\n" for c in text):
            raise InvalidRequest(f"turns[{index}]: control characters are not text")
        failed = item.get("failed_before", 0)
        if isinstance(failed, bool) or not isinstance(failed, int) or not 0 <= failed <= MAX_FAILED_ATTEMPTS:
            raise InvalidRequest(
                f"turns[{index}].failed_before: a whole number from 0 to {MAX_FAILED_ATTEMPTS}"
            )
        turns.append(Turn(text, failed))
    return turns


def _elapsed_ms(started: float) -> float:
    return round((time.perf_counter() - started) * 1000, 2)


class Playground:
    def __init__(self, policy_file: Path, project_root: Path, dev_file: Path | None) -> None:
        self.policy_file = policy_file
        self._project_root = project_root
        self.dev_file = dev_file
        self.cache = nlu.ReadingCache()
        self._samples: list[Prepared] | None = None
        self._dev: list[Prepared] | None = None
        self._lock = asyncio.Lock()

    # --- the policy ---------------------------------------------------------------------------
    def saved_text(self) -> str:
        try:
            return self.policy_file.read_text(encoding="utf-8")
        except OSError as error:
            raise InvalidRequest(f"cannot read {self.policy_file}: {error.strerror}") from error

    def saved(self) -> tuple[str, EmpathyPolicy]:
        text = self.saved_text()
        return text, policy_draft.read(text, str(self.policy_file))

    def draft(self, edits: Mapping[str, float]) -> tuple[EmpathyPolicy, policy_draft.Draft]:
        text, saved = self.saved()
        return saved, policy_draft.draft(text, edits, str(self.policy_file))

    @property
    def dev_available(self) -> bool:
        return self.dev_file is not None and self.dev_file.is_file()

    # --- scoring ------------------------------------------------------------------------------
    async def score(
        self, rasa: RasaClient, turns: Sequence[Turn], edits: Mapping[str, float], opted_out: bool
    ) -> dict[str, Any]:
        """The conversation scored under the draft, turn by turn, and the trajectory."""
        _, draft = self.draft(edits)
        readings = await nlu.readings(rasa, self.cache, [t.text for t in turns])
        started = time.perf_counter()
        failures = [t.failed_before for t in turns]
        scored = replay(readings, observe(readings, failures, opted_out), failures, draft.policy, opted_out)
        return {
            "turns": scored,
            "trajectory": [
                {
                    "frustration": t["frustration"]["score"] if t["frustration"] else None,
                    "distress": t["distress"]["score"] if t["distress"] else None,
                }
                for t in scored
            ],
            "thresholds": {
                "frustration": draft.policy.frustration_threshold,
                "offer_human": draft.policy.escalation.offer_human_above,
                "distress": draft.policy.distress_threshold,
            },
            "version": draft.version,
            "rescore_ms": _elapsed_ms(started),
        }

    async def _prepare(self, rasa: RasaClient, sets: Sequence[samples.Sample]) -> list[Prepared]:
        readings = await nlu.readings(rasa, self.cache, [text for s in sets for text in s.texts])
        prepared, start = [], 0
        for sample in sets:
            own = readings[start : start + len(sample.texts)]
            start += len(sample.texts)
            prepared.append(Prepared(sample, own, observe(own, sample.failures)))
        return prepared

    async def _sample_set(self, rasa: RasaClient) -> list[Prepared]:
        async with self._lock:
            if self._samples is None:
                found = await asyncio.to_thread(samples.conversation_tests, self._project_root)
                self._samples = await self._prepare(rasa, found)
            return self._samples

    async def _dev_set(self, rasa: RasaClient) -> list[Prepared] | None:
        if not self.dev_available or self.dev_file is None:
            return None
        async with self._lock:
            if self._dev is None:
                found = await asyncio.to_thread(samples.dev_dialogues, self.dev_file)
                self._dev = await self._prepare(rasa, found)
            return self._dev

    async def samples(self, rasa: RasaClient, edits: Mapping[str, float], dev: bool) -> dict[str, Any]:
        """What the draft changes on the conversation tests, and (``dev``) AUC and F1 on the dev file."""
        saved, draft = self.draft(edits)
        tests = await self._sample_set(rasa)
        dev_set = await self._dev_set(rasa) if dev else None
        started = time.perf_counter()
        result: dict[str, Any] = {"tests": compare(tests, saved, draft.policy)}
        if dev_set is not None:
            result["dev"] = {
                "file": self.dev_file.name if self.dev_file else "",
                "saved": dev_measures(dev_set, saved),
                "draft": dev_measures(dev_set, draft.policy),
            }
        result["dev_available"] = self.dev_available
        result["rescore_ms"] = _elapsed_ms(started)
        return result

    # --- saving -------------------------------------------------------------------------------
    async def save(
        self, engine: Engine, edits: Mapping[str, float], base_version: str, designer: str
    ) -> dict[str, Any]:
        """Writes the draft over the policy file (validated, conditional on ``base_version``), audited."""
        async with self._lock:
            text, saved = self.saved()
            if base_version != policy_draft.version_of(text):
                raise Conflict(
                    "the policy file changed since this page read it (another save, or an edit of the "
                    "file): reload the page to start from what is saved now"
                )
            draft = policy_draft.draft(text, edits, str(self.policy_file))
            if draft.text == text:
                raise InvalidRequest("nothing to save: the draft is what the file says")
            before, after = policy_draft.values(saved), policy_draft.values(draft.policy)
            changes = {name: [before[name], after[name]] for name in after if after[name] != before[name]}
            await asyncio.to_thread(_replace_file, self.policy_file, draft.text)
            entry = _audit_entry(
                str(self.policy_file), designer, changes, policy_draft.version_of(text), draft.version
            )
            try:
                await asyncio.to_thread(audit_log.append, engine, entry)
            except Exception:
                await asyncio.to_thread(_replace_file, self.policy_file, text)  # unaudited: not saved
                raise
        return {"saved": True, "version": draft.version, "changes": changes}


def _replace_file(path: Path, text: str) -> None:
    """``text`` into ``path`` at once: written beside it, then renamed over it (readers see old or new)."""
    mode = path.stat().st_mode & 0o777 if path.exists() else 0o644
    descriptor, temporary = tempfile.mkstemp(prefix=f".{path.name}.", dir=path.parent)
    try:
        with os.fdopen(descriptor, "w", encoding="utf-8") as file:
            file.write(text)
            file.flush()
            os.fsync(file.fileno())
        os.chmod(temporary, mode)
        os.replace(temporary, path)
    except BaseException:
        with contextlib.suppress(OSError):
            os.unlink(temporary)
        raise


def _audit_entry(
    file: str, designer: str, changes: Mapping[str, list[float]], before: str, after: str
) -> NewEntry:
    listed = ", ".join(f"{name} {old} -> {new}" for name, (old, new) in sorted(changes.items()))
    return NewEntry(
        key=f"empathy_policy_saved:{uuid.uuid4()}",
        conversation_id=AUDIT_SUBJECT,
        customer=None,
        kind="empathy_policy_saved",
        actor=DESIGNER_ACTOR,
        summary=f"Empathy policy saved by {designer} from the playground: {listed}"[:500],
        explanation={
            "rule": "the empathy policy changes through its validator; action servers reload it on change"
        },
        inputs={
            "designer": designer,
            "file": file,
            "changes": dict(changes),
            "version_before": before,
            "version_after": after,
        },
        sources=("console playground",),
        opted_out=False,
        created_at=datetime.now(timezone.utc),
    )


# --- comparing a draft with the saved policy -----------------------------------------------------
def _outcomes(prepared: Prepared, policy: EmpathyPolicy) -> list[dict[str, Any]]:
    return replay(prepared.readings, prepared.signals, list(prepared.sample.failures), policy)


def compare(sets: Sequence[Prepared], saved: EmpathyPolicy, draft: EmpathyPolicy) -> dict[str, Any]:
    """Turns over the frustration threshold, non-neutral tones and offers, saved vs draft; changed turns."""
    counts = {key: [0, 0] for key in ("turns", "frustrated", "toned", "offers")}
    changed: list[dict[str, Any]] = []
    for prepared in sets:
        for before, after in zip(_outcomes(prepared, saved), _outcomes(prepared, draft), strict=True):
            counts["turns"][0] += 1
            counts["turns"][1] += 1
            for index, turn in enumerate((before, after)):
                counts["frustrated"][index] += bool(turn["frustration"]["over_threshold"])
                counts["toned"][index] += turn["tone"]["tone"] != NEUTRAL
                counts["offers"][index] += turn["decision"]["kind"] != NONE
            moved = (before["tone"]["tone"], before["decision"]["kind"]) != (
                after["tone"]["tone"],
                after["decision"]["kind"],
            )
            if moved and len(changed) < CHANGES_SHOWN:
                changed.append(
                    {
                        "sample": prepared.sample.name,
                        "turn": after["turn"],
                        "text": after["text"][:160],
                        "frustration": [before["frustration"]["score"], after["frustration"]["score"]],
                        "tone": [before["tone"]["tone"], after["tone"]["tone"]],
                        "decision": [before["decision"]["kind"], after["decision"]["kind"]],
                    }
                )
    return {"conversations": len(sets), "counts": counts, "changed": changed}


def dev_measures(sets: Sequence[Prepared], policy: EmpathyPolicy) -> dict[str, Any]:
    """AUC of the frustration score and F1 at the policy's threshold, over the rated turns."""
    scores: list[float] = []
    positives: list[bool] = []
    for prepared in sets:
        for turn, label in zip(_outcomes(prepared, policy), prepared.sample.labels, strict=True):
            if label is not None:
                scores.append(turn["frustration"]["score"])
                positives.append(label)
    auc = metrics.roc_auc(scores, positives)
    threshold = policy.frustration_threshold
    return {
        "turns": len(scores),
        "auc": None if auc is None else round(auc, 3),
        "f1": round(metrics.precision_recall_f1([s >= threshold for s in scores], positives)[2], 3),
        "threshold": threshold,
    }
