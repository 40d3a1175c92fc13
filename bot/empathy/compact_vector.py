"""A message embedding as a short string: int8-quantised, base64 (issue 18, the tracker diet).

The rephrase signal compares a message with the one before it (bot/empathy/signals.py).  The
384 floats of a MiniLM vector written as JSON were ~2.3 KB in every stored user event; as int8 in
base64 they are 512 characters, and only the latest message's vector is kept (in the empathy
state slot, actions/empathy_tracking.py), never in the stored parse data.

Each vector is scaled by its own largest component before rounding: cosine similarity does not
depend on scale, so no scale needs storing, and the rounding error of a unit-length MiniLM vector
moves the cosine by about 1e-3 (tests/bot/empathy/test_compact_vector.py).
"""

import base64
import binascii
from collections.abc import Sequence
from typing import Final

import numpy as np
import numpy.typing as npt

LEVELS: Final = 127
# Longer than any sentence encoder the pipeline may use (MiniLM: 384): a bigger string is not ours.
MAX_DIMENSIONS: Final = 4096


def pack(vector: Sequence[float] | npt.NDArray[np.float32] | npt.NDArray[np.float64]) -> str | None:
    """``vector`` as int8 in base64; None for an empty, all-zero or non-finite vector."""
    values = np.asarray(vector, dtype=np.float64).ravel()
    if values.size == 0 or values.size > MAX_DIMENSIONS or not np.all(np.isfinite(values)):
        return None
    largest = float(np.max(np.abs(values)))
    if largest == 0.0:
        return None
    quantised = np.clip(np.rint(values / largest * LEVELS), -LEVELS, LEVELS).astype(np.int8)
    return base64.b64encode(quantised.tobytes()).decode("ascii")


def unpack(text: object) -> list[float] | None:
    """The vector ``pack`` wrote (scaled to a largest component of 1); None for anything else."""
    if not isinstance(text, str) or not text or len(text) > 4 * MAX_DIMENSIONS:
        return None
    try:
        raw = base64.b64decode(text.encode("ascii"), validate=True)
    except (binascii.Error, UnicodeEncodeError, ValueError):
        return None
    if not raw:
        return None
    values = np.frombuffer(raw, dtype=np.int8).astype(np.float64) / LEVELS
    return [float(v) for v in values]
