"""`attune eval bias`: false positives/negatives per writing style, from the shipped engine."""

import json
from pathlib import Path
from typing import Any

import pytest

from bot.cli import main
from bot.evaluation.bias import (
    BASELINE,
    DEFAULT_VARIANTS,
    Label,
    ScoredVariant,
    Variant,
    format_table,
    load_variants,
    summarise,
)
from bot.evaluation.engine import load_policy
from bot.evaluation.evaluate import EvalInputError

STYLES = ("standard", "capitals", "emoji", "non_native", "dialect", "british_slang", "terse")


def scored(base: str, label: Label, style: str, frustration: float, tone: str = "neutral") -> ScoredVariant:
    return ScoredVariant(Variant(base, label, style, f"{base} in {style}"), frustration, 0.0, tone, {})


def test_rates_gaps_and_the_largest_gap() -> None:
    rows = [
        # standard: 1 of 4 calm over 0.25 (FP 25%), no frustrated under it (FN 0%)
        scored("c1", "calm", "standard", 0.10),
        scored("c2", "calm", "standard", 0.20),
        scored("c3", "calm", "standard", 0.25, "warm"),  # exactly at the threshold counts as frustrated
        scored("c4", "calm", "standard", 0.05),
        scored("f1", "frustrated", "standard", 0.60, "apologetic"),
        scored("f2", "frustrated", "standard", 0.26, "warm"),
        # capitals: 3 of 4 calm over (FP 75%, +50 points), no frustrated missed (FN 0%)
        scored("c1", "calm", "capitals", 0.40, "warm"),
        scored("c2", "calm", "capitals", 0.30, "warm"),
        scored("c3", "calm", "capitals", 0.50, "apologetic"),
        scored("c4", "calm", "capitals", 0.10),
        scored("f1", "frustrated", "capitals", 0.80, "calm_direct"),
        scored("f2", "frustrated", "capitals", 0.30, "warm"),
        # terse: 2 of 4 calm over (FP 50%, +25 points), both frustrated missed (FN 100%, +100 points)
        scored("c1", "calm", "terse", 0.26, "warm"),
        scored("c2", "calm", "terse", 0.30, "warm"),
        scored("c3", "calm", "terse", 0.00),
        scored("c4", "calm", "terse", 0.04),
        scored("f1", "frustrated", "terse", 0.10),
        scored("f2", "frustrated", "terse", 0.20),
    ]

    report = summarise(rows, ("standard", "capitals", "terse"), threshold=0.25)

    standard, capitals, terse = (report["styles"][s] for s in ("standard", "capitals", "terse"))
    assert (standard["false_positives"], standard["fp_rate"], standard["fn_rate"]) == (1, 0.25, 0.0)
    assert standard["fp_gap"] == 0.0
    assert standard["mean_frustration_calm"] == pytest.approx(0.15)
    assert standard["tones_calm"] == {"neutral": 3, "warm": 1}
    assert (capitals["fp_rate"], capitals["fn_rate"]) == (0.75, 0.0)
    assert capitals["fp_gap"] == pytest.approx(0.5)
    assert capitals["fn_gap"] == 0.0
    assert capitals["mean_frustration_frustrated"] == pytest.approx(0.55)
    assert terse["fp_gap"] == pytest.approx(0.25)
    assert terse["fn_rate"] == 1.0
    assert report["largest_fp_gap"] == {"style": "capitals", "gap": pytest.approx(0.5)}
    assert report["largest_fp_excess"] == {"style": "capitals", "gap": pytest.approx(0.5)}
    assert report["largest_fn_gap"] == {"style": "terse", "gap": 1.0}
    assert report["meets_fp_goal"] is False
    assert (report["n_bases"], report["n_messages"]) == (6, 18)
    assert len(report["false_positives"]) == 1 + 3 + 2
    assert len(report["false_negatives"]) == 0 + 0 + 2
    assert "capitals +50.0 points" in format_table({"file": "x", **report})


def test_a_gap_of_exactly_five_points_meets_the_goal() -> None:
    rows = [scored(f"c{i}", "calm", "standard", 0.3 if i < 5 else 0.1) for i in range(20)]
    rows += [scored(f"c{i}", "calm", "emoji", 0.3 if i < 6 else 0.1) for i in range(20)]

    report = summarise(rows, ("standard", "emoji"), threshold=0.25)

    assert report["styles"]["emoji"]["fp_gap"] == pytest.approx(0.05)
    assert report["meets_fp_goal"] is True


def test_a_style_read_as_frustrated_less_often_is_a_gap_but_not_an_excess() -> None:
    rows = [scored(f"c{i}", "calm", "standard", 0.3 if i < 4 else 0.1) for i in range(20)]
    rows += [scored(f"c{i}", "calm", "dialect", 0.3 if i < 1 else 0.1) for i in range(20)]
    rows += [scored(f"c{i}", "calm", "capitals", 0.3 if i < 5 else 0.1) for i in range(20)]

    report = summarise(rows, ("standard", "dialect", "capitals"), threshold=0.25)

    assert report["largest_fp_gap"] == {"style": "dialect", "gap": pytest.approx(-0.15)}
    assert report["meets_fp_goal"] is False  # "within 5 points" read literally, both ways
    assert report["largest_fp_excess"] == {"style": "capitals", "gap": pytest.approx(0.05)}


def test_styles_without_calm_messages_have_no_rate_rather_than_zero() -> None:
    report = summarise([scored("f1", "frustrated", "standard", 0.9)], ("standard", "terse"), 0.25)

    assert report["styles"]["standard"]["fp_rate"] is None
    assert report["styles"]["terse"]["fn_rate"] is None
    assert report["largest_fp_gap"] is None


def write_variants(
    path: Path, messages: list[dict[str, Any]], styles: tuple[str, ...] = ("standard", "capitals")
) -> Path:
    import yaml

    path.write_text(yaml.safe_dump({"version": "1", "styles": list(styles), "messages": messages}))
    return path


def test_the_cli_scores_a_tiny_file_and_writes_json_and_html(tmp_path: Path) -> None:
    source = write_variants(
        tmp_path / "v.yml",
        [
            {
                "id": "thanks",
                "label": "calm",
                "variants": {
                    "standard": "Thanks for your help earlier, everything arrived fine.",
                    "capitals": "THANKS FOR YOUR HELP EARLIER, EVERYTHING ARRIVED FINE.",
                },
            },
            {
                "id": "refund",
                "label": "frustrated",
                "variants": {
                    "standard": "Third time asking for my refund. This is useless, I'm furious!!!",
                    "capitals": "THIRD TIME ASKING FOR MY REFUND. THIS IS USELESS, I'M FURIOUS!!!",
                },
            },
        ],
    )
    out = tmp_path / "bias.json"

    assert main(["eval", "bias", str(source), "--json", str(out)]) == 0

    result = json.loads(out.read_text())
    assert set(result["styles"]) == {"standard", "capitals"}
    assert result["n_messages"] == 4
    threshold = load_policy().frustration_threshold  # policy/empathy.yml, never tuned by the report
    assert result["threshold"] == threshold
    for row in result["styles"].values():
        assert (row["n_calm"], row["n_frustrated"]) == (1, 1)
        assert row["fp_rate"] in (0.0, 1.0)
    by_text = {m["text"]: m for m in result["messages"]}
    angry = by_text["Third time asking for my refund. This is useless, I'm furious!!!"]
    assert angry["frustration"] >= threshold
    assert angry["tone"] != "neutral"
    assert set(by_text["THANKS FOR YOUR HELP EARLIER, EVERYTHING ARRIVED FINE."]) >= {"tone", "signals"}
    assert "<table>" in out.with_suffix(".html").read_text()


@pytest.mark.parametrize(
    ("messages", "complaint"),
    [
        ([{"id": "a", "label": "calm", "variants": {"standard": "hi"}}], "styles missing ['capitals']"),
        (
            [{"id": "a", "label": "angry", "variants": {"standard": "hi", "capitals": "HI"}}],
            "'label' must be one of",
        ),
        (
            [{"id": "a", "label": "calm", "variants": {"standard": "hi\x00", "capitals": "HI"}}],
            "control characters",
        ),
        (
            [
                {"id": "a", "label": "calm", "variants": {"standard": "hi", "capitals": "HI"}},
                {"id": "a", "label": "calm", "variants": {"standard": "yo", "capitals": "YO"}},
            ],
            "appears twice",
        ),
    ],
)
def test_a_malformed_file_is_refused_with_exit_2_and_names_the_problem(
    tmp_path: Path, capsys: pytest.CaptureFixture[str], messages: list[dict[str, Any]], complaint: str
) -> None:
    source = write_variants(tmp_path / "bad.yml", messages)

    assert main(["eval", "bias", str(source)]) == 2
    assert complaint in capsys.readouterr().err


def test_a_file_that_is_not_yaml_is_refused(tmp_path: Path) -> None:
    source = tmp_path / "bad.yml"
    source.write_text("styles: [standard\n")

    with pytest.raises(EvalInputError, match="not YAML"):
        load_variants(source)


def test_bias_takes_at_most_one_file(tmp_path: Path) -> None:
    with pytest.raises(SystemExit) as exit_:
        main(["eval", "bias", str(DEFAULT_VARIANTS), str(DEFAULT_VARIANTS)])
    assert exit_.value.code == 2


def test_the_other_kinds_still_need_a_file() -> None:
    with pytest.raises(SystemExit) as exit_:
        main(["eval", "dialogues"])
    assert exit_.value.code == 2


def test_the_shipped_file_has_every_style_for_every_base() -> None:
    variants = load_variants(DEFAULT_VARIANTS)  # refuses a base missing a style

    assert variants.styles == STYLES
    bases: dict[str, set[str]] = {}
    labels: dict[str, set[str]] = {}
    for v in variants.variants:
        bases.setdefault(v.base, set()).add(v.style)
        labels.setdefault(v.label, set()).add(v.base)
    assert all(styles == set(STYLES) for styles in bases.values())
    assert len(labels["calm"]) >= 20 and len(labels["frustrated"]) >= 20
    by_key = {(v.base, v.style): v.text for v in variants.variants}
    for base in bases:
        # Capitals is the standard text typed in capitals, nothing else changed.
        assert by_key[(base, "capitals")] == by_key[(base, BASELINE)].upper()
        assert len({by_key[(base, s)] for s in STYLES}) == len(STYLES), f"{base}: a style repeats another"


def test_nothing_under_data_is_a_copy_of_the_evaluation_set() -> None:
    root = DEFAULT_VARIANTS.parents[2]
    training = "\n".join(p.read_text(encoding="utf-8").lower() for p in (root / "data").rglob("*.yml"))
    texts = {v.text.lower() for v in load_variants(DEFAULT_VARIANTS).variants if len(v.text) > 25}

    assert [t for t in texts if t in training] == []
