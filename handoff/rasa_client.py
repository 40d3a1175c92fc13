"""Talking to the Rasa server's HTTP API for a handed-off conversation: pause, relay, resume.

Rasa stops predicting for a conversation after a ``pause`` event (ConversationPaused) and
carries on after ``resume``.  Agent messages reach the customer through the conversation's
latest channel: the ``agent_message`` slot is set and the ``utter_agent_message`` response
(whose text is that slot) is executed with ``output_channel=latest``.
"""

import asyncio
from dataclasses import dataclass
from typing import Any

import aiohttp

TIMEOUT_SECONDS = 5.0
AGENT_RESPONSE = "utter_agent_message"


class RasaUnavailable(Exception):
    """The Rasa server did not answer or refused the call."""


@dataclass(frozen=True)
class RasaClient:
    session: aiohttp.ClientSession
    base_url: str
    token: str | None

    def _url(self, conversation_id: str, path: str) -> str:
        return f"{self.base_url}/conversations/{conversation_id}/{path}"

    def _params(self, **extra: str) -> dict[str, str]:
        return {**({"token": self.token} if self.token else {}), **extra}

    async def _post(self, url: str, body: Any, **params: str) -> Any:
        try:
            async with self.session.post(
                url,
                json=body,
                params=self._params(**params),
                timeout=aiohttp.ClientTimeout(total=TIMEOUT_SECONDS),
            ) as response:
                if response.status >= 400:
                    raise RasaUnavailable(f"Rasa answered {response.status}: {(await response.text())[:200]}")
                return await response.json(content_type=None)
        except (aiohttp.ClientError, asyncio.TimeoutError) as error:
            raise RasaUnavailable(f"{type(error).__name__}: {error}") from error

    async def append_events(self, conversation_id: str, events: list[dict[str, Any]]) -> None:
        await self._post(self._url(conversation_id, "tracker/events"), events)

    async def say(self, conversation_id: str, response: str, slots: dict[str, Any] | None = None) -> None:
        """Sends a domain response to the customer on their latest channel (slots first, for its text)."""
        if slots:
            await self.append_events(
                conversation_id,
                [{"event": "slot", "name": name, "value": value} for name, value in slots.items()],
            )
        await self._post(self._url(conversation_id, "execute"), {"name": response}, output_channel="latest")

    async def pause(self, conversation_id: str) -> None:
        await self.append_events(conversation_id, [{"event": "pause"}])

    async def resume(self, conversation_id: str) -> None:
        await self.append_events(conversation_id, [{"event": "resume"}])

    async def hand_back(self, conversation_id: str) -> None:
        """Resumes the bot, tells the customer, and leaves the dialogue ready for their next message.

        The bot remembers the handoff (``handoff_status: resolved``); the run of failed attempts is
        over because a person dealt with it; and the turn ends with ``action_listen``, as every
        turn the bot itself finishes does, so the next message is read like any other.
        """
        await self.resume(conversation_id)
        await self.say(conversation_id, "utter_handback")
        await self.append_events(
            conversation_id,
            [
                {"event": "slot", "name": "handoff_status", "value": "resolved"},
                {"event": "slot", "name": "failed_attempts", "value": 0.0},
                {"event": "action", "name": "action_listen"},
            ],
        )

    async def messages(self, conversation_id: str) -> list[dict[str, Any]]:
        """The conversation's user and bot messages, oldest first."""
        try:
            async with self.session.get(
                self._url(conversation_id, "tracker"),
                params=self._params(),
                timeout=aiohttp.ClientTimeout(total=TIMEOUT_SECONDS),
            ) as response:
                if response.status >= 400:
                    raise RasaUnavailable(f"Rasa answered {response.status}")
                tracker = await response.json()
        except (aiohttp.ClientError, asyncio.TimeoutError) as error:
            raise RasaUnavailable(f"{type(error).__name__}: {error}") from error
        return [
            {
                "speaker": _speaker(e),
                "text": e.get("text") or "",
                "at": e.get("timestamp"),
            }
            for e in tracker.get("events", [])
            if e.get("event") in ("user", "bot") and e.get("text")
        ]


def _speaker(event: dict[str, Any]) -> str:
    if event.get("event") == "user":
        return "customer"
    metadata = event.get("metadata") or {}
    return "agent" if metadata.get("utter_action") == AGENT_RESPONSE else "bot"
