"""``attune shadow report [--since D] [--candidate NAME] [--examples N] [--json] [--html F]``.

Live against candidate over the shadow records (docs/shadow.md): decision agreement with the
confusion of decisions, Pearson/Spearman of the frustration and distress scores, and the offers the
candidate would have changed, with examples.  Reads ATTUNE_STORE_DATABASE_URL, where the action
server writes them, unless ``--database-url`` names another.
"""

import argparse
import json
import os
import sys
from datetime import date, datetime, time, timezone
from pathlib import Path
from typing import Any

DEFAULT_STORE = "sqlite:///var/store.db"
DEFAULT_EXAMPLES = 5


def _day(value: str) -> date:
    try:
        return date.fromisoformat(value)
    except ValueError:
        raise argparse.ArgumentTypeError(f"expected a day as YYYY-MM-DD, got {value!r}") from None


def _examples(value: str) -> int:
    from bot.empathy.shadow import MAX_EXAMPLES

    if not value.isdigit() or int(value) > MAX_EXAMPLES:
        raise argparse.ArgumentTypeError(f"expected a whole number from 0 to {MAX_EXAMPLES}, got {value!r}")
    return int(value)


def _candidate(value: str) -> str:
    from bot.empathy.shadow import MAX_NAME_CHARS

    if (
        not value
        or len(value) > MAX_NAME_CHARS
        or not all(c.isascii() and (c.isalnum() or c in "._-") for c in value)
    ):
        raise argparse.ArgumentTypeError(
            f"a candidate name is 1-{MAX_NAME_CHARS} letters, digits, '.', '_' or '-'"
        )
    return value


def add_parser(commands: Any) -> None:
    shadow = commands.add_parser(
        "shadow", help="shadow mode: a candidate empathy policy against the live one"
    )
    sub = shadow.add_subparsers(dest="shadow_command", required=True)
    report = sub.add_parser(
        "report", help="decision agreement, score correlation and the offers that would change, with examples"
    )
    report.add_argument("--since", type=_day, help="only turns from this day on (YYYY-MM-DD, UTC)")
    report.add_argument(
        "--candidate", type=_candidate, help="only this candidate's records (its name in policy/shadow.yml)"
    )
    report.add_argument(
        "--examples",
        type=_examples,
        default=DEFAULT_EXAMPLES,
        help="examples per offer and direction (default 5)",
    )
    report.add_argument("--json", action="store_true", help="print the report as JSON")
    report.add_argument("--html", type=Path, help="also write the report as an HTML page here")
    report.add_argument(
        "--database-url",
        default=os.environ.get("ATTUNE_STORE_DATABASE_URL", "").strip() or DEFAULT_STORE,
        help="the action server's store database (default: ATTUNE_STORE_DATABASE_URL or sqlite:///var/store.db)",
    )


def _missing_sqlite(url: str) -> bool:
    if not url.startswith("sqlite:///"):
        return False
    path = url.removeprefix("sqlite:///")
    return path != ":memory:" and not Path(path).is_file()


def run(args: argparse.Namespace) -> int:
    from sqlalchemy import create_engine
    from sqlalchemy.exc import ArgumentError

    from bot.empathy.shadow import report
    from handoff.analytics.shadow_report import read_records, render_html, render_text

    if _missing_sqlite(args.database_url):
        print(
            f"attune shadow: no database at {args.database_url} (ATTUNE_STORE_DATABASE_URL)", file=sys.stderr
        )
        return 2
    try:
        engine = create_engine(args.database_url, future=True)
    except ArgumentError as error:
        print(f"attune shadow: not a database URL: {error}", file=sys.stderr)
        return 2
    since = datetime.combine(args.since, time(), timezone.utc) if args.since else None
    result = report(read_records(engine, since, args.candidate), args.examples)
    engine.dispose()
    print(json.dumps(result, indent=2) if args.json else render_text(result))
    if args.html:
        args.html.parent.mkdir(parents=True, exist_ok=True)
        args.html.write_text(render_html(result), encoding="utf-8")
        print(f"wrote {args.html}", file=sys.stderr)
    return 0
