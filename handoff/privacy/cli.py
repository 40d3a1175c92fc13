"""``attune privacy export|erase|purge``: data-subject requests and retention from the command line.

The databases come from the same variables the services use: ATTUNE_HANDOFF_DATABASE_URL,
ATTUNE_TRACKER_DATABASE_URL (Rasa's SQL tracker store), ATTUNE_STORE_DATABASE_URL (the action
server's contact history) and ATTUNE_EVENT_BROKER_URL (Rasa's SQL event broker); the periods from
ATTUNE_RETENTION_*_DAYS (handoff/privacy/personal_data.py).
"""

import argparse
import json
import os
import sys
from collections.abc import Mapping
from pathlib import Path
from typing import Any

DEFAULTS = {
    "ATTUNE_HANDOFF_DATABASE_URL": "sqlite:///var/handoff.db",
    "ATTUNE_TRACKER_DATABASE_URL": "sqlite:///var/tracker.db",
    "ATTUNE_STORE_DATABASE_URL": "sqlite:///var/store.db",
    # The action server's outbox: handoffs and audit entries not yet delivered (bot/cli.py's
    # migrate-conversation-ids renames the conversations they name).
    "ATTUNE_OUTBOX_DATABASE_URL": "sqlite:///var/outbox.db",
    # Rasa's SQL event broker (endpoints.yml event_broker): a copy of every event, for analytics.
    "ATTUNE_EVENT_BROKER_URL": "sqlite:///var/events.db",
}


def database_urls(environ: Mapping[str, str]) -> dict[str, str]:
    """Each database's URL from ``environ``, the default when unset or empty."""
    return {name: environ.get(name, default).strip() or default for name, default in DEFAULTS.items()}


def add_parser(commands: Any) -> None:
    privacy = commands.add_parser("privacy", help="export, erase or purge customers' data")
    actions = privacy.add_subparsers(dest="privacy_command", required=True)
    export = actions.add_parser("export", help="write everything held about a customer as one JSON document")
    export.add_argument(
        "customer", help='"cust-…" or an identity: "phone:+44…", "email:…", "id:…", "session:…"'
    )
    export.add_argument("--out", type=Path, help="file to write (default: standard output)")
    erase = actions.add_parser("erase", help="delete everything about a customer, everywhere")
    erase.add_argument("customer")
    actions.add_parser("purge", help="apply the retention periods now")


def _existing(url: str) -> bool:
    if not url.startswith("sqlite"):
        return True
    path = url.split(":///", 1)[-1]
    return path == ":memory:" or Path(path).is_file()


def _stores() -> Any:
    from handoff.core.db import create_engine_for
    from handoff.core.migrate import upgrade_to_head
    from handoff.privacy.personal_data import Stores

    urls = database_urls(os.environ)
    handoff_url = urls["ATTUNE_HANDOFF_DATABASE_URL"]
    if not _existing(handoff_url):
        raise SystemExit(
            f"attune privacy: no handoff database at {handoff_url} (set ATTUNE_HANDOFF_DATABASE_URL)"
        )
    upgrade_to_head(handoff_url)

    def optional(name: str) -> Any:
        return create_engine_for(urls[name]) if _existing(urls[name]) else None

    return Stores(
        create_engine_for(handoff_url),
        optional("ATTUNE_TRACKER_DATABASE_URL"),
        optional("ATTUNE_STORE_DATABASE_URL"),
        optional("ATTUNE_OUTBOX_DATABASE_URL"),
        optional("ATTUNE_EVENT_BROKER_URL"),
    )


def run(args: argparse.Namespace) -> int:
    from handoff.privacy import personal_data
    from handoff.shared.errors import InvalidRequest, NotFound

    stores = _stores()
    try:
        if args.privacy_command == "export":
            document = json.dumps(personal_data.export(stores, args.customer), indent=2, ensure_ascii=False)
            if args.out:
                args.out.write_text(document + "\n", encoding="utf-8")
                print(f"wrote {args.out}")
            else:
                print(document)
        elif args.privacy_command == "erase":
            counts = personal_data.erase(stores, args.customer)
            print("erased: " + ", ".join(f"{k} {v}" for k, v in counts.items()))
        else:
            counts = personal_data.purge(stores, personal_data.retention_from(os.environ))
            print("purged: " + ", ".join(f"{k} {v}" for k, v in counts.items()))
    except (NotFound, InvalidRequest) as error:
        print(f"attune privacy: {error}", file=sys.stderr)
        return 1
    finally:
        for engine in (stores.handoff, stores.tracker, stores.contacts, stores.outbox, stores.broker):
            if engine is not None:
                engine.dispose()
    return 0
