"""``attune experiment report NAME [--json] [--html PATH]``: an experiment's outcomes, effects and verdict."""

import argparse
import json
import os
import sys
from datetime import date, datetime, timezone
from pathlib import Path
from typing import Any

DEFAULT_DATABASE = "sqlite:///var/handoff.db"
DEFAULT_EXPERIMENTS = "policy/experiments.yml"


def add_parser(commands: Any) -> None:
    experiment = commands.add_parser("experiment", help="tone experiments: the report of one")
    sub = experiment.add_subparsers(dest="experiment_command", required=True)
    report = sub.add_parser("report", help="per-arm outcomes, effects with 95%% CIs, SRM check, verdict")
    report.add_argument("name", help="the experiment's name in policy/experiments.yml")
    report.add_argument("--json", action="store_true", help="print the report as JSON")
    report.add_argument("--html", type=Path, help="also write the report as an HTML page here")
    report.add_argument(
        "--database-url",
        default=os.environ.get("ATTUNE_HANDOFF_DATABASE_URL", DEFAULT_DATABASE),
        help="the handoff service's database (default: ATTUNE_HANDOFF_DATABASE_URL or sqlite:///var/handoff.db)",
    )
    report.add_argument(
        "--experiments",
        type=Path,
        default=Path(os.environ.get("ATTUNE_EXPERIMENTS", "") or DEFAULT_EXPERIMENTS),
        help="the experiments file (default: ATTUNE_EXPERIMENTS or policy/experiments.yml)",
    )
    report.add_argument("--today", type=date.fromisoformat, help="report as of this day (YYYY-MM-DD, UTC)")


def run(args: argparse.Namespace) -> int:
    import yaml

    from bot.empathy.experiments import ExperimentError, parse
    from handoff.analytics.experiment_report import render_html, render_text, report
    from handoff.core.db import create_engine_for
    from handoff.core.migrate import upgrade_to_head

    try:
        experiments = parse(yaml.safe_load(args.experiments.read_text(encoding="utf-8")))
    except (OSError, yaml.YAMLError, ExperimentError) as error:
        print(f"attune experiment: {args.experiments}: {error}", file=sys.stderr)
        return 2
    experiment = next((e for e in experiments if e.name == args.name), None)
    if experiment is None:
        known = ", ".join(e.name for e in experiments) or "none"
        print(f"attune experiment: no experiment {args.name!r} (known: {known})", file=sys.stderr)
        return 2
    upgrade_to_head(args.database_url)
    today = args.today or datetime.now(timezone.utc).date()
    result = report(create_engine_for(args.database_url), experiment, today)
    print(json.dumps(result, indent=2) if args.json else render_text(result))
    if args.html:
        args.html.parent.mkdir(parents=True, exist_ok=True)
        args.html.write_text(render_html(result), encoding="utf-8")
        print(f"wrote {args.html}", file=sys.stderr)
    return 0
