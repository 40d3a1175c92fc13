"""Two Rasa servers on one PostgreSQL tracker store handle each Twilio message once.

Issue 14: a captured, validly signed webhook could be sent again and was a new customer message,
answered by another SMS.  Behind a load balancer the copy can reach the other Rasa server, so the
message ids are kept in the shared tracker store's database (bot/components/message_receipts.py).
Twilio signs for the public URL, rasa-lb's; the test posts to each instance directly.
"""

import asyncio
import uuid
from typing import Any
from urllib.parse import quote

import aiohttp
import pytest
from sqlalchemy import create_engine, text

from tests.support.cluster import Cluster
from tests.support.twilio_fake import FakeTwilio

pytestmark = pytest.mark.integration

WEBHOOK = "/webhooks/twilio/webhook"


def number() -> str:
    return f"+44770093{uuid.uuid4().int % 10_000:04d}"


def bodies_to(fake: FakeTwilio, customer: str) -> list[str]:
    return [m.get("Body", "") for m in list(fake.messages) if m.get("To") == customer]


async def user_texts(cluster: Cluster, rasa: str, conversation: str) -> list[str]:
    url = f"{rasa}/conversations/{quote(conversation, safe='')}/tracker"
    async with (
        aiohttp.ClientSession() as session,
        session.get(url, params={"token": cluster.token}) as response,
    ):
        assert response.status == 200, await response.text()
        tracker: dict[str, Any] = await response.json()
    return [e["text"] for e in tracker["events"] if e["event"] == "user"]


def receipts_of(cluster: Cluster, sid: str) -> int:
    engine = create_engine(cluster.tracker_database_url, future=True)
    try:
        with engine.connect() as connection:
            query = text("SELECT count(*) FROM twilio_inbound_messages WHERE message_sid = :sid")
            return int(connection.execute(query, {"sid": sid}).scalar_one())
    finally:
        engine.dispose()


async def test_a_message_replayed_to_the_other_instance_is_not_handled_again(cluster: Cluster) -> None:
    fake, customer = cluster.twilio.fake, number()
    public = cluster.rasa_lb + WEBHOOK
    webhook = fake.incoming_message(
        cluster.rasa_a + WEBHOOK, customer, "where is my order 10002?", public_url=public
    )
    assert (await fake.deliver(webhook))[0] == 200
    answered = bodies_to(fake, customer)
    assert answered, "instance A did not answer by SMS"

    replays = await asyncio.gather(*(fake.deliver(webhook, rasa + WEBHOOK) for rasa in (cluster.rasa_b,) * 3))

    assert [status for status, _ in replays] == [200, 200, 200]
    assert await user_texts(cluster, cluster.rasa_b, f"sms:{customer}") == ["where is my order 10002?"]
    assert bodies_to(fake, customer) == answered
    assert receipts_of(cluster, webhook.params["MessageSid"]) == 1


async def test_one_message_delivered_to_both_instances_at_once_is_handled_once(cluster: Cluster) -> None:
    fake, customer = cluster.twilio.fake, number()
    webhook = fake.incoming_message(
        cluster.rasa_a + WEBHOOK, customer, "hello", public_url=cluster.rasa_lb + WEBHOOK
    )

    results = await asyncio.gather(
        *(fake.deliver(webhook, rasa + WEBHOOK) for rasa in (cluster.rasa_a, cluster.rasa_b))
    )

    assert [status for status, _ in results] == [200, 200]
    assert await user_texts(cluster, cluster.rasa_a, f"sms:{customer}") == ["hello"]
