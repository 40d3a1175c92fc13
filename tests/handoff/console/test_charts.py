"""The handoff's trajectory chart: scales (viewBox), shows axis values and labelled thresholds, escapes."""

import re
import xml.etree.ElementTree as ET

from handoff.console.charts import thresholds_of, trajectory_svg

SVG = "{http://www.w3.org/2000/svg}"
POINTS = [
    {"turn": 1, "frustration": 0.1, "distress": 0.05, "top_signals": ["negative_emotion"]},
    {"turn": 2, "frustration": 0.65, "distress": 0.3, "top_signals": ["shouting"]},
    {"turn": 3, "frustration": 0.5, "distress": 0.55, "top_signals": []},
]


def parse(svg: str) -> ET.Element:
    return ET.fromstring(svg.replace("<svg ", '<svg xmlns="http://www.w3.org/2000/svg" ', 1))


def texts(root: ET.Element) -> list[str]:
    return [t.text or "" for t in root.iter(f"{SVG}text")]


def test_the_chart_scales_with_a_viewbox_and_no_fixed_size() -> None:
    root = parse(trajectory_svg(POINTS, {"frustration": 0.2}))

    assert re.fullmatch(r"0 0 \d+ \d+", root.attrib["viewBox"])
    assert "width" not in root.attrib and "height" not in root.attrib


def test_the_axes_show_score_values_and_every_turn() -> None:
    labels = texts(parse(trajectory_svg(POINTS)))

    assert {"0", "0.25", "0.5", "0.75", "1"} <= set(labels)
    assert {"1", "2", "3"} <= set(labels) and "customer turn" in labels


def test_a_long_conversation_labels_only_some_turns_but_always_the_last() -> None:
    many = [{"turn": i, "frustration": 0.3, "distress": 0.1} for i in range(1, 41)]

    turn_labels = [t for t in texts(parse(trajectory_svg(many))) if t.isdigit() and t not in ("0", "1")]

    assert len(turn_labels) <= 11 and "40" in turn_labels


def test_each_threshold_is_a_labelled_line_at_its_value() -> None:
    root = parse(trajectory_svg(POINTS, {"frustration": 0.2, "distress": 0.5}))

    lines = {line.attrib["data-name"]: line for line in root.iter(f"{SVG}line") if "data-name" in line.attrib}
    assert set(lines) == {"frustration", "distress"}
    assert float(lines["frustration"].attrib["y1"]) > float(
        lines["distress"].attrib["y1"]
    )  # the lower score is the lower line (SVG y grows downwards)
    assert {"frustration threshold 0.20", "distress threshold 0.50"} <= set(texts(root))


def test_thresholds_come_from_the_payloads_explanation_and_nothing_else_is_trusted() -> None:
    payload = {
        "explanation": {
            "frustration": {"score": 0.6, "threshold": 0.2},
            "distress": {"score": 0.1, "threshold": "0.5"},  # not a number: no line
        }
    }

    assert thresholds_of(payload) == {"frustration": 0.2}
    assert thresholds_of({"explanation": {"frustration": {"threshold": 7}}}) == {}
    assert thresholds_of({"explanation": {"frustration": {"threshold": True}}}) == {}
    assert thresholds_of({"explanation": "nonsense"}) == {}
    assert thresholds_of({}) == {}


def test_without_thresholds_no_threshold_line_is_guessed() -> None:
    root = parse(trajectory_svg(POINTS, {}))

    assert not [line for line in root.iter(f"{SVG}line") if "data-name" in line.attrib]


def test_signal_names_and_turns_are_escaped() -> None:
    hostile = [{"turn": "<b>", "frustration": "x", "distress": None, "top_signals": ["<script>"]}]

    svg = trajectory_svg(hostile)

    assert "<script>" not in svg and "<b>" not in svg
    parse(svg)  # still well-formed


def test_no_points_no_chart() -> None:
    assert "No scored turns" in trajectory_svg([])
