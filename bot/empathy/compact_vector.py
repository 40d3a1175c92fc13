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
import functools
import hashlib
import math
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


# --- a similarity sketch: what the empathy state keeps between two messages ---------------------------
#
# The rephrase signal needs only the cosine of this message's vector with the previous one's, so the
# state keeps a 512-bit SimHash instead of the vector (88 characters instead of 512).  Each bit is the
# side of one random hyperplane a vector falls on; two vectors at angle t fall on different sides
# of a random hyperplane with probability t/pi, so cos(pi * differing bits / bits) estimates their
# cosine (Charikar 2002), within about 0.03 near the rephrase thresholds (0.55-0.85) for 512 bits.

SKETCH_BITS: Final = 512
# The hyperplanes: Gaussian, from SHAKE-256 (Box-Muller), so every process and every
# NumPy version draws the same ones; changing this label makes earlier sketches incomparable.
_PLANES_LABEL: Final = b"attune-simhash-v1"
# A sketch is 2 bytes of the vector's dimension (sketches of different encoders never compare),
# then the bits: 66 bytes, 88 characters of base64 with no padding.
_HEADER: Final = 2
SKETCH_CHARS: Final = 4 * ((_HEADER + SKETCH_BITS // 8 + 2) // 3)


@functools.lru_cache(maxsize=2)
def _planes(dimensions: int) -> npt.NDArray[np.float64]:
    """``SKETCH_BITS`` Gaussian hyperplanes in ``dimensions`` dimensions (a constant, built on first use)."""
    count = SKETCH_BITS * dimensions
    stream = hashlib.shake_256(_PLANES_LABEL + dimensions.to_bytes(2, "big")).digest(8 * count)
    words = np.frombuffer(stream, dtype=">u4").astype(np.float64)  # two per Gaussian value
    uniform_1 = (words[0::2] + 1.0) / 2.0**32  # in (0, 1]: log stays finite
    uniform_2 = words[1::2] / 2.0**32
    gaussian: npt.NDArray[np.float64] = np.sqrt(-2.0 * np.log(uniform_1)) * np.cos(2.0 * np.pi * uniform_2)
    return gaussian.reshape(SKETCH_BITS, dimensions)


def sketch(vector: Sequence[float] | npt.NDArray[np.float32] | npt.NDArray[np.float64]) -> str | None:
    """``vector``'s SimHash in base64 (``SKETCH_CHARS``); None for an empty, all-zero or non-finite vector."""
    values = np.asarray(vector, dtype=np.float64).ravel()
    if values.size == 0 or values.size > MAX_DIMENSIONS or not np.all(np.isfinite(values)):
        return None
    if not np.any(values):
        return None
    bits = np.packbits(_planes(values.size) @ values >= 0.0)
    return base64.b64encode(values.size.to_bytes(_HEADER, "big") + bits.tobytes()).decode("ascii")


def _sketch_bytes(text: object) -> bytes | None:
    if not isinstance(text, str) or len(text) != SKETCH_CHARS:
        return None
    try:
        raw = base64.b64decode(text.encode("ascii"), validate=True)
    except (binascii.Error, UnicodeEncodeError, ValueError):
        return None
    dimensions = int.from_bytes(raw[:_HEADER], "big")
    if len(raw) != _HEADER + SKETCH_BITS // 8 or not 0 < dimensions <= MAX_DIMENSIONS:
        return None
    return raw


def similarity(a: object, b: object) -> float | None:
    """The cosine of the vectors two sketches were made from, estimated; None unless both are
    sketches of vectors of one dimension.
    """
    first, second = _sketch_bytes(a), _sketch_bytes(b)
    if first is None or second is None or first[:_HEADER] != second[:_HEADER]:
        return None
    differing = int(np.unpackbits(np.frombuffer(first, np.uint8) ^ np.frombuffer(second, np.uint8)).sum())
    return math.cos(math.pi * differing / SKETCH_BITS)
