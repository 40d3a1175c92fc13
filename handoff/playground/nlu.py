"""The Rasa server's reading of a message: ``POST /model/parse`` over HTTP with the service's Rasa token.

The handoff service ships without Rasa (pyproject.toml's contracts), so the playground asks the running
Rasa server, as the console already does for conversations (handoff/core/rasa_client.py), and reuses
that client's session, address and token.  Readings are kept per text in a small bounded memory
(``ReadingCache``), so re-scoring a conversation under another draft never parses it again.
"""

import asyncio
from collections import OrderedDict
from collections.abc import Sequence
from typing import Final

import aiohttp

from handoff.core.rasa_client import RasaClient, RasaUnavailable
from handoff.playground.replay import Reading, reading_from_parse

TIMEOUT_SECONDS: Final = 10.0  # a cold model's first parse
CONCURRENT_PARSES: Final = 4
CACHED_READINGS: Final = 4000


class ReadingCache:
    """Readings by text, the least recently used dropped past ``size``."""

    def __init__(self, size: int = CACHED_READINGS) -> None:
        self._size = size
        self._readings: OrderedDict[str, Reading] = OrderedDict()

    def get(self, text: str) -> Reading | None:
        found = self._readings.get(text)
        if found is not None:
            self._readings.move_to_end(text)
        return found

    def put(self, reading: Reading) -> None:
        self._readings[reading.text] = reading
        self._readings.move_to_end(reading.text)
        while len(self._readings) > self._size:
            self._readings.popitem(last=False)


async def parse(rasa: RasaClient, text: str) -> Reading:
    """Rasa's reading of ``text``, or RasaUnavailable."""
    params = {"token": rasa.token} if rasa.token else {}
    try:
        async with rasa.session.post(
            f"{rasa.base_url}/model/parse",
            json={"text": text},
            params=params,
            timeout=aiohttp.ClientTimeout(total=TIMEOUT_SECONDS),
        ) as response:
            if response.status >= 400:
                raise RasaUnavailable(f"Rasa answered {response.status} to /model/parse")
            return reading_from_parse(text, await response.json(content_type=None))
    except (aiohttp.ClientError, asyncio.TimeoutError, ValueError) as error:
        raise RasaUnavailable(f"{type(error).__name__}: {error}") from error


async def readings(rasa: RasaClient, cache: ReadingCache, texts: Sequence[str]) -> list[Reading]:
    """The readings of ``texts``, in order; each distinct text not yet cached is parsed once."""
    missing = list(dict.fromkeys(t for t in texts if cache.get(t) is None))
    gate = asyncio.Semaphore(CONCURRENT_PARSES)

    async def one(text: str) -> None:
        async with gate:
            cache.put(await parse(rasa, text))

    await asyncio.gather(*(one(text) for text in missing))
    found = []
    for text in texts:
        reading = cache.get(text)
        if reading is None:  # pushed out by a huge batch: parse it again
            reading = await parse(rasa, text)
            cache.put(reading)
        found.append(reading)
    return found
