"""The demo mailbox of a running stack, read the way the README's tour reads it.

The demo store has no mail server: one-time codes and reset links are written to its database
(actions/store/mailbox.py) and ``python -m actions.store outbox --to ADDRESS`` prints them.
"""

import os
import re
import subprocess
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parents[2]
CODE = re.compile(r"Your Parcelpine code is (\d{6})\b")


def outbox(var_dir: Path, address: str) -> str:
    """What ``python -m actions.store outbox --to ADDRESS`` prints for the stack in ``var_dir``."""
    env = {k: v for k, v in os.environ.items() if not k.startswith("ATTUNE_")}
    env["ATTUNE_STORE_DATABASE_URL"] = f"sqlite:///{var_dir / 'store.db'}"
    command = [sys.executable, "-m", "actions.store", "outbox", "--to", address, "--limit", "1"]
    done = subprocess.run(command, cwd=ROOT, env=env, capture_output=True, text=True, timeout=60, check=True)
    return done.stdout


def latest_code(var_dir: Path, address: str) -> str | None:
    """The one-time code in the newest message to ``address``, if that message carries one."""
    found = CODE.search(outbox(var_dir, address))
    return found.group(1) if found else None
