"""``attune drift check [--day D]``: checks the completed UTC days not yet checked (or day D again)
against their reference window, stores the points, and prints the charts out of control.

It does what the handoff service's drift worker does (handoff/analytics/drift.py), for a service run
with ``enabled: false`` in policy/drift.yml, or to check a day again after late data.  Exit status 0
whether or not a chart is out of control; 2 for a bad policy file or day.
"""

import argparse
import logging
import os
import sys
from datetime import date, datetime, timezone
from pathlib import Path
from typing import Any

DEFAULT_DATABASE = "sqlite:///var/handoff.db"


def add_parser(commands: Any) -> None:
    command = commands.add_parser("drift", help="drift control: check days against their reference window")
    sub = command.add_subparsers(dest="drift_command", required=True)
    check = sub.add_parser("check", help="check the completed days not yet checked (or --day D again)")
    check.add_argument("--day", type=date.fromisoformat, help="check this UTC day (YYYY-MM-DD) again")
    check.add_argument(
        "--database-url",
        default=os.environ.get("ATTUNE_HANDOFF_DATABASE_URL", DEFAULT_DATABASE),
        help="the handoff service's database (default: ATTUNE_HANDOFF_DATABASE_URL or sqlite:///var/handoff.db)",
    )
    check.add_argument("--policy", type=Path, help="the drift policy (default: policy/drift.yml)")


def run(args: argparse.Namespace) -> int:
    from handoff.analytics import drift
    from handoff.core.db import create_engine_for
    from handoff.core.migrate import upgrade_to_head
    from handoff.core.settings import ConfigError

    logging.basicConfig(level=logging.WARNING, format="%(levelname)s %(message)s")
    try:
        policy = drift.load_policy(args.policy)
    except ConfigError as error:
        print(f"attune drift: {error}", file=sys.stderr)
        return 2
    now = datetime.now(timezone.utc)
    if args.day is not None and args.day >= now.date():
        print(f"attune drift: {args.day} is not a completed UTC day", file=sys.stderr)
        return 2
    upgrade_to_head(args.database_url)
    engine = create_engine_for(args.database_url)
    if args.day is not None:
        checked = [drift.check_day(engine, args.day, policy.settings, again=True)]
    else:
        checked = drift.check_pending(engine, policy, now)
    for result in checked:
        out = [p for p in result.points if p.out_of_control]
        status = result.points[0].status if len(result.points) == 1 else f"{len(result.points)} points"
        print(f"{result.day}: {status}, {len(out)} out of control")
    alerts = drift.active_alerts(engine)
    print("out of control now:" if alerts else "no chart out of control on the latest checked day")
    for alert in alerts:
        key = f" {alert.key!r}" if alert.key else ""
        limits = f"limits {alert.lower:.4f}-{alert.upper:.4f}"
        print(f"  {alert.chart}{key} since {alert.since} ({alert.value:.4f}, {limits})")
    engine.dispose()
    return 0
