"""One stack for the whole package, started through the README's run path (tests/support/stack.py)."""

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
        yield running
