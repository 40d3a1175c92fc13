"""``attune feedback export``: agents' accepted corrections of emotion readings as training data."""

import argparse
import os
from pathlib import Path
from typing import Any

DEFAULT_DATABASE = "sqlite:///var/handoff.db"


def add_parser(commands: Any) -> None:
    feedback = commands.add_parser("feedback", help="agents' corrections of emotion readings")
    feedback_commands = feedback.add_subparsers(dest="feedback_command", required=True)
    export = feedback_commands.add_parser(
        "export", help="write accepted corrections as emotion training data"
    )
    export.add_argument(
        "--database-url",
        default=os.environ.get("ATTUNE_HANDOFF_DATABASE_URL", DEFAULT_DATABASE),
        help="the handoff service's database (default: ATTUNE_HANDOFF_DATABASE_URL or sqlite:///var/handoff.db)",
    )
    export.add_argument("--out", type=Path, default=Path("data/emotions/feedback.yml"))


def run(args: argparse.Namespace) -> int:
    from handoff.console import feedback
    from handoff.core.db import create_engine_for
    from handoff.core.migrate import upgrade_to_head

    upgrade_to_head(args.database_url)
    text, count = feedback.export_yaml(create_engine_for(args.database_url))
    if count == 0:
        print("no accepted corrections yet: nothing written (supervisors review flags at /console/flags)")
        return 0
    args.out.parent.mkdir(parents=True, exist_ok=True)
    args.out.write_text(text, encoding="utf-8")
    print(f"wrote {count} corrected examples to {args.out}; `make train` learns from them")
    return 0
