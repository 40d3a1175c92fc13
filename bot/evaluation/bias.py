"""`attune eval bias [FILE]`: is a calm message read as frustrated more often in one writing style?

The file (bench/data/style_variants.yml) holds base messages, each labelled calm or frustrated and
written in several styles (standard, capitals, emoji, non-native phrasing, a dialect, British
slang, terse) with the same meaning.  Every variant is scored by the shipped engine as the first
turn of a fresh conversation, exactly as the action server scores a new customer's first message
(minus the intent, which a transcript does not have).  Per style the report gives:

- false-positive rate: calm variants scored at or above the frustration threshold
  (policy/empathy.yml ``frustration.threshold``, the one the bot ships; never tuned here);
- false-negative rate: frustrated variants scored below it;
- mean frustration of the calm and of the frustrated variants;
- the gap of each rate to the ``standard`` style, in rate units (0.05 = 5 points), and which
  style has the largest false-positive gap (issue 17's goal: within 5 points in every style);
- the tone the bot would take on each variant (bot/empathy/tone.py, first turn).
"""

import html
import math
from collections import Counter
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Final, Literal, cast

import yaml

from bot.empathy.tone import TONES, choose_tone
from bot.evaluation.engine import ROOT, EmpathyEngine, Turn
from bot.evaluation.evaluate import EvalInputError

Label = Literal["calm", "frustrated"]
CALM: Final = "calm"
FRUSTRATED: Final = "frustrated"
LABELS: Final[tuple[Label, ...]] = (CALM, FRUSTRATED)
BASELINE: Final = "standard"
# Issue 17: false positives on calm messages within 5 points of standard English in every style.
GOAL_FP_GAP: Final = 0.05
DEFAULT_VARIANTS: Final = ROOT / "bench" / "data" / "style_variants.yml"
MAX_FILE_BYTES: Final = 2_000_000
MAX_TEXT_CHARS: Final = 2_000
TOP_SIGNALS: Final = 3


@dataclass(frozen=True)
class Variant:
    base: str
    label: Label
    style: str
    text: str


@dataclass(frozen=True)
class VariantSet:
    source: str
    styles: tuple[str, ...]
    variants: tuple[Variant, ...]


@dataclass(frozen=True)
class ScoredVariant:
    variant: Variant
    frustration: float
    distress: float
    tone: str
    # The largest positive contributions to frustration: signal name -> weight * value.
    signals: Mapping[str, float]

    def to_dict(self) -> dict[str, Any]:
        return {
            "base": self.variant.base,
            "label": self.variant.label,
            "style": self.variant.style,
            "text": self.variant.text,
            "frustration": round(self.frustration, 3),
            "distress": round(self.distress, 3),
            "tone": self.tone,
            "signals": dict(self.signals),
        }


# --- reading the file ---------------------------------------------------------------------------


def _text(value: Any, where: str) -> str:
    if not isinstance(value, str) or not value.strip():
        raise EvalInputError(f"{where}: expected a non-empty string")
    if len(value) > MAX_TEXT_CHARS:
        raise EvalInputError(f"{where}: longer than {MAX_TEXT_CHARS} characters")
    if any(ord(c) < 32 or 0x7F <= ord(c) < 0xA0 for c in value):
        raise EvalInputError(f"{where}: contains control characters")
    return value


def _styles(document: Mapping[str, Any], source: str) -> tuple[str, ...]:
    styles = document.get("styles")
    if not isinstance(styles, list) or not styles:
        raise EvalInputError(f"{source}: 'styles' must be a non-empty list of names")
    names = tuple(_text(s, f"{source}: styles") for s in styles)
    if len(set(names)) != len(names):
        raise EvalInputError(f"{source}: 'styles' lists a style twice")
    if BASELINE not in names:
        raise EvalInputError(f"{source}: 'styles' must include {BASELINE!r}, the baseline")
    return names


def _base(entry: Any, number: int, styles: tuple[str, ...], source: str) -> list[Variant]:
    where = f"{source}: messages[{number}]"
    if not isinstance(entry, Mapping):
        raise EvalInputError(f"{where}: expected a mapping with id, label and variants")
    base = _text(entry.get("id"), f"{where}.id")
    where = f"{source}: message {base!r}"
    label = entry.get("label")
    if label not in LABELS:
        raise EvalInputError(f"{where}: 'label' must be one of {list(LABELS)}, got {label!r}")
    variants = entry.get("variants")
    if not isinstance(variants, Mapping):
        raise EvalInputError(f"{where}: 'variants' must map each style to a message")
    unknown = sorted(str(k) for k in variants if k not in styles)
    missing = [s for s in styles if s not in variants]
    if unknown or missing:
        raise EvalInputError(f"{where}: styles missing {missing}, not declared {unknown}")
    return [
        Variant(base, cast(Label, label), style, _text(variants[style], f"{where}.variants.{style}"))
        for style in styles
    ]


def load_variants(path: Path) -> VariantSet:
    """The variants in ``path``; a malformed file raises EvalInputError naming the entry."""
    try:
        if path.stat().st_size > MAX_FILE_BYTES:
            raise EvalInputError(f"{path}: larger than {MAX_FILE_BYTES} bytes")
        document = yaml.safe_load(path.read_text(encoding="utf-8"))
    except OSError as error:
        raise EvalInputError(f"{path}: cannot read ({error.strerror})") from error
    except UnicodeDecodeError as error:
        raise EvalInputError(f"{path}: not UTF-8 ({error.reason})") from error
    except yaml.YAMLError as error:
        raise EvalInputError(f"{path}: not YAML ({error})") from error
    source = str(path)
    if not isinstance(document, Mapping) or str(document.get("version")) != "1":
        raise EvalInputError(f'{source}: expected a mapping with version "1", styles and messages')
    styles = _styles(document, source)
    messages = document.get("messages")
    if not isinstance(messages, list) or not messages:
        raise EvalInputError(f"{source}: 'messages' must be a non-empty list")
    variants: list[Variant] = []
    seen: set[str] = set()
    for number, entry in enumerate(messages):
        found = _base(entry, number, styles, source)
        if found[0].base in seen:
            raise EvalInputError(f"{source}: message id {found[0].base!r} appears twice")
        seen.add(found[0].base)
        variants.extend(found)
    return VariantSet(source, styles, tuple(variants))


# --- scoring ------------------------------------------------------------------------------------


def score_variants(variants: Sequence[Variant], engine: EmpathyEngine) -> list[ScoredVariant]:
    """Each variant as the first customer turn of its own conversation."""
    scored = []
    for variant in variants:
        (turn,) = engine.score_dialogue([Turn("user", variant.text)])
        frustration, distress = turn.score.frustration, turn.score.distress
        tone = choose_tone(frustration.value, distress.value, None, 0, engine.policy.tone)
        contributions = sorted(
            ((name, part["contribution"]) for name, part in frustration.contributions.items()),
            key=lambda item: -item[1],
        )
        signals = {name: value for name, value in contributions[:TOP_SIGNALS] if value > 0}
        scored.append(ScoredVariant(variant, frustration.value, distress.value, tone.tone, signals))
    return scored


# --- the report ---------------------------------------------------------------------------------


def _rate(count: int, total: int) -> float | None:
    return count / total if total else None


def _mean(values: Sequence[float]) -> float | None:
    return math.fsum(values) / len(values) if values else None


def _gap(value: float | None, baseline: float | None) -> float | None:
    return None if value is None or baseline is None else value - baseline


def _style_row(rows: Sequence[ScoredVariant], threshold: float) -> dict[str, Any]:
    calm = [r for r in rows if r.variant.label == CALM]
    frustrated = [r for r in rows if r.variant.label == FRUSTRATED]
    false_positives = sum(r.frustration >= threshold for r in calm)
    false_negatives = sum(r.frustration < threshold for r in frustrated)
    return {
        "n_calm": len(calm),
        "n_frustrated": len(frustrated),
        "false_positives": false_positives,
        "false_negatives": false_negatives,
        "fp_rate": _rate(false_positives, len(calm)),
        "fn_rate": _rate(false_negatives, len(frustrated)),
        "mean_frustration_calm": _mean([r.frustration for r in calm]),
        "mean_frustration_frustrated": _mean([r.frustration for r in frustrated]),
        "tones_calm": {t: n for t, n in Counter(r.tone for r in calm).items()},
        "tones_frustrated": {t: n for t, n in Counter(r.tone for r in frustrated).items()},
    }


def _largest(
    per_style: Mapping[str, Mapping[str, Any]], key: str, excess_only: bool = False
) -> dict[str, Any] | None:
    """The style furthest from the baseline (or, with ``excess_only``, furthest above it)."""
    gaps = [
        (style, row[key]) for style, row in per_style.items() if style != BASELINE and row[key] is not None
    ]
    if excess_only:
        gaps = [(style, gap) for style, gap in gaps if gap > 0]
    if not gaps:
        return None
    style, gap = max(gaps, key=lambda item: abs(item[1]))
    return {"style": style, "gap": gap}


def summarise(scored: Sequence[ScoredVariant], styles: Sequence[str], threshold: float) -> dict[str, Any]:
    """Per-style false-positive/negative rates, their gaps to ``standard``, and the largest gaps."""
    per_style = {
        style: _style_row([r for r in scored if r.variant.style == style], threshold) for style in styles
    }
    baseline = per_style[BASELINE]
    for row in per_style.values():
        row["fp_gap"] = _gap(row["fp_rate"], baseline["fp_rate"])
        row["fn_gap"] = _gap(row["fn_rate"], baseline["fn_rate"])
    largest_fp = _largest(per_style, "fp_gap")
    return {
        "threshold": threshold,
        "baseline": BASELINE,
        "n_bases": len({r.variant.base for r in scored}),
        "n_messages": len(scored),
        "styles": per_style,
        "largest_fp_gap": largest_fp,
        # Only styles read as frustrated MORE often than standard (the gap that costs their writers).
        "largest_fp_excess": _largest(per_style, "fp_gap", excess_only=True),
        "largest_fn_gap": _largest(per_style, "fn_gap"),
        "goal_fp_gap": GOAL_FP_GAP,
        # Compared with a small tolerance so 0.05 computed as 0.30 - 0.25 still counts as 5 points.
        "meets_fp_goal": largest_fp is None or abs(largest_fp["gap"]) <= GOAL_FP_GAP + 1e-9,
        "false_positives": [
            r.to_dict() for r in scored if r.variant.label == CALM and r.frustration >= threshold
        ],
        "false_negatives": [
            r.to_dict() for r in scored if r.variant.label == FRUSTRATED and r.frustration < threshold
        ],
        "messages": [r.to_dict() for r in scored],
    }


def evaluate_bias(variant_set: VariantSet, engine: EmpathyEngine) -> dict[str, Any]:
    scored = score_variants(variant_set.variants, engine)
    return {
        "file": variant_set.source,
        **summarise(scored, variant_set.styles, engine.policy.frustration_threshold),
    }


# --- output -------------------------------------------------------------------------------------


def _percent(value: float | None) -> str:
    return "n/a" if value is None else f"{100 * value:.1f}%"


def _points(value: float | None) -> str:
    return "n/a" if value is None else f"{100 * value:+.1f}"


def _number(value: float | None) -> str:
    return "n/a" if value is None else f"{value:.3f}"


def _tones(counts: Mapping[str, int]) -> str:
    return ", ".join(f"{tone} {counts[tone]}" for tone in TONES if counts.get(tone))


COLUMNS: Final = (
    "style",
    "calm",
    "FP",
    "FP rate",
    "FP gap",
    "mean f calm",
    "frus",
    "FN",
    "FN rate",
    "FN gap",
    "mean f frus",
    "tones on calm",
)


def table_rows(result: Mapping[str, Any]) -> list[tuple[str, ...]]:
    rows: list[tuple[str, ...]] = []
    for style, row in result["styles"].items():
        rows.append(
            (
                style,
                str(row["n_calm"]),
                str(row["false_positives"]),
                _percent(row["fp_rate"]),
                "—" if style == BASELINE else _points(row["fp_gap"]),
                _number(row["mean_frustration_calm"]),
                str(row["n_frustrated"]),
                str(row["false_negatives"]),
                _percent(row["fn_rate"]),
                "—" if style == BASELINE else _points(row["fn_gap"]),
                _number(row["mean_frustration_frustrated"]),
                _tones(row["tones_calm"]),
            )
        )
    return rows


def _verdict(result: Mapping[str, Any]) -> str:
    largest = result["largest_fp_gap"]
    where = "n/a" if largest is None else f"{largest['style']} {_points(largest['gap'])} points"
    met = "met" if result["meets_fp_goal"] else "MISSED"
    excess = result["largest_fp_excess"]
    above = "none" if excess is None else f"{excess['style']} {_points(excess['gap'])}"
    fn = result["largest_fn_gap"]
    fn_where = "n/a" if fn is None else f"{fn['style']} {_points(fn['gap'])} points"
    return (
        f"largest FP gap vs {BASELINE}: {where} (goal: within {100 * GOAL_FP_GAP:.0f} points in every "
        f"style: {met}); most FP above {BASELINE}: {above}; largest FN gap: {fn_where}"
    )


def format_table(result: Mapping[str, Any]) -> str:
    rows = [COLUMNS, *table_rows(result)]
    widths = [max(len(r[i]) for r in rows) for i in range(len(COLUMNS))]
    lines = [
        "  ".join(cell.ljust(width) for cell, width in zip(r, widths, strict=True)).rstrip() for r in rows
    ]
    header = (
        f"{result['file']}: {result['n_messages']} messages ({result['n_bases']} bases), "
        f"frustrated at >= {result['threshold']}"
    )
    return "\n".join([header, *lines, _verdict(result)])


def _example_cells(example: Mapping[str, Any]) -> tuple[str, ...]:
    signals = ", ".join(f"{name} {value:.2f}" for name, value in example["signals"].items())
    return (example["style"], example["text"], f"{example['frustration']:.3f}", example["tone"], signals)


def write_html(path: Path, result: Mapping[str, Any]) -> None:
    head = "".join(f"<th>{html.escape(c)}</th>" for c in COLUMNS)
    body = "".join(
        "<tr>" + "".join(f"<td>{html.escape(cell)}</td>" for cell in row) + "</tr>"
        for row in table_rows(result)
    )
    examples = "".join(
        "<tr>" + "".join(f"<td>{html.escape(cell)}</td>" for cell in _example_cells(e)) + "</tr>"
        for e in result["false_positives"]
    )
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(
        "<!doctype html><html lang='en'><head><meta charset='utf-8'><title>Attune eval: bias</title>"
        "<style>body{font-family:sans-serif;margin:2em}td,th{padding:2px 8px;text-align:left}</style>"
        f"</head><body><h1>Attune eval: bias</h1><p>{html.escape(str(result['file']))}</p>"
        f"<table><tr>{head}</tr>{body}</table><p>{html.escape(_verdict(result))}</p>"
        "<h2>Calm messages read as frustrated</h2><table><tr><th>style</th><th>message</th>"
        f"<th>frustration</th><th>tone</th><th>largest signals</th></tr>{examples}</table></body></html>",
        encoding="utf-8",
    )
