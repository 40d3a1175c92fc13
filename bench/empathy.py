"""Latency the empathy engine adds per message, measured in one run.

    python -m bench.empathy [--model models/attune.tar.gz] [--n 300]

For each message: the full NLU parse of the trained model (with the emotion component), the
emotion component's own work (cues + emotion model on the MiniLM vector the featurizer already
computed — the only thing it adds to the pipeline), and the per-turn action's scoring, tone and
escalation on a tracker with ten earlier turns.  "Without" is the parse minus the component.
Writes bench/results/empathy-latency.json.
"""

import argparse
import asyncio
import json
import os
import time
from pathlib import Path
from typing import Any

import yaml

from bench.stats import summary

ROOT = Path(__file__).resolve().parent.parent


def messages(n: int) -> list[str]:
    nlu = yaml.safe_load((ROOT / "data" / "nlu" / "nlu.yml").read_text())
    texts = [
        line[2:].strip()
        for block in nlu["nlu"]
        if "intent" in block
        for line in block["examples"].splitlines()
        if line.startswith("- ")
    ]
    texts += ["I've asked THREE TIMES now and still nothing!!! " * 20, "", "🙃🙃🙃", "مرحبا، أين طلبي؟"]
    return (texts * (n // len(texts) + 1))[:n]


def tracker_for(texts: list[str], emotion: dict[str, Any]) -> Any:
    from rasa_sdk import Tracker

    events: list[dict[str, Any]] = []
    for i, text in enumerate(texts):
        events.append(
            {
                "event": "user",
                "text": text,
                "timestamp": 10.0 * i,
                "parse_data": {"intent": {"name": "order_status"}, "emotion": emotion},
            }
        )
        events.append({"event": "bot", "text": "ok", "timestamp": 10.0 * i + 1})
    events.pop()
    return Tracker(
        "bench", {"failed_attempts": 1.0}, events[-1]["parse_data"], events, False, None, {}, "action_listen"
    )


async def measure(model: Path, texts: list[str]) -> dict[str, Any]:
    from rasa.core.agent import Agent

    from actions.empathy_tracking import ActionTrackEmpathy
    from bot.evaluation.engine import shipped_engine

    agent = Agent.load(str(model))
    engine = shipped_engine()
    emotion_model = engine._emotion
    assert emotion_model is not None
    embeddings = engine.embed(texts)
    await agent.parse_message("warm up")
    parse, component, action = [], [], []
    tracking = ActionTrackEmpathy()
    for i, text in enumerate(texts):
        started = time.perf_counter()
        parsed = await agent.parse_message(text)
        parse.append((time.perf_counter() - started) * 1000)
        started = time.perf_counter()
        emotion_model.read(embeddings[i : i + 1], [text])
        component.append((time.perf_counter() - started) * 1000)
        tracker = tracker_for([*texts[max(0, i - 10) : i], text], parsed.get("emotion") or {})
        started = time.perf_counter()
        tracking.track(tracker)
        action.append((time.perf_counter() - started) * 1000)
    without = [p - c for p, c in zip(parse, component, strict=True)]
    return {
        "n": len(texts),
        "parse_with_emotion_ms": summary(parse),
        "parse_without_emotion_ms": summary(without),
        "emotion_component_ms": summary(component),
        "per_turn_action_ms": summary(action),
        "added_per_message_ms": summary([c + a for c, a in zip(component, action, strict=True)]),
    }


def main() -> int:
    parser = argparse.ArgumentParser(prog="python -m bench.empathy", description=__doc__.splitlines()[0])
    parser.add_argument("--model", type=Path, default=ROOT / "models" / "attune.tar.gz")
    parser.add_argument("--n", type=int, default=300)
    args = parser.parse_args()
    os.environ.update({"HF_HUB_OFFLINE": "1", "TRANSFORMERS_OFFLINE": "1", "TF_CPP_MIN_LOG_LEVEL": "2"})
    result = asyncio.run(measure(args.model, messages(args.n)))
    for key, value in result.items():
        if isinstance(value, dict):
            print(f"{key:28s} mean {value['mean']:6.2f}  p50 {value['p50']:6.2f}  p95 {value['p95']:6.2f} ms")
    out = ROOT / "bench" / "results" / "empathy-latency.json"
    out.parent.mkdir(parents=True, exist_ok=True)
    out.write_text(json.dumps(result, indent=2))
    print(f"wrote {out}")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
