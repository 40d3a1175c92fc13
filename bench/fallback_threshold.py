"""Tunes config.yml's FallbackClassifier on the project's own NLU data (issue 16, part 2).

``python -m bench.fallback_threshold [--folds 5]``: stratified k-fold cross-validation of
data/nlu with the project's intent pipeline (config.yml without the emotion, entity and fallback
components, which do not change the intent ranking).  Each held-out message's ranking is kept; then
every (threshold, ambiguity_threshold) pair is scored as the FallbackClassifier would apply it:

- a held-out message answered with its own intent: served (good);
- a held-out message sent to the fallback: one extra question (cost 1);
- a held-out message answered with another intent: misrouted (cost 2: a wrong answer, such as a
  privacy statement to "do you offer gift wrapping?", is worse than asking again);
- a probe the assistant cannot serve (OUT_OF_DOMAIN below, never in the training data) answered with
  anything but ``out_of_scope`` or the fallback: misrouted (cost 2).

Prints the table and the pair with the lowest cost per message; writes bench/results/fallback.json.
"""

import argparse
import asyncio
import json
import random
import tempfile
from collections import defaultdict
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import yaml

ROOT = Path(__file__).resolve().parents[1]
DROPPED = ("EmotionClassifier", "RegexEntityExtractor", "EntitySynonymMapper", "FallbackClassifier")
OUT_OF_SCOPE = "out_of_scope"
# Questions about the shop the assistant cannot answer; none of them is a training example.
OUT_OF_DOMAIN = (
    "do you do next day delivery to ireland",
    "can i pay with paypal",
    "do you have this lamp in blue",
    "is there a shop i can visit",
    "do you offer gift wrapping?",
    "what's your phone number for press enquiries",
    "can i leave a review",
    "do you ship to australia",
    "is the sofa made of real leather",
    "when is your next sale",
    "can i reserve an item",
    "do you do price adjustments after a sale",
)
THRESHOLDS = [round(0.30 + 0.05 * i, 2) for i in range(9)]  # 0.30 .. 0.70
AMBIGUITIES = [0.0, 0.05, 0.1, 0.15, 0.2]


@dataclass(frozen=True)
class Ranked:
    truth: str  # the intent, or "" for an out-of-domain probe
    ranking: tuple[tuple[str, float], ...]


def intent_config(tmp: Path) -> Path:
    config = yaml.safe_load((ROOT / "config.yml").read_text())
    config["pipeline"] = [c for c in config["pipeline"] if not str(c["name"]).endswith(DROPPED)]
    config.pop("policies", None)
    path = tmp / "config.yml"
    path.write_text(yaml.safe_dump(config))
    return path


def examples() -> dict[str, list[str]]:
    from rasa.shared.nlu.training_data.loading import load_data

    data = load_data(str(ROOT / "data" / "nlu"))
    by_intent: dict[str, list[str]] = defaultdict(list)
    for message in data.intent_examples:
        by_intent[str(message.get("intent"))].append(str(message.get("text")))
    return by_intent


def folds(by_intent: dict[str, list[str]], k: int, seed: int) -> list[list[tuple[str, str]]]:
    """Stratified: each intent's examples dealt round-robin over the folds after a seeded shuffle."""
    rng = random.Random(seed)
    split: list[list[tuple[str, str]]] = [[] for _ in range(k)]
    for intent, texts in sorted(by_intent.items()):
        shuffled = list(texts)
        rng.shuffle(shuffled)
        for i, text in enumerate(shuffled):
            split[i % k].append((intent, text))
    return split


def nlu_yaml(pairs: list[tuple[str, str]]) -> str:
    by_intent: dict[str, list[str]] = defaultdict(list)
    for intent, text in pairs:
        by_intent[intent].append(text)
    return yaml.safe_dump(
        {
            "version": "3.1",
            "nlu": [
                {"intent": i, "examples": "".join(f"- {t}\n" for t in texts)}
                for i, texts in by_intent.items()
            ],
        },
        sort_keys=False,
    )


async def rank(model: str, messages: list[tuple[str, str]]) -> list[Ranked]:
    from rasa.core.agent import Agent

    agent = Agent.load(model)
    ranked = []
    for truth, text in messages:
        parsed = await agent.parse_message(text)
        ranking = tuple((str(r["name"]), float(r["confidence"])) for r in parsed.get("intent_ranking", []))
        ranked.append(Ranked(truth, ranking))
    return ranked


def cross_validate(k: int, seed: int) -> list[Ranked]:
    from rasa.model_training import train_nlu

    split = folds(examples(), k, seed)
    results: list[Ranked] = []
    with tempfile.TemporaryDirectory() as tmp_name:
        tmp = Path(tmp_name)
        config = intent_config(tmp)
        for i, held_out in enumerate(split):
            train = [pair for j, fold in enumerate(split) if j != i for pair in fold]
            data = tmp / f"fold{i}.yml"
            data.write_text(nlu_yaml(train))
            model = train_nlu(str(config), str(data), str(tmp / f"model{i}"), fixed_model_name="m")
            assert model, f"fold {i} did not train"
            probes = [("", text) for text in OUT_OF_DOMAIN]
            results += asyncio.run(rank(str(model), held_out + probes))
            print(f"fold {i + 1}/{k}: {len(held_out)} held out + {len(probes)} probes", flush=True)
    return results


def outcome(item: Ranked, threshold: float, ambiguity: float) -> str:
    """Routes ``item`` as FallbackClassifier(threshold, ambiguity_threshold): served, asked or misrouted."""
    top_name, top = item.ranking[0]
    second = item.ranking[1][1] if len(item.ranking) > 1 else 0.0
    if top < threshold or top - second < ambiguity:
        return "asked"
    if item.truth == "":
        return "served" if top_name == OUT_OF_SCOPE else "misrouted"
    return "served" if top_name == item.truth else "misrouted"


def sweep(results: list[Ranked]) -> list[dict[str, Any]]:
    rows = []
    in_domain = [r for r in results if r.truth]
    probes = [r for r in results if not r.truth]
    for threshold in THRESHOLDS:
        for ambiguity in AMBIGUITIES:
            counts: dict[str, int] = defaultdict(int)
            for item in in_domain:
                counts["in_" + outcome(item, threshold, ambiguity)] += 1
            for item in probes:
                counts["ood_" + outcome(item, threshold, ambiguity)] += 1
            cost = counts["in_asked"] + 2 * (counts["in_misrouted"] + counts["ood_misrouted"])
            rows.append(
                {
                    "threshold": threshold,
                    "ambiguity_threshold": ambiguity,
                    "served": counts["in_served"] / len(in_domain),
                    "asked": counts["in_asked"] / len(in_domain),
                    "misrouted": counts["in_misrouted"] / len(in_domain),
                    "probes_misrouted": counts["ood_misrouted"] / max(len(probes), 1),
                    "cost_per_message": cost / len(results),
                }
            )
    return rows


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--folds", type=int, default=5)
    parser.add_argument("--seed", type=int, default=16)
    args = parser.parse_args()
    results = cross_validate(args.folds, args.seed)
    rows = sweep(results)
    print(f"{'thr':>5} {'amb':>5} {'served':>7} {'asked':>7} {'misroute':>8} {'probes':>7} {'cost':>6}")
    for row in rows:
        print(
            f"{row['threshold']:5.2f} {row['ambiguity_threshold']:5.2f} {row['served']:7.3f} "
            f"{row['asked']:7.3f} "
            f"{row['misrouted']:8.3f} {row['probes_misrouted']:7.3f} {row['cost_per_message']:6.3f}"
        )
    best = min(rows, key=lambda r: (r["cost_per_message"], -r["served"]))
    print(f"best: threshold {best['threshold']}, ambiguity_threshold {best['ambiguity_threshold']}")
    out = ROOT / "bench" / "results" / "fallback.json"
    out.write_text(json.dumps({"folds": args.folds, "seed": args.seed, "rows": rows, "best": best}, indent=1))
    print(f"written {out.relative_to(ROOT)}")


if __name__ == "__main__":
    main()
