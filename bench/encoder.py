"""MiniLM encoding backends against the torch reference: parity, speed, memory and intent accuracy.

    python -m bench.encoder parity                 # cosine to torch on project sentences
    python -m bench.encoder speed                  # per-sentence p50/p95 and RSS, one thread
    python -m bench.encoder accuracy --data ../shared/data/intents_banking77.dev.jsonl

``parity`` and ``speed`` read only the repository's own sentences (data/nlu, data/emotions).
``speed`` runs each backend in a fresh child process, so one backend's libraries never count in
another's RSS.  ``accuracy`` trains the shipped NLU pipeline once per backend with bench/nlu.py's
machinery and reports the difference to torch.  Results go to bench/results/encoder-*.json.
"""

import argparse
import json
import os
import re
import subprocess
import sys
import tempfile
import time
from pathlib import Path
from typing import Any

import numpy as np

from bench.stats import percentile

ROOT = Path(__file__).resolve().parent.parent
RESULTS = ROOT / "bench" / "results"
SAMPLE_FILES = ("data/nlu/nlu.yml", "data/emotions/emotions.yml", "data/emotions/emotions_everyday.yml")
REFERENCE = "torch"
CANDIDATES = ("onnx", "onnx-int8")
FEATURIZER = "bot.components.minilm_featurizer.MiniLMFeaturizer"
_EXAMPLE = re.compile(r"^\s+- (?!intent:|text:)(.+?)\s*$")
# Texts a customer could send that stress the tokenizer: empty, one emoji, a paste beyond 256
# pieces, mixed scripts, a lone surrogate, shouting with an order number.
EDGE_CASES = (
    "",
    "🙃",
    "where is my order " * 120,
    "Ünïcödé ☃ 你好 مرحبا",
    "broken \ud800 text",
    "WHERE IS MY ORDER 10002?!!!",
)


def project_sentences(limit: int = 300) -> list[str]:
    """A fixed, evenly spread sample of the repository's own example sentences, plus edge cases."""
    sentences: list[str] = []
    for name in SAMPLE_FILES:
        for line in (ROOT / name).read_text(encoding="utf-8").splitlines():
            match = _EXAMPLE.match(line)
            if match:
                sentences.append(match.group(1).strip("\"'"))
    step = max(1, len(sentences) // limit)
    return sentences[::step][:limit] + list(EDGE_CASES)


def _encoder(backend: str) -> Any:
    from bot.components import sentence_encoder

    path = sentence_encoder.resolve_model_path(None)
    return sentence_encoder.load_encoder(path, backend)  # type: ignore[arg-type]


def _embed(backend: str, texts: list[str]) -> np.ndarray:
    from bot.components import sentence_encoder

    return sentence_encoder.encode(_encoder(backend), texts, 64, 2000)


def parity(texts: list[str]) -> dict[str, dict[str, float]]:
    """Per candidate backend: min and mean cosine to torch's embedding of the same text."""
    reference = _embed(REFERENCE, texts)
    report = {}
    for backend in CANDIDATES:
        cosines = (_embed(backend, texts) * reference).sum(axis=1)
        worst = int(np.argmin(cosines))
        report[backend] = {
            "n": len(texts),
            "cosine_min": float(cosines.min()),
            "cosine_mean": float(cosines.mean()),
            "below_0.99": int((cosines < 0.99).sum()),
            "worst_text": texts[worst][:60],
        }
    return report


def _rss_mb() -> float:
    for line in Path("/proc/self/status").read_text().splitlines():
        if line.startswith("VmRSS:"):
            return int(line.split()[1]) / 1024
    return float("nan")


def measure_one(backend: str, texts: list[str]) -> dict[str, Any]:
    """Runs in a child: load, warm up, then encode each text alone (as a served message is)."""
    started = time.perf_counter()
    encoder = _encoder(backend)
    load_s = time.perf_counter() - started
    from bot.components import sentence_encoder

    sentence_encoder.encode(encoder, texts[:8], 64, 2000)
    timings = []
    for text in texts:
        begin = time.perf_counter()
        sentence_encoder.encode(encoder, [text], 1, 2000)
        timings.append((time.perf_counter() - begin) * 1000)
    return {
        "backend": backend,
        "load_s": load_s,
        "p50_ms": percentile(timings, 0.50),
        "p95_ms": percentile(timings, 0.95),
        "mean_ms": float(np.mean(timings)),
        "rss_mb": _rss_mb(),
        "torch_imported": "torch" in sys.modules,
    }


def speed(rounds: int) -> list[dict[str, Any]]:
    env = {**os.environ, "ATTUNE_ENCODER_THREADS": "1", "OMP_NUM_THREADS": "1"}
    results = []
    for backend in (REFERENCE, *CANDIDATES):
        command = [sys.executable, "-m", "bench.encoder", "_measure", backend, "--rounds", str(rounds)]
        done = subprocess.run(command, env=env, capture_output=True, text=True, check=True, cwd=ROOT)
        results.append(json.loads(done.stdout.strip().splitlines()[-1]))
    return results


def config_with_backend(backend: str, source: Path, out: Path) -> Path:
    """The shipped config.yml with the featurizer's backend set (everything else unchanged)."""
    import yaml

    config = yaml.safe_load(source.read_text())
    for component in config["pipeline"]:
        if component.get("name") == FEATURIZER:
            component["backend"] = backend
    out.write_text(yaml.safe_dump(config, sort_keys=False))
    return out


def accuracy(data: Path, backends: list[str], limit_test: int) -> dict[str, Any]:
    from bench import nlu

    args = argparse.Namespace(data=data, train=None, test=None, limit_test=limit_test)
    train, test = nlu.load_split(args)
    os.environ["RASA_MAX_CACHE_SIZE"] = "0"
    results = {}
    for backend in backends:
        with tempfile.TemporaryDirectory(prefix=f"bench-encoder-{backend}-") as work:
            config = config_with_backend(backend, ROOT / "config.yml", Path(work) / "config.yml")
            result = nlu.run_pipeline(f"attune-{backend}", config, train, test, Path(work))
        results[backend] = {"accuracy": result.accuracy, "macro_f1": result.macro_f1, "n_test": result.n_test}
    if REFERENCE in results:
        for row in results.values():
            row["delta_points"] = 100 * (row["accuracy"] - results[REFERENCE]["accuracy"])
    return {"dataset": str(data), "n_train": len(train), "results": results}


def _write(name: str, report: Any) -> None:
    RESULTS.mkdir(parents=True, exist_ok=True)
    (RESULTS / f"encoder-{name}.json").write_text(json.dumps(report, indent=2))


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m bench.encoder", description=__doc__.splitlines()[0])
    commands = parser.add_subparsers(dest="command", required=True)
    commands.add_parser("parity", help="cosine to torch on the project's sentences")
    speed_parser = commands.add_parser("speed", help="p50/p95 per sentence and RSS, one thread")
    speed_parser.add_argument("--rounds", type=int, default=1, help="passes over the sample")
    measure = commands.add_parser("_measure", help=argparse.SUPPRESS)
    measure.add_argument("backend")
    measure.add_argument("--rounds", type=int, default=1)
    acc = commands.add_parser("accuracy", help="intent accuracy per backend (trains the NLU pipeline)")
    acc.add_argument("--data", type=Path, required=True, help="intents JSONL with split train/test")
    acc.add_argument("--backends", default=",".join((REFERENCE, *CANDIDATES)))
    acc.add_argument("--limit-test", type=int, default=0)
    args = parser.parse_args(argv)
    os.environ.update({"HF_HUB_OFFLINE": "1", "TRANSFORMERS_OFFLINE": "1", "TF_CPP_MIN_LOG_LEVEL": "2"})
    texts = project_sentences()
    if args.command == "_measure":
        print(json.dumps(measure_one(args.backend, texts * args.rounds)))
        return 0
    if args.command == "parity":
        report: Any = parity(texts)
        for backend, row in report.items():
            print(
                f"{backend:10s} n={row['n']} cosine min {row['cosine_min']:.4f} mean {row['cosine_mean']:.4f}"
                f" below 0.99: {row['below_0.99']} (worst: {row['worst_text']!r})"
            )
    elif args.command == "speed":
        report = speed(args.rounds)
        for row in report:
            print(
                f"{row['backend']:10s} p50 {row['p50_ms']:.2f} ms  p95 {row['p95_ms']:.2f} ms  "
                f"RSS {row['rss_mb']:.0f} MB  load {row['load_s']:.1f} s  "
                f"torch imported: {row['torch_imported']}"
            )
    else:
        report = accuracy(args.data, args.backends.split(","), args.limit_test)
        for backend, row in report["results"].items():
            delta = row.get("delta_points")
            print(
                f"{backend:10s} accuracy {row['accuracy']:.2%}  macro-F1 {row['macro_f1']:.4f}"
                + ("" if delta is None else f"  vs torch {delta:+.2f} points")
            )
    _write(args.command, report)
    return 0


if __name__ == "__main__":
    sys.exit(main())
