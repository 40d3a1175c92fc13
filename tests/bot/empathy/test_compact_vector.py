"""The message vector packed for the tracker (issue 18): small, faithful to cosine, hostile-input safe."""

import base64
import math

import numpy as np
import pytest

from bot.empathy.compact_vector import pack, unpack


def cosine(a: list[float], b: list[float]) -> float:
    return float(np.dot(a, b) / (np.linalg.norm(a) * np.linalg.norm(b)))


def test_a_minilm_sized_vector_packs_into_512_characters_and_keeps_its_cosines() -> None:
    rng = np.random.default_rng(18)
    base = rng.normal(size=384)
    vectors = [base + rng.normal(scale=s, size=384) for s in (0.0, 0.3, 0.7, 1.5, 4.0)]
    vectors = [v / np.linalg.norm(v) for v in vectors]

    packed = [pack(v) for v in vectors]

    assert all(p is not None and len(p) == 512 for p in packed)
    restored = [unpack(p) for p in packed]
    for i, a in enumerate(vectors):
        for j, b in enumerate(vectors):
            ra, rb = restored[i], restored[j]
            assert ra is not None and rb is not None
            assert cosine(ra, rb) == pytest.approx(cosine(list(a), list(b)), abs=3e-3)


def test_the_largest_component_sets_the_scale() -> None:
    restored = unpack(pack([0.5, -0.25, 0.0]))

    assert restored == pytest.approx([1.0, -0.5, 0.0], abs=1 / 127)


@pytest.mark.parametrize("vector", [[], [0.0, 0.0], [math.nan, 1.0], [math.inf], [1.0] * 5000])
def test_nothing_is_packed_from_a_vector_that_says_nothing(vector: list[float]) -> None:
    assert pack(vector) is None


@pytest.mark.parametrize(
    "text",
    [None, 7, "", "not base64!", "é", "A" * 20_000, ["AAAA"], base64.b64encode(b"").decode()],
)
def test_anything_but_a_packed_vector_unpacks_to_none(text: object) -> None:
    assert unpack(text) is None
