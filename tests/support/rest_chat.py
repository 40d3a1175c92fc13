"""Talking to the running Rasa server over its REST channel, as a test's customer."""

import uuid
from typing import Any

import aiohttp

from tests.support.stack import RunningStack


async def rest(
    stack: RunningStack, message: Any, sender: str | None = None, headers: dict[str, str] | None = None
) -> tuple[int, Any]:
    """Sends ``message`` to Rasa's REST channel (a new sender unless given); returns status and replies."""
    async with (
        aiohttp.ClientSession() as session,
        session.post(
            f"{stack.rasa_url}/webhooks/rest/webhook",
            json={"sender": sender or uuid.uuid4().hex, "message": message},
            headers=headers or {},
            timeout=aiohttp.ClientTimeout(total=60),
        ) as response,
    ):
        return response.status, await response.json(content_type=None)


def texts(replies: list[dict[str, Any]]) -> str:
    """The replies' texts in one string."""
    return " ".join(reply.get("text", "") for reply in replies)
