"""The `attune` command, the one composition root of the command line.

`attune explain MESSAGE [--after EARLIER ...] [--opted-out] [--json]` (bot/evaluation/explain.py),
`attune eval dialogues|emotions FILE...`, `attune eval bias [FILE]` (bot/evaluation/bias.py),
`attune fit frustration [--dev FILE...] [--write]` (bot/evaluation/fitting.py),
`attune feedback export`,
`attune audit verify`, `attune privacy export|erase|purge` (handoff/privacy/cli.py),
`attune migrate-conversation-ids` (bot/conversation_id_migration.py),
`attune drift check [--day D]` (handoff/analytics/drift_cli.py),
`attune shadow report [--since D] [--json] [--html PATH]` (handoff/analytics/shadow_cli.py),
`attune agents add|reset|disable|list` (console accounts; handoff/console/agents_cli.py),
`attune experiment report NAME [--json] [--html PATH]` (handoff/analytics/experiment_cli.py),
`attune analytics backfill --since TIME` (handoff/analytics/cli.py).

Runs the shipped empathy engine (emotion model trained from data/, thresholds from
policy/empathy.yml) over files in the formats of ../shared/data/, prints the metrics, and writes
``--json OUT`` and an HTML report with ROC curves and example trajectories.
"""

import argparse
import json
import os
import sys
import time
import warnings
from pathlib import Path
from typing import Any, Final, Protocol

from handoff.analytics import cli as analytics_cli
from handoff.analytics import drift_cli, experiment_cli, shadow_cli
from handoff.audit import cli as audit_cli
from handoff.console import agents_cli, feedback_cli
from handoff.privacy import cli as privacy_cli


class ServiceCommand(Protocol):
    """A service-side command module: adds its parser, runs it (its imports happen inside ``run``)."""

    def add_parser(self, commands: Any) -> None: ...

    def run(self, args: argparse.Namespace) -> int: ...


# The handoff service's own commands live with the service; this entry point only wires them.
# Messages one ``attune explain`` reads (the last and its --after ones): each is parsed by the model.
MAX_EXPLAIN_TURNS: Final = 50

SERVICE_COMMANDS: Final[dict[str, ServiceCommand]] = {
    "feedback": feedback_cli,
    "privacy": privacy_cli,
    "audit": audit_cli,
    "agents": agents_cli,
    "experiment": experiment_cli,
    "drift": drift_cli,
    "shadow": shadow_cli,
    "analytics": analytics_cli,
}


def _public(result: dict[str, Any]) -> dict[str, Any]:
    return {k: v for k, v in result.items() if not k.startswith("_")}


def _print(kind: str, result: dict[str, Any]) -> None:
    if kind == "emotions":
        per_class = "  ".join(f"{k} {v:.3f}" for k, v in result["per_class"].items())
        print(
            f"{result['file']}: n={result['n']}  Ekman macro-F1 {result['macro_f1_ekman']:.3f}  ({per_class})"
        )
        return
    auc = "n/a" if result["auc"] is None else f"{result['auc']:.3f}"
    line = (
        f"{result['file']}: turns={result['n_turns']} positives={result['positives']} AUC {auc}  "
        f"F1 {result['f1']:.3f} (P {result['precision']:.3f} R {result['recall']:.3f} "
        f"at {result['threshold']})"
    )
    if result.get("spearman") is not None:
        line += f"  Spearman {result['spearman']:.3f}"
    print(line)


def bias_command(args: argparse.Namespace) -> int:
    """``attune eval bias [FILE]``: false positives/negatives per writing style (bench/data/ by default)."""
    from bot.evaluation import bias
    from bot.evaluation.engine import shipped_engine
    from bot.evaluation.evaluate import EvalInputError

    try:
        variants = bias.load_variants(args.files[0] if args.files else bias.DEFAULT_VARIANTS)
    except EvalInputError as error:
        print(f"attune eval: {error}", file=sys.stderr)
        return 2
    result = bias.evaluate_bias(variants, shipped_engine())
    print(bias.format_table(result))
    if args.json:
        args.json.parent.mkdir(parents=True, exist_ok=True)
        args.json.write_text(json.dumps(result, indent=2, ensure_ascii=False), encoding="utf-8")
        print(f"wrote {args.json}")
    html = args.html or (args.json.with_suffix(".html") if args.json else None)
    if html:
        bias.write_html(html, result)
        print(f"wrote {html}")
    return 0


def eval_command(args: argparse.Namespace) -> int:
    from bot.evaluation import report_comparison
    from bot.evaluation.engine import shipped_engine
    from bot.evaluation.evaluate import EvalInputError, evaluate_dialogues, evaluate_emotions
    from bot.evaluation.report import write_report

    os.environ.setdefault("HF_HUB_OFFLINE", "1")
    os.environ.setdefault("TRANSFORMERS_OFFLINE", "1")
    if args.kind == "bias":
        return bias_command(args)
    engine = shipped_engine()
    results = []
    try:
        for path in args.files:
            if args.kind == "dialogues":
                results.append(evaluate_dialogues(path, engine))
            else:
                results.append(evaluate_emotions(path, engine))
    except EvalInputError as error:
        print(f"attune eval: {error}", file=sys.stderr)
        return 2
    for result in results:
        _print(args.kind, result)
    deltas: list[dict[str, Any]] = []
    if args.json:
        args.json.parent.mkdir(parents=True, exist_ok=True)
        # The last run's JSON stays beside the new one, and the change is shown.
        deltas = report_comparison.compare(report_comparison.keep_previous(args.json), results)
        print(report_comparison.format_deltas(deltas))
        payload = [_public(r) for r in results]
        args.json.write_text(json.dumps(payload[0] if len(payload) == 1 else payload, indent=2))
        print(f"wrote {args.json} (the previous run: {report_comparison.previous_path(args.json)})")
    html = args.html or (args.json.with_suffix(".html") if args.json else None)
    if html:
        write_report(html, args.kind, results, deltas)
        print(f"wrote {html}")
    return 0


def fit_command(args: argparse.Namespace) -> int:
    """``attune fit frustration``: weights from data/frustration/, chosen among a handful of settings."""
    from bot.empathy.fitting import FrustrationDataError
    from bot.evaluation import fitting
    from bot.evaluation.engine import POLICY_FILE, ROOT, load_policy, shipped_engine
    from bot.evaluation.evaluate import EvalInputError

    os.environ.setdefault("HF_HUB_OFFLINE", "1")
    os.environ.setdefault("TRANSFORMERS_OFFLINE", "1")
    engine = shipped_engine()
    try:
        data = fitting.design_matrix(engine, fitting.load_conversations())
        dev = fitting.load_dev(engine, args.dev)
        l2s = fitting.L2_CHOICES if dev else (args.l2,)
        carries = fitting.CARRY_CHOICES if dev else (engine.policy.frustration_carry,)
        found = fitting.candidates(data, load_policy(), dev, l2s, carries)
    except (FrustrationDataError, EvalInputError) as error:
        print(f"attune fit: {error}", file=sys.stderr)
        return 2
    positives = int((data.target == 1.0).sum())
    print(f"data/frustration: {len(data.target)} customer turns, {positives} frustrated")
    for candidate in found:
        aucs = "  ".join(f"{k} AUC {v:.3f}" for k, v in candidate.dev_auc.items() if v is not None)
        cv = fitting.cross_validated_auc(data, candidate.l2) or 0.0
        print(f"l2 {candidate.l2:<4} carry {candidate.carry:<4} held-out-conversation AUC {cv:.3f}  {aucs}")
    if dev:
        # The policy as it is, on the same dev files: a fit that does not beat it should not be written.
        current = "  ".join(f"{d.name} AUC {fitting.dev_auc(engine.policy, d) or 0:.3f}" for d in dev)
        print(f"current policy{'':<42}{current}")
    chosen = max(found, key=lambda c: c.mean_auc)
    print(f"chosen: l2 {chosen.l2}, carry {chosen.carry}\n{fitting.describe(chosen, engine.policy)}")
    path = ROOT / POLICY_FILE
    before = path.read_text(encoding="utf-8")
    after = fitting.patched_policy_text(before, chosen)
    if args.write:
        path.write_text(after, encoding="utf-8")
        print(f"wrote {path}")
    else:
        print(fitting.diff(before, after, POLICY_FILE) or "policy unchanged")
    return 0


def _no_warning(*_: Any, **__: Any) -> None:
    return None


def explain_command(args: argparse.Namespace, started: float) -> int:
    """``attune explain MESSAGE [--after EARLIER ...]``: how the shipped bot reads the last message."""
    # Rasa's, TensorFlow's and setuptools' start-up warnings say nothing about the message, and
    # would bury the explanation; `make validate` is where the project's own warnings are shown.
    # Libraries reset the warning filters as they load, so the warnings are not shown at all.
    warnings.showwarning = _no_warning
    os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "2")
    os.environ.setdefault("HF_HUB_OFFLINE", "1")
    os.environ.setdefault("TRANSFORMERS_OFFLINE", "1")
    from bot.evaluation import explain

    try:
        result = explain.explain_messages(
            args.model, [*args.after, args.message], args.opted_out, started, args.timings
        )
    except ValueError as error:  # the message refused (bot/components/input_checks.py says why)
        print(f"attune explain: {error}", file=sys.stderr)
        return 2
    print(json.dumps(result, indent=2, ensure_ascii=False) if args.json else explain.render_text(result))
    return 0


def migrate_command() -> int:
    """``attune migrate-conversation-ids``: conversations stored before ids were namespaced by channel."""
    from bot.conversation_id_migration import migrate_conversation_ids

    urls = privacy_cli.database_urls(os.environ)
    migrated = migrate_conversation_ids(
        urls["ATTUNE_TRACKER_DATABASE_URL"],
        urls["ATTUNE_STORE_DATABASE_URL"],
        urls["ATTUNE_OUTBOX_DATABASE_URL"],
    )
    print(f"renamed {migrated}")
    return 0


def _add_explain_parser(commands: Any) -> None:
    explain = commands.add_parser(
        "explain", help="how the trained bot reads a message: intents, emotion, scores, tone, escalation"
    )
    explain.add_argument("message", help="the customer's message to explain")
    explain.add_argument(
        "--after",
        action="append",
        default=[],
        metavar="EARLIER",
        help="an earlier message of the same customer, oldest first (repeat for several)",
    )
    explain.add_argument(
        "--opted-out", action="store_true", help="as for a customer who opted out of emotion analysis"
    )
    explain.add_argument("--json", action="store_true", help="print the explanation as JSON")
    explain.add_argument("--timings", action="store_true", help="also time the cold start and a warm message")
    explain.add_argument("--model", type=Path, default=Path("models/attune.tar.gz"), help="the trained model")


def _checked_explain(parser: argparse.ArgumentParser, args: argparse.Namespace) -> argparse.Namespace:
    if len(args.after) >= MAX_EXPLAIN_TURNS:
        parser.error(f"explain takes at most {MAX_EXPLAIN_TURNS - 1} --after messages")
    if not args.model.is_file():
        parser.error(f"no trained model at {args.model} (make train, or --model PATH)")
    return args


def _checked_fit(parser: argparse.ArgumentParser, args: argparse.Namespace) -> argparse.Namespace:
    missing_dev = [str(p) for p in args.dev if not p.is_file()]
    if missing_dev:
        parser.error(f"no such file: {', '.join(missing_dev)}")
    if not 0 < args.l2 <= 1000:
        parser.error("--l2 must be above 0 and at most 1000")
    return args


def main(argv: list[str] | None = None) -> int:
    started = time.perf_counter()
    parser = argparse.ArgumentParser(prog="attune", description="Attune command line tools")
    commands = parser.add_subparsers(dest="command", required=True)
    evaluate = commands.add_parser("eval", help="run the shipped empathy engine over evaluation files")
    evaluate.add_argument("kind", choices=("dialogues", "emotions", "bias"))
    evaluate.add_argument(
        "files",
        nargs="*",
        type=Path,
        help="JSONL files in the ../shared/data/ formats; for bias, one style-variants YAML file "
        "(default bench/data/style_variants.yml)",
    )
    evaluate.add_argument(
        "--json", type=Path, help="write the metrics here (one object, or a list for several files)"
    )
    evaluate.add_argument("--html", type=Path, help="HTML report (default: next to --json)")
    fit = commands.add_parser("fit", help="learn the frustration weights from data/frustration/")
    fit.add_argument("kind", choices=("frustration",))
    fit.add_argument(
        "--dev",
        nargs="*",
        type=Path,
        default=[],
        help="dev files (../shared/data formats) to choose L2 and carry-over by AUC; never fitted on",
    )
    fit.add_argument("--l2", type=float, default=1.0, help="L2 strength when no --dev file is given")
    fit.add_argument("--write", action="store_true", help="write the numbers into policy/empathy.yml")
    _add_explain_parser(commands)
    for service_command in SERVICE_COMMANDS.values():
        service_command.add_parser(commands)
    commands.add_parser(
        "migrate-conversation-ids",
        help="rename conversations stored under the old shared ids (rest:, web:, sms:, whatsapp:); "
        "reads ATTUNE_TRACKER_DATABASE_URL, ATTUNE_STORE_DATABASE_URL, ATTUNE_OUTBOX_DATABASE_URL",
    )
    args = parser.parse_args(argv)
    if args.command in SERVICE_COMMANDS:
        return SERVICE_COMMANDS[args.command].run(args)
    if args.command == "migrate-conversation-ids":
        return migrate_command()
    if args.command == "explain":
        return explain_command(_checked_explain(parser, args), started)
    if args.command == "fit":
        return fit_command(_checked_fit(parser, args))
    if args.kind == "bias" and len(args.files) > 1:
        parser.error("eval bias takes at most one FILE")
    if args.kind != "bias" and not args.files:
        parser.error(f"eval {args.kind} needs at least one FILE")
    missing = [str(p) for p in args.files if not p.is_file()]
    if missing:
        parser.error(f"no such file: {', '.join(missing)}")
    return eval_command(args)


if __name__ == "__main__":
    sys.exit(main())
