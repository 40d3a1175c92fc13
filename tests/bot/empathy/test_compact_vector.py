"""The message vector packed for the tracker (issue 18): small, faithful to cosine, hostile-input safe."""

import base64
import math

import numpy as np
import numpy.typing as npt
import pytest

from bot.empathy.compact_vector import SKETCH_BITS, SKETCH_CHARS, pack, similarity, sketch, unpack


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


# --- the similarity sketch the empathy state keeps (issue 18: 88 characters instead of 512) ---------


Vector = npt.NDArray[np.float64]


def pair_at(cosine_wanted: float, rng: np.random.Generator) -> tuple[Vector, Vector]:
    """Two unit vectors in 384 dimensions whose cosine is ``cosine_wanted``."""
    a = rng.normal(size=384)
    a /= np.linalg.norm(a)
    other = rng.normal(size=384)
    other -= (other @ a) * a
    other /= np.linalg.norm(other)
    return a, cosine_wanted * a + math.sqrt(1 - cosine_wanted**2) * other


def test_a_sketch_is_88_characters_and_depends_on_the_direction_only() -> None:
    vector = np.random.default_rng(5).normal(size=384)

    made = sketch(vector)

    assert made is not None and len(made) == SKETCH_CHARS == 88
    assert sketch(3.5 * vector) == made
    assert similarity(made, made) == 1.0
    assert similarity(made, sketch(-vector)) == pytest.approx(-1.0)


def test_the_hyperplanes_are_the_same_in_every_process_and_numpy_version() -> None:
    # A sketch written by one action server is compared by another: pinned, so a change of the
    # projection (which would make every stored sketch meaningless) fails here first.
    assert sketch([1.0, 2.0, -3.0]) == (
        "AAOdnS2wYncTJXzzS5w2yXbzTyD89SPhQ3slNWzms+TkAVBY9ePo9RAg8AzDwYqavVEn8rjByw9+knsT5A4YODyE"
    )


@pytest.mark.parametrize("wanted", [0.3, 0.55, 0.7, 0.85, 0.95])
def test_the_estimated_cosine_is_close_to_the_exact_one_across_the_rephrase_ramp(wanted: float) -> None:
    rng = np.random.default_rng(int(wanted * 100))
    errors = []
    for _ in range(60):
        a, b = pair_at(wanted, rng)
        estimate = similarity(sketch(a), sketch(b))
        assert estimate is not None
        errors.append(estimate - wanted)

    # Each bit differs with probability p = angle/pi: the angle's standard error is
    # pi * sqrt(p(1-p)/512), the cosine's sin(angle) times that (0.065 at 0.3, 0.03 at 0.85).
    angle = math.acos(wanted)
    p = angle / math.pi
    sigma = math.sin(angle) * math.pi * math.sqrt(p * (1 - p) / SKETCH_BITS)
    assert abs(float(np.mean(errors))) < 0.5 * sigma  # unbiased
    assert float(np.mean(np.abs(errors))) < 1.1 * sigma  # 0.8 sigma expected
    assert max(abs(e) for e in errors) < 4 * sigma


def test_sketches_of_vectors_of_different_dimensions_do_not_compare() -> None:
    assert similarity(sketch([0.3] * 384), sketch([0.3] * 768)) is None


@pytest.mark.parametrize("vector", [[], [0.0] * 384, [math.nan, 1.0], [math.inf], [1.0] * 5000])
def test_no_sketch_of_a_vector_that_says_nothing(vector: list[float]) -> None:
    assert sketch(vector) is None


@pytest.mark.parametrize(
    "text",
    [
        None,
        7,
        "",
        "A" * 87,
        "A" * 88,  # dimension 0
        "!" * 88,
        "é" * 88,
        base64.b64encode(b"\x01\x80" + b"\x00" * 63).decode() + "A",
        base64.b64encode(b"\x20\x00" + b"\x00" * 64).decode(),  # dimension 8192: too many
        "A" * 20_000,
    ],
)
def test_anything_but_a_sketch_compares_as_nothing(text: object) -> None:
    real = sketch([0.1] * 384)

    assert similarity(text, real) is None
    assert similarity(real, text) is None
