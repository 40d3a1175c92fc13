"""Reading a Server-Sent Events stream in a test (aiohttp's client): one event at a time, with a deadline."""

import asyncio
import json
from dataclasses import dataclass
from typing import Any

import aiohttp

EVENT_TIMEOUT = 10.0


@dataclass(frozen=True)
class Event:
    kind: str
    data: dict[str, Any]
    id: str | None


async def next_event(response: aiohttp.ClientResponse, timeout: float = EVENT_TIMEOUT) -> Event:
    """The next event of the stream (comments, heartbeats and ``retry:`` lines skipped)."""
    return await asyncio.wait_for(_read(response), timeout)


async def _read(response: aiohttp.ClientResponse) -> Event:
    kind, data, event_id = "message", "", None
    while True:
        raw = await response.content.readline()
        if not raw:
            raise EOFError("the stream ended")
        line = raw.decode().rstrip("\n")
        if not line:
            if data:
                return Event(kind, json.loads(data), event_id)
            kind, event_id = "message", None
            continue
        field, _, value = line.partition(": ")
        if field == "event":
            kind = value
        elif field == "data":
            data += value
        elif field == "id":
            event_id = value


async def event_of(response: aiohttp.ClientResponse, kind: str, timeout: float = EVENT_TIMEOUT) -> Event:
    """The next event of ``kind`` (others before it are skipped)."""

    async def find() -> Event:
        while True:
            event = await _read(response)
            if event.kind == kind:
                return event

    return await asyncio.wait_for(find(), timeout)
