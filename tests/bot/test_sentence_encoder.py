"""The MiniLM encoder: ONNX parity with torch, hostile texts, the export cache and its lock."""

import json
import subprocess
import sys
import threading
from pathlib import Path

import numpy as np
import pytest
import yaml

from bench.encoder import FEATURIZER, project_sentences
from bot.components import onnx_export, sentence_encoder

ROOT = Path(__file__).resolve().parents[2]


@pytest.fixture(scope="module")
def model_dir() -> Path:
    return sentence_encoder.resolve_model_path(None)


def test_onnx_matches_torch_on_the_projects_own_sentences(model_dir: Path) -> None:
    texts = project_sentences(limit=100)  # `make bench-encoder` checks all of them
    onnx = sentence_encoder.encode(sentence_encoder.load_encoder(model_dir, "onnx"), texts, 64, 2000)
    torch = sentence_encoder.encode(sentence_encoder.load_encoder(model_dir, "torch"), texts, 64, 2000)

    cosines = (onnx * torch).sum(axis=1)

    assert onnx.shape == torch.shape == (len(texts), 384)
    assert cosines.min() >= 0.99, texts[int(np.argmin(cosines))]


def test_the_shipped_config_serves_minilm_through_onnx() -> None:
    config = yaml.safe_load((ROOT / "config.yml").read_text())
    (featurizer,) = [c for c in config["pipeline"] if c["name"] == FEATURIZER]
    assert featurizer.get("backend", sentence_encoder.DEFAULT_BACKEND) == "onnx"
    assert sentence_encoder.DEFAULT_BACKEND == "onnx"  # the emotion component's quoted-speech pass


@pytest.mark.parametrize("backend", ["onnx", "torch"])
def test_hostile_texts_give_unit_vectors(model_dir: Path, backend: sentence_encoder.Backend) -> None:
    # A lone surrogate (JSON "\ud800" decodes to one) made the tokenizer raise TypeError.
    texts = ["broken \ud800 text", "", "\x00\x1b[31m", "🙃" * 5000, "a " * 50_000]
    encoder = sentence_encoder.load_encoder(model_dir, backend)

    vectors = sentence_encoder.encode(encoder, texts, 2, 2000)

    assert vectors.shape == (len(texts), 384)
    assert np.isfinite(vectors).all()
    np.testing.assert_allclose(np.linalg.norm(vectors, axis=1), 1.0, atol=1e-4)


def test_a_batch_gives_the_same_vectors_as_one_text_at_a_time(model_dir: Path) -> None:
    texts = ["hi", "where is my order 10002, it was due last week", "ok thanks"]
    encoder = sentence_encoder.load_encoder(model_dir, "onnx")

    batched = sentence_encoder.encode(encoder, texts, 64, 2000)
    alone = np.vstack([sentence_encoder.encode(encoder, [t], 1, 2000) for t in texts])

    np.testing.assert_allclose(batched, alone, atol=1e-5)  # padding is masked out of the mean


def test_an_unknown_backend_is_refused(model_dir: Path) -> None:
    with pytest.raises(sentence_encoder.EncoderUnavailableError, match="backend must be one of"):
        sentence_encoder.load_encoder(model_dir, "tensorflow")  # type: ignore[arg-type]


def test_serving_through_onnx_never_imports_torch(model_dir: Path) -> None:
    script = (
        "import sys; from bot.components import sentence_encoder as s;"
        "e = s.load_encoder(s.resolve_model_path(None), 'onnx');"
        "v = s.encode(e, ['where is my parcel'], 1, 2000);"
        "print(v.shape[1], 'torch' in sys.modules)"
    )
    done = subprocess.run(
        [sys.executable, "-c", script], capture_output=True, text=True, cwd=ROOT, check=True
    )
    assert done.stdout.split() == ["384", "False"]


def _fake_model(directory: Path, weights: bytes) -> Path:
    directory.mkdir()
    (directory / "modules.json").write_text("[]")
    (directory / "config.json").write_text(json.dumps({"model_type": "bert"}))
    (directory / "model.safetensors").write_bytes(weights)
    return directory


def test_the_cache_key_follows_the_weights_and_the_exporter(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    a = _fake_model(tmp_path / "a", b"weights one")
    b = _fake_model(tmp_path / "b", b"weights two")
    key_a = onnx_export.weights_key(a)

    assert key_a == onnx_export.weights_key(a)
    assert key_a != onnx_export.weights_key(b)
    monkeypatch.setattr(onnx_export, "EXPORTER_VERSION", onnx_export.EXPORTER_VERSION + 1)
    assert onnx_export.weights_key(a) != key_a


def test_concurrent_first_uses_export_once(tmp_path: Path) -> None:
    model = _fake_model(tmp_path / "model", b"weights")
    cache = tmp_path / "cache"
    calls: list[str] = []
    release = threading.Event()

    def slow_exporter(model_dir: Path, out: Path, variant: onnx_export.Variant) -> None:
        calls.append(variant)
        release.wait(5)
        out.write_bytes(b"graph")

    results: list[Path] = []
    workers = [
        threading.Thread(
            target=lambda: results.append(onnx_export.ensure_exported(model, "onnx", cache, slow_exporter))
        )
        for _ in range(4)
    ]
    for worker in workers:
        worker.start()
    release.set()
    for worker in workers:
        worker.join(10)

    assert calls == ["onnx"]
    assert len(set(results)) == 1 and results[0].read_bytes() == b"graph"
    assert sorted(p.name for p in cache.iterdir()) == [".export.lock", results[0].name]


def test_a_failed_export_leaves_no_file_behind(tmp_path: Path) -> None:
    model = _fake_model(tmp_path / "model", b"weights")
    cache = tmp_path / "cache"

    def broken_exporter(model_dir: Path, out: Path, variant: onnx_export.Variant) -> None:
        out.write_bytes(b"half a gra")
        raise RuntimeError("disk full")

    with pytest.raises(RuntimeError, match="disk full"):
        onnx_export.ensure_exported(model, "onnx-int8", cache, broken_exporter)

    assert [p.name for p in cache.iterdir()] == [".export.lock"]


def test_an_export_that_fails_is_reported_not_raised_raw(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    model = _fake_model(tmp_path / "model", b"not safetensors")
    (tmp_path / "a-file").write_text("")
    # The child process cannot even create its cache directory (cheaper than failing inside torch).
    monkeypatch.setenv(onnx_export.CACHE_ENV, str(tmp_path / "a-file" / "cache"))

    with pytest.raises(sentence_encoder.EncoderUnavailableError, match="backend 'onnx'"):
        sentence_encoder.load_encoder(model, "onnx")
