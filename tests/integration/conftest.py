"""One stack for the whole package, started through the README's run path (tests/support/stack.py)."""

import sqlite3
from collections.abc import Iterator

import pytest

from tests.support.stack import RunningStack, start_stack
from tests.support.twilio_fake import FakeTwilioThread


@pytest.fixture(scope="package")
def twilio() -> Iterator[FakeTwilioThread]:
    with FakeTwilioThread() as fake:
        yield fake


@pytest.fixture(scope="package")
def stack(tmp_path_factory: pytest.TempPathFactory, twilio: FakeTwilioThread) -> Iterator[RunningStack]:
    with start_stack(tmp_path_factory.mktemp("var"), twilio) as running:
        # The tests share one stack and its demo accounts, and many leave a handoff claimed: with the
        # shipped capacity (3) the demo agent would be "full" and find no Claim button in later tests.
        # Capacity itself is tested on its own (tests/handoff/history, tests/handoff/workspace).
        with sqlite3.connect(running.var_dir / "handoff.db") as db:
            db.execute("UPDATE agents SET capacity = 1000")
        yield running
