"""``attune audit verify``: walks the audit log's hash chain; exit 1 at the first broken entry."""

import argparse
import os
import sys
from pathlib import Path
from typing import Any

DEFAULT_DATABASE = "sqlite:///var/handoff.db"


def add_parser(commands: Any) -> None:
    audit_parser = commands.add_parser("audit", help="the audit log of automated decisions")
    audit_commands = audit_parser.add_subparsers(dest="audit_command", required=True)
    verify = audit_commands.add_parser("verify", help="check the hash chain; exit 1 at a tampered entry")
    verify.add_argument(
        "--database-url",
        default=os.environ.get("ATTUNE_HANDOFF_DATABASE_URL", DEFAULT_DATABASE),
        help="the handoff service's database (default: ATTUNE_HANDOFF_DATABASE_URL or sqlite:///var/handoff.db)",
    )


def run(args: argparse.Namespace) -> int:
    """``attune audit verify``: walks the hash chain of the audit log; exit 1 at the first broken entry."""
    from handoff.audit import audit_log
    from handoff.core.db import create_engine_for
    from handoff.core.migrate import upgrade_to_head

    url = args.database_url
    path = url.split(":///", 1)[-1] if url.startswith("sqlite") else ""
    if path and path != ":memory:" and not Path(path).is_file():
        print(f"attune audit: no database at {path} (set ATTUNE_HANDOFF_DATABASE_URL)", file=sys.stderr)
        return 2
    upgrade_to_head(url)
    engine = create_engine_for(url)
    try:
        result = audit_log.verify(engine)
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
