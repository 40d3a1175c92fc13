"""``attune agents add|reset|disable|list``: console accounts from the command line (bot/cli.py wires it).

A password is read from standard input with ``--password-stdin`` (one line, never an argument, so it
stays out of shell history and ``ps``), or generated and printed once.  Every change is audited with
the operator's login name (handoff/console/agent_admin.py).
"""

import argparse
import getpass
import os
import sys
from typing import TextIO

from sqlalchemy.engine import Engine

from handoff.console import agent_admin
from handoff.core.db import create_engine_for
from handoff.core.migrate import upgrade_to_head
from handoff.core.models import ROLES

DEFAULT_DATABASE = "sqlite:///var/handoff.db"


def add_parser(commands: "argparse._SubParsersAction[argparse.ArgumentParser]") -> None:
    agents = commands.add_parser("agents", help="console accounts: add, reset a password, disable, list")
    actions = agents.add_subparsers(dest="agents_command", required=True)
    add = actions.add_parser("add", help="add an account (password from stdin, or generated and printed)")
    add.add_argument("username")
    add.add_argument("--name", required=True, help="the name customers and colleagues see")
    add.add_argument("--role", choices=ROLES, default="agent")
    reset = actions.add_parser("reset", help="set a new password; the account's sessions end")
    reset.add_argument("username")
    for parser in (add, reset):
        parser.add_argument(
            "--password-stdin", action="store_true", help="read the password from the first line of stdin"
        )
    disable = actions.add_parser("disable", help="the account can no longer log in; its sessions end")
    disable.add_argument("username")
    listing = actions.add_parser("list", help="every account with its role and status")
    for parser in (add, reset, disable, listing):
        parser.add_argument(
            "--database-url",
            default=os.environ.get("ATTUNE_HANDOFF_DATABASE_URL", DEFAULT_DATABASE),
            help="the handoff service's database (default: ATTUNE_HANDOFF_DATABASE_URL or "
            f"{DEFAULT_DATABASE})",
        )


def _operator() -> str:
    try:
        return getpass.getuser()
    except (KeyError, OSError):
        return "unknown operator"


def _password(args: argparse.Namespace, stdin: TextIO) -> tuple[str, bool]:
    """The password to set and whether it was generated (and must be shown)."""
    if args.password_stdin:
        return agent_admin.check_password(stdin.readline().rstrip("\r\n")), False
    return agent_admin.generate_password(), True


def run(args: argparse.Namespace, stdin: TextIO | None = None) -> int:
    upgrade_to_head(args.database_url)
    engine = create_engine_for(args.database_url)
    try:
        return _run(args, engine, stdin or sys.stdin)
    except agent_admin.AccountError as error:
        print(f"attune agents: {error}", file=sys.stderr)
        return 2
    finally:
        engine.dispose()


def _run(args: argparse.Namespace, engine: Engine, stdin: TextIO) -> int:
    command, operator = args.agents_command, _operator()
    if command == "list":
        for row in agent_admin.accounts(engine):
            print(f"{row.username}\t{row.role}\t{row.status}\t{row.display_name}")
        return 0
    if command == "disable":
        agent_admin.disable(engine, args.username, operator)
        print(f"disabled {args.username}; its sessions ended")
        return 0
    password, generated = _password(args, stdin)
    if command == "add":
        agent_admin.add(engine, args.username, args.name, args.role, password, operator)
        print(f"added {args.username} ({args.role})")
    else:
        agent_admin.reset_password(engine, args.username, password, operator)
        print(f"new password set for {args.username}; its sessions ended")
    if generated:
        # Shown this once: only its scrypt hash is stored.
        print(f"password: {password}")
    return 0
