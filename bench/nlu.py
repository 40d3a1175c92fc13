"""NLU benchmark: Attune's pipeline against Rasa's default pipeline, trained and tested on the same data.

    python -m bench.nlu --data ../shared/data/intents_banking77.dev.jsonl
    python -m bench.nlu --train TRAIN.jsonl --test TEST.jsonl --pipelines attune

Input is JSONL in the format of ../shared/data/intents_*.dev.jsonl (``text``, ``intent``, ``split``).
Reports accuracy and macro-F1 of the classifier's top intent (nlu_fallback set aside, its rate is
reported separately), training time, and parse time per message (mean, p50, p95); writes JSON.
"""

import argparse
import asyncio
import json
import os
import re
import statistics
import sys
import tempfile
import time
from dataclasses import asdict, dataclass
from pathlib import Path
from typing import Any

from bench.stats import percentile

ROOT = Path(__file__).resolve().parent.parent
CONFIGS = {"attune": ROOT / "config.yml", "default": ROOT / "bench" / "configs" / "rasa_default.yml"}


@dataclass(frozen=True)
class Example:
    text: str
    intent: str


@dataclass(frozen=True)
class PipelineResult:
    pipeline: str
    config: str
    n_train: int
    n_test: int
    accuracy: float
    macro_f1: float
    fallback_rate: float
    train_seconds: float
    parse_ms_mean: float
    parse_ms_p50: float
    parse_ms_p95: float


def read_jsonl(path: Path) -> list[dict[str, Any]]:
    rows = []
    with path.open(encoding="utf-8") as lines:
        for number, line in enumerate(lines, 1):
            if not line.strip():
                continue
            row = json.loads(line)
            if not isinstance(row.get("text"), str) or not isinstance(row.get("intent"), str):
                raise SystemExit(f"{path}:{number}: each line needs string fields 'text' and 'intent'")
            rows.append(row)
    return rows


def load_split(args: argparse.Namespace) -> tuple[list[Example], list[Example]]:
    def examples(rows: list[dict[str, Any]]) -> list[Example]:
        return [Example(" ".join(r["text"].split()), r["intent"]) for r in rows if r["text"].strip()]

    if args.data:
        rows = read_jsonl(args.data)
        train = examples([r for r in rows if r.get("split") == "train"])
        test = examples([r for r in rows if r.get("split") == "test"])
        if not train or not test:
            raise SystemExit(f"{args.data}: needs rows with split 'train' and 'test' (or use --train/--test)")
    else:
        train, test = examples(read_jsonl(args.train)), examples(read_jsonl(args.test))
    if args.limit_test:
        test = test[: args.limit_test]
    return train, test


def safe_names(intents: set[str]) -> dict[str, str]:
    """Rasa-safe intent ids (no spaces, slashes or leading digits), mapped back after parsing."""
    return {
        intent: f"i{n:03d}_{re.sub(r'[^a-z0-9_]+', '_', intent.lower())[:40]}"
        for n, intent in enumerate(sorted(intents))
    }


def write_nlu(train: list[Example], names: dict[str, str], path: Path) -> None:
    import yaml

    by_intent: dict[str, list[str]] = {}
    for example in train:
        # Square brackets followed by parentheses would read as an entity annotation.
        text = example.text.replace("](", "] (")
        by_intent.setdefault(names[example.intent], []).append(text)
    nlu = [
        {"intent": name, "examples": "".join(f"- {t}\n" for t in texts)} for name, texts in by_intent.items()
    ]
    path.write_text(yaml.safe_dump({"version": "3.1", "nlu": nlu}, allow_unicode=True, width=10_000))


def train_pipeline(config: Path, nlu_file: Path, out_dir: Path, name: str) -> tuple[Path, float]:
    from rasa.model_training import train_nlu

    started = time.perf_counter()
    model = train_nlu(str(config), str(nlu_file), str(out_dir), fixed_model_name=name)
    elapsed = time.perf_counter() - started
    if not model:
        raise SystemExit(f"training {name} with {config} produced no model")
    return Path(model), elapsed


def top_intent(parsed: dict[str, Any]) -> str | None:
    """The classifier's own answer: the best-ranked intent that is not nlu_fallback."""
    for ranked in parsed.get("intent_ranking") or [parsed.get("intent") or {}]:
        if ranked.get("name") and ranked["name"] != "nlu_fallback":
            return str(ranked["name"])
    return None


async def evaluate(model: Path, test: list[Example], names: dict[str, str], label: str) -> dict[str, Any]:
    from rasa.core.agent import Agent
    from tqdm import tqdm

    agent = Agent.load(str(model))
    back = {v: k for k, v in names.items()}
    predicted, fallbacks, timings = [], 0, []
    await agent.parse_message("warm up")
    for example in tqdm(test, desc=f"parsing ({label})", unit="msg", file=sys.stderr):
        started = time.perf_counter()
        parsed = await agent.parse_message(example.text)
        timings.append((time.perf_counter() - started) * 1000)
        fallbacks += (parsed.get("intent") or {}).get("name") == "nlu_fallback"
        predicted.append(back.get(top_intent(parsed) or "", "<none>"))
    return {"predicted": predicted, "fallbacks": fallbacks, "timings": timings}


def run_pipeline(
    label: str, config: Path, train: list[Example], test: list[Example], work: Path
) -> PipelineResult:
    from sklearn.metrics import f1_score

    names = safe_names({e.intent for e in train})
    unseen = {e.intent for e in test} - set(names)
    nlu_file = work / "nlu.yml"
    write_nlu(train, names, nlu_file)
    print(
        f"[{label}] training on {len(train)} examples, {len(names)} intents ({config.name}) ...",
        file=sys.stderr,
    )
    model, seconds = train_pipeline(config, nlu_file, work / "models", label)
    print(f"[{label}] trained in {seconds:.1f} s", file=sys.stderr)
    outcome = asyncio.run(evaluate(model, test, names, label))
    gold = [e.intent for e in test]
    correct = sum(p == g for p, g in zip(outcome["predicted"], gold, strict=True))
    if unseen:
        print(f"[{label}] note: {len(unseen)} test intents never occur in training", file=sys.stderr)
    return PipelineResult(
        pipeline=label,
        config=str(config.relative_to(ROOT) if config.is_relative_to(ROOT) else config),
        n_train=len(train),
        n_test=len(test),
        accuracy=correct / len(test),
        macro_f1=float(
            f1_score(gold, outcome["predicted"], average="macro", labels=sorted(set(gold)), zero_division=0)
        ),
        fallback_rate=outcome["fallbacks"] / len(test),
        train_seconds=seconds,
        parse_ms_mean=statistics.fmean(outcome["timings"]),
        parse_ms_p50=percentile(outcome["timings"], 0.50),
        parse_ms_p95=percentile(outcome["timings"], 0.95),
    )


def table(results: list[PipelineResult]) -> str:
    rows = [("pipeline", "accuracy", "macro-F1", "fallback", "train s", "parse ms mean/p50/p95")]
    for r in results:
        rows.append(
            (
                r.pipeline,
                f"{r.accuracy:.2%}",
                f"{r.macro_f1:.4f}",
                f"{r.fallback_rate:.1%}",
                f"{r.train_seconds:.1f}",
                f"{r.parse_ms_mean:.1f} / {r.parse_ms_p50:.1f} / {r.parse_ms_p95:.1f}",
            )
        )
    widths = [max(len(row[i]) for row in rows) for i in range(len(rows[0]))]
    return "\n".join("  ".join(cell.ljust(w) for cell, w in zip(row, widths, strict=True)) for row in rows)


def parse_args(argv: list[str] | None) -> argparse.Namespace:
    parser = argparse.ArgumentParser(prog="python -m bench.nlu", description=__doc__.splitlines()[0])
    source = parser.add_mutually_exclusive_group(required=True)
    source.add_argument("--data", type=Path, help="one JSONL file, split by its 'split' field")
    source.add_argument("--train", type=Path, help="training JSONL (with --test)")
    parser.add_argument("--test", type=Path, help="test JSONL (with --train)")
    parser.add_argument("--pipelines", default="attune,default", help="comma-separated: attune, default")
    parser.add_argument("--attune-config", type=Path, default=CONFIGS["attune"])
    parser.add_argument("--limit-test", type=int, default=0, help="parse only the first N test examples")
    parser.add_argument("--out", type=Path, help="JSON result (default bench/results/nlu-<dataset>.json)")
    args = parser.parse_args(argv)
    if args.train and not args.test:
        parser.error("--train needs --test")
    unknown = set(args.pipelines.split(",")) - set(CONFIGS)
    if unknown:
        parser.error(f"unknown pipelines: {', '.join(sorted(unknown))}")
    return args


def main(argv: list[str] | None = None) -> int:
    args = parse_args(argv)
    # Offline model, no training cache (a cached featurizer would flatter the training time), quiet TF.
    os.environ.update({"HF_HUB_OFFLINE": "1", "TRANSFORMERS_OFFLINE": "1", "TF_CPP_MIN_LOG_LEVEL": "2"})
    os.environ["RASA_MAX_CACHE_SIZE"] = "0"
    train, test = load_split(args)
    dataset = (args.data or args.train).stem.replace(".dev", "")
    configs = {**CONFIGS, "attune": args.attune_config}
    results = []
    for label in args.pipelines.split(","):
        with tempfile.TemporaryDirectory(prefix=f"bench-nlu-{label}-") as work:
            results.append(run_pipeline(label, configs[label].resolve(), train, test, Path(work)))
    print()
    print(f"NLU benchmark on {dataset}: {len(train)} train / {len(test)} test examples")
    print(table(results))
    out = args.out or ROOT / "bench" / "results" / f"nlu-{dataset}.json"
    out.parent.mkdir(parents=True, exist_ok=True)
    report = {
        "dataset": dataset,
        "source": str(args.data or args.train),
        "results": [asdict(r) for r in results],
    }
    out.write_text(json.dumps(report, indent=2))
    print(f"\nwrote {out}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
