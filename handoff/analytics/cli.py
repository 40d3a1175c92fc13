"""``attune analytics backfill --since TIME|broker``: the events the broker lost, from Rasa's tracker store.

Run it after Rasa died (``kill -9``, out of memory) with events still queued for the broker.
``--since broker`` starts ten minutes before the last event in the broker's table (what was still
queued came after it), which holds until a restarted Rasa has published for ten minutes; after that,
give ``--since`` an ISO time before the crash.  It is safe to run at any time, and twice: events the
broker delivered add nothing.
"""

import argparse
import os
import sys
from datetime import datetime, timezone
from pathlib import Path
from typing import Any, Final

DEFAULT_DATABASE = "sqlite:///var/handoff.db"
DEFAULT_TRACKER = "sqlite:///var/tracker.db"
DEFAULT_BROKER = "sqlite:///var/events.db"
FROM_BROKER: Final = "broker"
EARLIEST_YEAR = 2000


def since_time(value: str) -> datetime | str:
    """``broker``, or an ISO 8601 moment (``2026-12-01T09:30``, ``…Z``, ``…+01:00``; no zone: UTC)."""
    raw = value.strip()
    if raw == FROM_BROKER:
        return FROM_BROKER
    try:
        moment = datetime.fromisoformat(raw[:-1] + "+00:00" if raw.endswith(("Z", "z")) else raw)
    except ValueError:
        raise argparse.ArgumentTypeError(
            f"not an ISO 8601 time or 'broker': {value[:40]!r} (for example 2026-12-01T09:30:00Z)"
        ) from None
    moment = moment if moment.tzinfo is not None else moment.replace(tzinfo=timezone.utc)
    if moment.year < EARLIEST_YEAR or moment > datetime.now(timezone.utc):
        raise argparse.ArgumentTypeError(f"{raw[:40]!r} is before {EARLIEST_YEAR} or in the future")
    return moment


def _url(name: str, default: str) -> str:
    return os.environ.get(name, "").strip() or default


def add_parser(commands: Any) -> None:
    analytics = commands.add_parser("analytics", help="the analytics pipeline: backfill what the broker lost")
    sub = analytics.add_subparsers(dest="analytics_command", required=True)
    backfill = sub.add_parser(
        "backfill",
        help="ingest the tracker store's events since TIME (after Rasa died with events queued); idempotent",
    )
    backfill.add_argument(
        "--since",
        required=True,
        type=since_time,
        help="an ISO 8601 time (UTC unless it has a zone), or 'broker': 10 minutes before the "
        "broker's last event",
    )
    backfill.add_argument(
        "--database-url",
        default=_url("ATTUNE_HANDOFF_DATABASE_URL", DEFAULT_DATABASE),
        help="the handoff service's database (default: ATTUNE_HANDOFF_DATABASE_URL or sqlite:///var/handoff.db)",
    )
    backfill.add_argument(
        "--tracker-url",
        default=_url("ATTUNE_TRACKER_DATABASE_URL", DEFAULT_TRACKER),
        help="Rasa's SQL tracker store, as in endpoints.yml "
        "(default: ATTUNE_TRACKER_DATABASE_URL or sqlite:///var/tracker.db)",
    )
    backfill.add_argument(
        "--broker-url",
        default=_url("ATTUNE_EVENT_BROKER_URL", DEFAULT_BROKER),
        help="Rasa's SQL event broker, read only for --since broker "
        "(default: ATTUNE_EVENT_BROKER_URL or sqlite:///var/events.db)",
    )


def _missing_sqlite_file(url: str) -> str | None:
    path = url.split(":///", 1)[-1] if url.startswith("sqlite") else ""
    return path if path and path != ":memory:" and not Path(path).is_file() else None


def _since(args: argparse.Namespace) -> datetime | None:
    """The moment to read from: ``--since`` as given, or from the broker's last event (None: no event)."""
    from sqlalchemy import create_engine

    from handoff.analytics.backfill import after_last_broker_event

    if isinstance(args.since, datetime):
        return args.since
    if _missing_sqlite_file(args.broker_url) is not None:
        return None
    broker = create_engine(args.broker_url, future=True)
    try:
        return after_last_broker_event(broker)
    finally:
        broker.dispose()


def _fail(message: str) -> int:
    print(f"attune analytics: {message}", file=sys.stderr)
    return 2


def run(args: argparse.Namespace) -> int:
    from sqlalchemy import create_engine

    from handoff.analytics.backfill import backfill
    from handoff.core.db import create_engine_for
    from handoff.core.migrate import upgrade_to_head

    missing = _missing_sqlite_file(args.tracker_url)
    if missing is not None:
        return _fail(f"no tracker store at {missing} (set ATTUNE_TRACKER_DATABASE_URL)")
    since = _since(args)
    if since is None:
        return _fail("the broker holds no event to start from (ATTUNE_EVENT_BROKER_URL); give --since a time")
    upgrade_to_head(args.database_url)
    analytics = create_engine_for(args.database_url)
    # A plain engine: it only reads, and leaves Rasa's file (journal mode and all) as Rasa set it up.
    tracker = create_engine(args.tracker_url, future=True)
    try:
        result = backfill(analytics, tracker, since)
    finally:
        tracker.dispose()
        analytics.dispose()
    print(
        f"backfill since {since.isoformat()}: {result.read} tracker events of "
        f"{len(result.conversations)} conversations read, {result.inserted} missing fact rows added, "
        f"{result.skipped} not usable, {result.erased} of erased conversations left out"
    )
    return 0
