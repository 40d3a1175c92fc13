"""Kill -9 each of the three processes during a burst of 50 customers asking for a person.

The stack runs as ``make run`` runs it (the launcher supervises its children).  Whatever is
killed, every customer must end with a true reply, every handoff they were told about must be in
the handoff service's database exactly once, and the launcher must have restarted the process.
Timings are printed (and measured properly by ``make bench-faults``), not asserted.
"""

import asyncio
import os
import time
from collections.abc import Iterator

import pytest

from bench.faults import PROCESSES, format_table, kill_child, run_burst
from tests.support.stack import RunningStack, start_stack
from tests.support.twilio_fake import FakeTwilioThread

pytestmark = pytest.mark.integration
CONVERSATIONS = int(os.environ.get("ATTUNE_FAULT_CONVERSATIONS", "50"))


@pytest.fixture(scope="module")
def stack(tmp_path_factory: pytest.TempPathFactory) -> Iterator[RunningStack]:
    with FakeTwilioThread() as twilio, start_stack(tmp_path_factory.mktemp("faults"), twilio) as running:
        yield running


def _health(stack: RunningStack, name: str) -> str:
    return {
        "rasa": f"{stack.rasa_url}/",
        "actions": f"{stack.actions_url}/health",
        "handoff": f"{stack.handoff_url}/healthz",
    }[name]


@pytest.mark.parametrize("name", PROCESSES)
def test_killing_a_process_loses_no_handoff_and_tells_no_customer_anything_untrue(
    stack: RunningStack, name: str
) -> None:
    killed = stack.pid_of(name)
    report = asyncio.run(
        run_burst(
            stack.rasa_url,
            stack.var_dir / "handoff.db",
            lambda: kill_child(stack.var_dir / "run" / f"{name}.pid"),
            name,
            CONVERSATIONS,
            health_url=_health(stack, name),
        )
    )
    print(f"\n{format_table([report])}")
    assert report.problems == [], "\n".join(report.problems[:20])
    assert (report.lost, report.duplicated, report.untrue, report.server_errors) == (0, 0, 0, 0)
    assert report.acknowledged == report.delivered == CONVERSATIONS
    # The launcher restarted it and kept running.
    deadline = time.monotonic() + 60
    while stack.pid_of(name) == killed and time.monotonic() < deadline:
        time.sleep(0.5)
    assert stack.pid_of(name) != killed
    assert stack.launcher.poll() is None
