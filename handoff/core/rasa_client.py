"""Talking to the Rasa server's HTTP API for a handed-off conversation: pause, relay, resume.

Rasa stops predicting for a conversation after a ``pause`` event (ConversationPaused) and
carries on after ``resume``.  Agent messages reach the customer on the channel that owns the
conversation (handoff/shared/conversation_ids.py): the ``agent_name`` and ``agent_message`` slots
are set and the ``utter_agent_message`` response (whose text is made of them) is executed with
``output_channel=<channel_of(conversation id)>`` -- never "latest", which was whichever client
last wrote to that id.  An id from before namespacing names no channel and is refused as
undeliverable.

Conversation ids are client-chosen text (a REST sender can be ``victim/tracker?x=``), so every
path segment is percent-encoded with ``quote(id, safe="")``: "/", "?", "#", "%" and the rest can
never leave their segment.  Rasa 3.6 (Sanic 21.12) does not decode path parameters itself; the
Rasa side's request middleware decodes the ``conversation_id`` parameter.

Every message sent this way ends the turn with ``action_listen``, as every turn the bot finishes
itself does: ``/execute`` alone leaves the conversation mid-turn, and the customer's next message
would then be misread (Rasa falls back and rewinds it: an opt-out after a wait notice was lost).
"""

import asyncio
from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any, Final
from urllib.parse import quote

import aiohttp
from yarl import URL

from handoff.core.models import RESOLVED
from handoff.shared.conversation_ids import Channel, channel_of

TIMEOUT_SECONDS = 5.0
AGENT_RESPONSE = "utter_agent_message"
AGENT_NAME_SLOT: Final = "agent_name"  # the slots utter_agent_message's text is made of
AGENT_MESSAGE_SLOT: Final = "agent_message"
LISTEN: Final = {"event": "action", "name": "action_listen"}
# Ending the turn is retried a little: the message is out, and sending it again would repeat it.
LISTEN_ATTEMPTS = 3
LISTEN_PAUSE_SECONDS = 0.2


class RasaUnavailable(Exception):
    """The Rasa server did not answer or refused the call."""


class Undeliverable(RasaUnavailable):
    """The conversation id names no channel (stored before ids were namespaced): a message to it
    could only go to "the latest channel", which is how replies reached the wrong client.
    """


def deliverable(conversation_id: str) -> Channel:
    """The channel that delivers to this conversation, or Undeliverable."""
    channel = channel_of(conversation_id)
    if channel is None:
        raise Undeliverable(f"conversation id {conversation_id!r} names no channel to deliver to")
    return channel


def conversation_segment(conversation_id: str) -> str:
    """The id as one percent-encoded path segment of ``/conversations/{id}/...``."""
    segment = quote(conversation_id, safe="")
    # "." and ".." are the only segments quote() leaves that a client or proxy would resolve away.
    return segment.replace(".", "%2E") if segment in (".", "..") else segment


@dataclass(frozen=True)
class RasaClient:
    session: aiohttp.ClientSession
    base_url: str
    token: str | None

    def _url(self, conversation_id: str, path: str) -> URL:
        # encoded=True: the segment is sent exactly as quoted here (yarl would otherwise requote it).
        return URL(
            f"{self.base_url}/conversations/{conversation_segment(conversation_id)}/{path}", encoded=True
        )

    def _params(self, **extra: str) -> dict[str, str]:
        return {**({"token": self.token} if self.token else {}), **extra}

    async def _post(self, url: URL, body: Any, **params: str) -> Any:
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

    async def say(
        self,
        conversation_id: str,
        response: str,
        slots: Mapping[str, Any] | None = None,
        after: list[dict[str, Any]] | None = None,
    ) -> None:
        """Sends a domain response to the customer on their conversation's channel, then ends the turn.

        ``slots`` are set first (for the response's text); ``after`` events go with the closing
        ``action_listen``, so the conversation is left listening for the customer's next message.
        """
        channel = deliverable(conversation_id)  # first: nothing is written to a conversation we cannot answer
        if slots:
            await self.append_events(
                conversation_id,
                [{"event": "slot", "name": name, "value": value} for name, value in slots.items()],
            )
        await self._post(self._url(conversation_id, "execute"), {"name": response}, output_channel=channel)
        await self._end_turn(conversation_id, [*(after or []), LISTEN])

    async def relay(self, conversation_id: str, agent_name: str, text: str) -> None:
        """A person's reply to the customer, sent with who wrote it.

        Both slots are set with each message (the slots of a long handoff can be reset by a new
        session): every channel gets the text ``"<name>: <text>"``; the web chat also gets the name
        and the message as data (``utter_agent_message`` in domain.yml), and shows it as theirs.
        """
        await self.say(
            conversation_id, AGENT_RESPONSE, {AGENT_NAME_SLOT: agent_name, AGENT_MESSAGE_SLOT: text}
        )

    async def _end_turn(self, conversation_id: str, events: list[dict[str, Any]]) -> None:
        for attempt in range(LISTEN_ATTEMPTS):
            try:
                await self.append_events(conversation_id, events)
                return
            except RasaUnavailable:
                if attempt + 1 == LISTEN_ATTEMPTS:
                    raise
                await asyncio.sleep(LISTEN_PAUSE_SECONDS * (attempt + 1))

    async def trigger_intent(self, conversation_id: str, intent: str) -> None:
        """Makes the bot act as if the customer had sent ``intent`` (Rasa's ``trigger_intent``): it
        predicts and runs what follows, and its replies go out on the conversation's channel, never
        "latest".  The turn ends listening, as any turn Rasa finishes itself.  A paused conversation
        (a person has it) gets no reply: Rasa does not predict for it.
        """
        channel = deliverable(conversation_id)
        await self._post(
            self._url(conversation_id, "trigger_intent"),
            {"name": intent, "entities": {}},
            output_channel=channel,
        )

    async def pause(self, conversation_id: str) -> None:
        await self.append_events(conversation_id, [{"event": "pause"}])

    async def resume(self, conversation_id: str) -> None:
        await self.append_events(conversation_id, [{"event": "resume"}])

    async def say_handed_back(self, conversation_id: str) -> None:
        """Tells the customer the bot is back (after ``resume``), and leaves the dialogue ready for
        their next message.

        The bot remembers the handoff (``handoff_status: resolved``); the run of failed attempts is
        over because a person dealt with it; and the turn ends with ``action_listen`` (``say``).
        """
        await self.say(
            conversation_id,
            "utter_handback",
            after=[
                {"event": "slot", "name": "handoff_status", "value": RESOLVED},
                {"event": "slot", "name": "failed_attempts", "value": 0.0},
            ],
        )

    async def messages(self, conversation_id: str) -> list[dict[str, Any]]:
        """The conversation's user and bot messages, oldest first."""
        return [_line(e) for e in await self._events(conversation_id) if _is_message(e)]

    async def human_part(self, conversation_id: str) -> list[dict[str, Any]]:
        """The messages while a person had the conversation: after its latest ``pause`` (the claim) and
        before the ``resume`` that followed it (the resolve), oldest first; none if it was never paused.
        """
        events = await self._events(conversation_id)
        paused = [n for n, e in enumerate(events) if isinstance(e, dict) and e.get("event") == "pause"]
        if not paused:
            return []
        lines = []
        for event in events[paused[-1] + 1 :]:
            if isinstance(event, dict) and event.get("event") == "resume":
                break
            if _is_message(event):
                lines.append(_line(event))
        return lines

    async def _events(self, conversation_id: str) -> list[Any]:
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
        events = tracker.get("events") if isinstance(tracker, dict) else None
        return events if isinstance(events, list) else []


def _is_message(event: Any) -> bool:
    """A user or bot message with text; not a triggered intent (the idle CSAT trigger's user event,
    "EXTERNAL: …", is Rasa's bookkeeping, nothing the customer wrote).
    """
    if not isinstance(event, dict) or event.get("event") not in ("user", "bot") or not event.get("text"):
        return False
    metadata = event.get("metadata")
    return not (isinstance(metadata, dict) and metadata.get("is_external") is True)


def _line(event: dict[str, Any]) -> dict[str, Any]:
    return {"speaker": _speaker(event), "text": event.get("text") or "", "at": event.get("timestamp")}


def _speaker(event: dict[str, Any]) -> str:
    if event.get("event") == "user":
        return "customer"
    metadata = event.get("metadata") or {}
    return "agent" if metadata.get("utter_action") == AGENT_RESPONSE else "bot"
