"""The `attune` command: `attune eval dialogues|emotions FILE...`, `attune feedback export`,
`attune audit verify`, `attune privacy export|erase|purge` (bot/privacy_cli.py),
`attune migrate-conversation-ids` (bot/conversation_id_migration.py),
`attune agents add|reset|disable|list` (console accounts; handoff/agents_cli.py).

Runs the shipped empathy engine (emotion model trained from data/, thresholds from
data/empathy.yml) over files in the formats of ../shared/data/, prints the metrics, and writes
``--json OUT`` and an HTML report with ROC curves and example trajectories.
"""

import argparse
import json
import os
import sys
from pathlib import Path
from typing import Any

from bot import privacy_cli
from handoff import agents_cli


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


def eval_command(args: argparse.Namespace) -> int:
    from bot.evaluation.engine import shipped_engine
    from bot.evaluation.evaluate import EvalInputError, evaluate_dialogues, evaluate_emotions
    from bot.evaluation.report import write_report

    os.environ.setdefault("HF_HUB_OFFLINE", "1")
    os.environ.setdefault("TRANSFORMERS_OFFLINE", "1")
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
    if args.json:
        args.json.parent.mkdir(parents=True, exist_ok=True)
        payload = [_public(r) for r in results]
        args.json.write_text(json.dumps(payload[0] if len(payload) == 1 else payload, indent=2))
        print(f"wrote {args.json}")
    html = args.html or (args.json.with_suffix(".html") if args.json else None)
    if html:
        write_report(html, args.kind, results)
        print(f"wrote {html}")
    return 0


def feedback_command(args: argparse.Namespace) -> int:
    from handoff import feedback
    from handoff.db import create_engine_for
    from handoff.migrate import upgrade_to_head

    upgrade_to_head(args.database_url)
    text, count = feedback.export_yaml(create_engine_for(args.database_url))
    if count == 0:
        print("no accepted corrections yet: nothing written (supervisors review flags at /console/flags)")
        return 0
    args.out.parent.mkdir(parents=True, exist_ok=True)
    args.out.write_text(text, encoding="utf-8")
    print(f"wrote {count} corrected examples to {args.out}; `make train` learns from them")
    return 0


def audit_command(args: argparse.Namespace) -> int:
    """``attune audit verify``: walks the hash chain of the audit log; exit 1 at the first broken entry."""
    from handoff import audit
    from handoff.db import create_engine_for
    from handoff.migrate import upgrade_to_head

    url = args.database_url
    path = url.split(":///", 1)[-1] if url.startswith("sqlite") else ""
    if path and path != ":memory:" and not Path(path).is_file():
        print(f"attune audit: no database at {path} (set ATTUNE_HANDOFF_DATABASE_URL)", file=sys.stderr)
        return 2
    upgrade_to_head(url)
    engine = create_engine_for(url)
    try:
        result = audit.verify(engine)
    finally:
        engine.dispose()
    if result.broken is None:
        redacted = f", {result.redacted} redacted by erasure or retention" if result.redacted else ""
        print(f"OK: {result.count} audit entries, hash chain intact{redacted} (head {result.head})")
        return 0
    print(
        f"TAMPERED: entry {result.broken.seq}: {result.broken.reason} "
        f"({result.count} entries before it are intact)"
    )
    return 1


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


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="attune", description="Attune command line tools")
    commands = parser.add_subparsers(dest="command", required=True)
    evaluate = commands.add_parser("eval", help="run the shipped empathy engine over evaluation files")
    evaluate.add_argument("kind", choices=("dialogues", "emotions"))
    evaluate.add_argument("files", nargs="+", type=Path, help="JSONL files in the ../shared/data/ formats")
    evaluate.add_argument(
        "--json", type=Path, help="write the metrics here (one object, or a list for several files)"
    )
    evaluate.add_argument("--html", type=Path, help="HTML report (default: next to --json)")
    feedback = commands.add_parser("feedback", help="agents' corrections of emotion readings")
    feedback_commands = feedback.add_subparsers(dest="feedback_command", required=True)
    export = feedback_commands.add_parser(
        "export", help="write accepted corrections as emotion training data"
    )
    export.add_argument(
        "--database-url",
        default=os.environ.get("ATTUNE_HANDOFF_DATABASE_URL", "sqlite:///var/handoff.db"),
        help="the handoff service's database (default: ATTUNE_HANDOFF_DATABASE_URL or sqlite:///var/handoff.db)",
    )
    export.add_argument("--out", type=Path, default=Path("data/emotions_feedback.yml"))
    privacy_cli.add_parser(commands)
    audit_parser = commands.add_parser("audit", help="the audit log of automated decisions")
    audit_commands = audit_parser.add_subparsers(dest="audit_command", required=True)
    verify = audit_commands.add_parser("verify", help="check the hash chain; exit 1 at a tampered entry")
    verify.add_argument(
        "--database-url",
        default=os.environ.get("ATTUNE_HANDOFF_DATABASE_URL", "sqlite:///var/handoff.db"),
        help="the handoff service's database (default: ATTUNE_HANDOFF_DATABASE_URL or sqlite:///var/handoff.db)",
    )
    commands.add_parser(
        "migrate-conversation-ids",
        help="rename conversations stored under the old shared ids (rest:, web:, sms:, whatsapp:); "
        "reads ATTUNE_TRACKER_DATABASE_URL, ATTUNE_STORE_DATABASE_URL, ATTUNE_OUTBOX_DATABASE_URL",
    )
    agents_cli.add_parser(commands)
    args = parser.parse_args(argv)
    if args.command == "agents":
        return agents_cli.run(args)
    if args.command == "migrate-conversation-ids":
        return migrate_command()
    if args.command == "audit":
        return audit_command(args)
    if args.command == "privacy":
        return privacy_cli.run(args)
    if args.command == "feedback":
        return feedback_command(args)
    missing = [str(p) for p in args.files if not p.is_file()]
    if missing:
        parser.error(f"no such file: {', '.join(missing)}")
    return eval_command(args)


if __name__ == "__main__":
    sys.exit(main())
