"""Language detection: the latency it adds per message, and how often it is right, in one run.

    python -m bench.language [--rounds 20] [--data ../shared/data]

Latency: the LanguageDetector and LanguageIntentRouter components (bot/components/language_detector.py)
on one short message at a time, as Rasa runs them, over the NLU examples, the foreign samples and the
never-foreign list (bench/language_samples.py), ``--rounds`` times.  The goal is <= 5 ms p95 added.
Accuracy: how many English messages would wrongly be flagged as a language the models do not read
(the project's own training data, and the external English dev sets in ``--data`` when present), how
many of the foreign samples are flagged, and that none of the never-foreign messages is.
Writes bench/results/language.json.
"""

import argparse
import json
import re
import tempfile
import time
from collections import Counter
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import yaml

from bench.language_samples import FOREIGN, NEVER_FOREIGN
from bench.stats import summary

ROOT = Path(__file__).resolve().parent.parent
# External English dev sets (../shared/data/README.md): each file's texts, or its dialogues' user turns.
ENGLISH_SETS = (
    "emotions.dev.jsonl",
    "intents_banking77.dev.jsonl",
    "intents_clinc150.dev.jsonl",
    "intents_hwu64.dev.jsonl",
    "frustration_dialogues.dev.jsonl",
)


def project_english() -> list[str]:
    """The NLU examples of every intent but unsupported_language (entity markup removed)."""
    nlu = yaml.safe_load((ROOT / "data" / "nlu" / "nlu.yml").read_text())
    texts = []
    for block in nlu["nlu"]:
        if "intent" not in block or block["intent"] == "unsupported_language":
            continue
        for line in block["examples"].splitlines():
            if line.startswith("- "):
                texts.append(_plain(line[2:].strip()))
    return texts


def _plain(example: str) -> str:
    return re.sub(r"\[([^\]]*)\]\([^)]*\)", r"\1", example)


def external_english(folder: Path, name: str) -> Iterator[str]:
    path = folder / name
    if not path.is_file():
        return
    for line in path.read_text(encoding="utf-8").splitlines():
        record = json.loads(line)
        if "turns" in record:
            yield from (t["text"] for t in record["turns"] if t.get("speaker") == "user" and t.get("text"))
        elif record.get("text"):
            yield record["text"]


def latency(texts: list[str], rounds: int) -> dict[str, Any]:
    from rasa.engine.graph import ExecutionContext
    from rasa.engine.storage.local_model_storage import LocalModelStorage
    from rasa.engine.storage.resource import Resource
    from rasa.shared.nlu.constants import TEXT
    from rasa.shared.nlu.training_data.message import Message

    from bot.components.language_detector import LanguageDetector, LanguageIntentRouter

    storage = LocalModelStorage(Path(tempfile.mkdtemp(prefix="bench-language-")))
    context = ExecutionContext(node_name="language", graph_schema=None)
    detector = LanguageDetector.create(LanguageDetector.get_default_config(), storage, Resource("d"), context)
    router = LanguageIntentRouter.create({}, storage, Resource("r"), context)
    samples = []
    for _ in range(rounds):
        for text in texts:
            message = Message({TEXT: text, "intent": {"name": "order_status", "confidence": 0.5}})
            started = time.perf_counter()
            router.process(detector.process([message]))
            samples.append((time.perf_counter() - started) * 1000)
    return {"messages": len(samples), **summary(samples), "max": max(samples)}


def flagged_share(texts: list[str]) -> dict[str, Any]:
    from bot.components.language_detector import detect

    flagged = [text for text in texts if not detect(text).supported]
    return {
        "messages": len(texts),
        "flagged": len(flagged),
        "rate": len(flagged) / len(texts) if texts else 0.0,
    }


def accuracy(data: Path) -> dict[str, Any]:
    from bot.components.language_detector import detect

    english = {"project training data": flagged_share(project_english())}
    for name in ENGLISH_SETS:
        texts = list(external_english(data, name))
        if texts:
            english[name] = flagged_share(texts)
    foreign: dict[str, Any] = {}
    for code, samples in FOREIGN.items():
        readings = [detect(text) for text in samples]
        foreign[code] = {
            "messages": len(samples),
            "flagged": sum(not r.supported for r in readings),
            "named_right": sum(r.code == code for r in readings),
            "codes": dict(Counter(r.code for r in readings)),
        }
    never = [text for text in NEVER_FOREIGN if not detect(text).supported]
    return {"english_flagged": english, "foreign": foreign, "never_foreign_flagged": never}


def main() -> int:
    parser = argparse.ArgumentParser(prog="python -m bench.language", description=__doc__.splitlines()[0])
    parser.add_argument("--rounds", type=int, default=20)
    parser.add_argument("--data", type=Path, default=ROOT.parent / "shared" / "data")
    args = parser.parse_args()
    texts = [*project_english(), *(t for ts in FOREIGN.values() for t in ts), *NEVER_FOREIGN]
    result = {"latency_ms": latency(texts, args.rounds), **accuracy(args.data)}
    lat = result["latency_ms"]
    print(
        f"detector + router per message: mean {lat['mean']:.4f}  p50 {lat['p50']:.4f}  "
        f"p95 {lat['p95']:.4f}  max {lat['max']:.3f} ms over {lat['messages']} messages (goal: p95 <= 5 ms)"
    )
    for name, share in result["english_flagged"].items():
        print(f"English wrongly flagged, {name:34s} {share['flagged']:4d} / {share['messages']:6d}")
    foreign = result["foreign"]
    total = sum(f["messages"] for f in foreign.values())
    print(
        f"foreign samples flagged: {sum(f['flagged'] for f in foreign.values())} / {total}, "
        f"language named right: {sum(f['named_right'] for f in foreign.values())} / {total}"
    )
    print(f"never-foreign messages flagged: {len(result['never_foreign_flagged'])} / {len(NEVER_FOREIGN)}")
    out = ROOT / "bench" / "results" / "language.json"
    out.parent.mkdir(parents=True, exist_ok=True)
    out.write_text(json.dumps(result, indent=2, ensure_ascii=False))
    print(f"wrote {out}")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
