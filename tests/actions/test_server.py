"""The action server's entry point: the background senders live as long as the server does."""

import asyncio
from types import SimpleNamespace
from typing import Any

import pytest

from actions import server
from actions.background import Repeating


class Ticking(Repeating):
    def __init__(self, label: str) -> None:
        super().__init__(interval=0.01)
        self.label = label
        self.ticks = 0

    @property
    def name(self) -> str:
        return self.label

    async def tick(self) -> None:
        self.ticks += 1


def app() -> Any:
    return SimpleNamespace(ctx=SimpleNamespace())


async def test_the_senders_start_with_the_server_and_stop_with_it() -> None:
    running = app()
    tasks = [Ticking("outbox"), Ticking("audit")]

    await server.start_background(running, lambda: tasks)
    await asyncio.sleep(0.1)
    ticked = [task.ticks for task in tasks]
    await server.stop_background(running)

    assert all(n > 1 for n in ticked)  # on their own timer, with no action run
    assert not any(task.running for task in tasks)


async def test_senders_whose_store_is_not_ready_are_started_once_it_is() -> None:
    running = app()
    tasks = [Ticking("outbox")]
    tries = []

    def not_yet() -> list[Repeating]:
        tries.append(1)
        if len(tries) < 3:
            raise ConnectionError("database starting up")
        return list(tasks)

    await server.start_background(running, not_yet, retry=0.01)
    await asyncio.sleep(0.05)
    await server.stop_background(running)

    assert len(tries) == 3 and tasks[0].ticks > 0


async def test_a_failing_pass_does_not_end_a_sender() -> None:
    class Flaky(Ticking):
        async def tick(self) -> None:
            await super().tick()
            if self.ticks == 1:
                raise RuntimeError("the service answered nonsense")

    flaky = Flaky("flaky")
    flaky.ensure_running()
    await asyncio.sleep(0.1)
    await flaky.stop()

    assert flaky.ticks > 2


def test_the_entry_point_runs_only_the_actions_package() -> None:
    with pytest.raises(SystemExit) as stopped:
        server.main(["--actions", "other_actions", "--port", "0"])
    assert stopped.value.code == 2


def test_a_malformed_setting_stops_the_start(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("ATTUNE_HANDOFF_URL", "ftp://nowhere")
    with pytest.raises(SystemExit) as stopped:
        server.main(["--port", "0"])
    assert stopped.value.code == 2
