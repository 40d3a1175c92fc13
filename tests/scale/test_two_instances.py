"""Two Rasa servers serving the same conversations: every message lands once, in order, one handoff.

Six conversations run at once.  Each sends its messages to instance A, instance B and the load
balancer in turn, in three kinds of turn:

- one at a time: the next message goes (to another instance) once the reply to this one is back;
- overlapping: the next message goes to the other instance while this one is being served (its
  conversation's lock is in Redis), so it has to wait for it and come after it;
- at once: two messages to A and B at the same moment; either may go first, each is its own turn.

Four of the conversations ask for a person, on another instance than their previous message, and
then their handoff is retried: the action call Rasa made is sent again to both action servers at
once, as a load balancer retrying a slow upstream would.  Afterwards both instances' trackers
and the handoff queue are compared with what was sent.
"""

import asyncio
import uuid
from collections import Counter
from dataclasses import dataclass, field
from typing import Any
from urllib.parse import quote

import aiohttp
import pytest
import redis.asyncio

from handoff.shared.conversation_ids import rest_conversation
from tests.support.cluster import LOCK_KEY_PREFIX, Cluster

pytestmark = pytest.mark.integration

CONVERSATIONS = 6
ASKING = range(4)  # these conversations ask for a person
TIMEOUT = aiohttp.ClientTimeout(total=180)
HANDOFF_WAIT_SECONDS = 30


@dataclass
class Sent:
    text: str
    route: str  # "a", "b" or "lb"
    status: int = 0
    replies: list[str] = field(default_factory=list)


@dataclass
class Conversation:
    sender: str  # what the REST client sends
    asks_for_person: bool
    # What the tracker must hold, in order: a text, or a set of texts sent at once (any order).
    expected: list[str | frozenset[str]] = field(default_factory=list)
    sent: dict[str, Sent] = field(default_factory=dict)
    # Overlapping turns whose second message was sent while the first held the lock.
    overlapped: int = 0
    retried_statuses: list[int] = field(default_factory=list)
    trackers: dict[str, dict[str, Any]] = field(default_factory=dict)

    @property
    def id(self) -> str:
        """The conversation id Rasa keys it by: the REST channel's namespace + the sender."""
        return rest_conversation(self.sender)

    @property
    def path(self) -> str:
        return f"conversations/{quote(self.id, safe='')}"


@dataclass(frozen=True)
class Observed:
    conversations: list[Conversation]
    handoffs: list[dict[str, Any]]


class Driver:
    def __init__(self, cluster: Cluster, session: aiohttp.ClientSession, locks: redis.asyncio.Redis) -> None:
        self.cluster = cluster
        self.session = session
        self.locks = locks
        self.urls = {"a": cluster.rasa_a, "b": cluster.rasa_b, "lb": cluster.rasa_lb}

    async def send(self, conversation: Conversation, text: str, route: str) -> Sent:
        sent = conversation.sent[text] = Sent(text, route)
        async with self.session.post(
            f"{self.urls[route]}/webhooks/rest/webhook",
            json={"sender": conversation.sender, "message": text},
            timeout=TIMEOUT,
        ) as response:
            sent.status = response.status
            sent.replies = [reply.get("text", "") for reply in await response.json(content_type=None)]
        return sent

    async def one(self, conversation: Conversation, text: str, route: str) -> None:
        conversation.expected.append(text)
        await self.send(conversation, text, route)

    async def overlapping(
        self, conversation: Conversation, first: tuple[str, str], then: tuple[str, str]
    ) -> None:
        conversation.expected += [first[0], then[0]]
        serving = asyncio.create_task(self.send(conversation, *first))
        # Rasa's lock store holds the conversation's lock while it serves the first message.
        while not serving.done() and not await self.locks.exists(LOCK_KEY_PREFIX + conversation.id):
            await asyncio.sleep(0.002)
        conversation.overlapped += not serving.done()
        await asyncio.gather(serving, self.send(conversation, *then))

    async def at_once(self, conversation: Conversation, *messages: tuple[str, str]) -> None:
        conversation.expected.append(frozenset(text for text, _ in messages))
        await asyncio.gather(*(self.send(conversation, text, route) for text, route in messages))

    async def retry_handoff(self, conversation: Conversation, rasa: str) -> None:
        """Sends action_handoff for this conversation again, to both action servers at once."""
        auth = {"token": self.cluster.token}
        async with self.session.get(
            f"{rasa}/{conversation.path}/tracker", params={**auth, "include_events": "ALL"}
        ) as response:
            tracker = await response.json()
        json_please = {"Accept": "application/json"}
        async with self.session.get(f"{rasa}/domain", params=auth, headers=json_please) as response:
            domain = await response.json()
        async with self.session.get(f"{rasa}/version") as response:
            version = (await response.json())["version"]
        call = {
            "next_action": "action_handoff",
            "sender_id": conversation.id,
            "tracker": tracker,
            "domain": domain,
            "version": version,
        }

        async def post(actions: str) -> int:
            async with self.session.post(f"{actions}/webhook", json=call, timeout=TIMEOUT) as response:
                await response.read()
                return response.status

        conversation.retried_statuses = list(
            await asyncio.gather(post(self.cluster.actions_a), post(self.cluster.actions_b))
        )

    async def converse(self, index: int) -> Conversation:
        conversation = Conversation(f"scale-{index}-{uuid.uuid4().hex[:8]}", index in ASKING)
        x, y = ("a", "b") if index % 2 == 0 else ("b", "a")
        # A new conversation: both instances would start its session.
        await self.at_once(conversation, ("hello", x), ("where is my order 10002?", y))
        await self.one(conversation, "and order 10007?", "lb" if index in (2, 5) else y)
        await self.overlapping(conversation, ("and order 10001?", x), ("what about order 10010?", y))
        if conversation.asks_for_person:
            await self.one(conversation, "human please", x)  # the previous message went to y
            await self.retry_handoff(conversation, self.urls[y])
        else:
            await self.one(conversation, "is order 10005 delivered?", x)
        await self.at_once(conversation, ("thanks", "a"), ("can you check order 10008?", "b"))
        await self.one(conversation, "bye", "lb")
        return conversation

    async def tracker(self, rasa: str, conversation: Conversation) -> dict[str, Any]:
        async with self.session.get(
            f"{rasa}/{conversation.path}/tracker", params={"token": self.cluster.token}
        ) as response:
            assert response.status == 200
            return dict(await response.json())

    async def queued_handoffs(self) -> list[dict[str, Any]]:
        async with self.session.get(
            f"{self.cluster.handoff_url}/api/v1/handoffs",
            params={"status": "queued", "limit": "1000"},
            headers={"Authorization": f"Bearer {self.cluster.handoff_token}"},
        ) as response:
            assert response.status == 200
            return list((await response.json())["handoffs"])


async def observe(cluster: Cluster) -> Observed:
    async with (
        aiohttp.ClientSession() as session,
        redis.asyncio.Redis(host="127.0.0.1", port=cluster.redis_port, db=1) as locks,
    ):
        driver = Driver(cluster, session, locks)
        conversations = list(await asyncio.gather(*(driver.converse(n) for n in range(CONVERSATIONS))))
        for conversation in conversations:
            for name, rasa in (("a", cluster.rasa_a), ("b", cluster.rasa_b)):
                conversation.trackers[name] = await driver.tracker(rasa, conversation)
        # A handoff the service did not confirm at once is still on its way from an outbox.
        asking = {c.id for c in conversations if c.asks_for_person}
        for _ in range(HANDOFF_WAIT_SECONDS * 2):
            handoffs = await driver.queued_handoffs()
            if asking <= {h["conversation_id"] for h in handoffs}:
                break
            await asyncio.sleep(0.5)
        return Observed(conversations, handoffs)


@pytest.fixture(scope="module")
def observed(cluster: Cluster) -> Observed:
    return asyncio.run(observe(cluster))


def turns(tracker: dict[str, Any]) -> list[tuple[str, list[str]]]:
    """Each user message in the tracker with the bot's replies up to the next one."""
    found: list[tuple[str, list[str]]] = []
    for event in tracker["events"]:
        if event["event"] == "user":
            found.append((event["text"], []))
        elif event["event"] == "bot" and found:
            found[-1][1].append(event.get("text") or "")
    return found


def grouped_like(
    expected: list[str | frozenset[str]], users: list[str]
) -> tuple[list[str | frozenset[str]], list[str]]:
    """``users`` cut into the shape of ``expected`` (sets where messages went at once), and the rest."""
    grouped: list[str | frozenset[str]] = []
    for item in expected:
        size = 1 if isinstance(item, str) else len(item)
        chunk, users = users[:size], users[size:]
        grouped.append(chunk[0] if isinstance(item, str) and len(chunk) == 1 else frozenset(chunk))
    return grouped, users


def test_every_message_was_answered(observed: Observed) -> None:
    for conversation in observed.conversations:
        for sent in conversation.sent.values():
            assert (sent.status, bool(sent.replies)) == (200, True), (conversation.id, sent)


def test_every_message_is_in_the_tracker_once_and_in_the_order_sent(observed: Observed) -> None:
    for conversation in observed.conversations:
        users = [text for text, _ in turns(conversation.trackers["a"])]
        assert grouped_like(conversation.expected, users) == (conversation.expected, []), conversation.id


def test_each_conversation_started_once(observed: Observed) -> None:
    # Its first two messages reached both instances at once; only one may start the session.
    for conversation in observed.conversations:
        events = [event["event"] for event in conversation.trackers["a"]["events"]]
        assert events.count("session_started") == 1, conversation.id


def test_each_turn_holds_the_replies_its_sender_got(observed: Observed) -> None:
    # Two instances serving one conversation at once would mix their replies, or lose a turn's.
    for conversation in observed.conversations:
        recorded = turns(conversation.trackers["a"])
        got = [(text, conversation.sent[text].replies) for text, _ in recorded]
        assert recorded == got, conversation.id


def test_every_message_knew_its_customer(observed: Observed) -> None:
    # Each instance's consent gate asks the handoff service who the customer is, also for a new
    # conversation's first two messages arriving at once: one customer, emotions analysed.
    for conversation in observed.conversations:
        gates = [
            (event.get("metadata") or {}).get("attune") or {}
            for event in conversation.trackers["a"]["events"]
            if event["event"] == "user"
        ]
        assert {gate.get("emotion_processing") for gate in gates} == {"on"}, conversation.id
        assert len({gate.get("customer") for gate in gates}) == 1, conversation.id


def test_both_instances_return_the_same_tracker(observed: Observed) -> None:
    for conversation in observed.conversations:
        assert conversation.trackers["a"] == conversation.trackers["b"], conversation.id


def test_overlapping_messages_waited_for_the_lock(observed: Observed) -> None:
    # The lock is held for the whole turn (NLU, actions, tracker saved): the second message of
    # nearly every overlapping pair reached the other instance while it was held.
    overlapped = sum(conversation.overlapped for conversation in observed.conversations)
    assert overlapped >= CONVERSATIONS - 1


def test_one_handoff_per_conversation_that_asked_for_a_person(observed: Observed) -> None:
    ours = {conversation.id: conversation for conversation in observed.conversations}
    handoffs = Counter(h["conversation_id"] for h in observed.handoffs if h["conversation_id"] in ours)
    expected = {c.id: 1 for c in observed.conversations if c.asks_for_person}
    assert dict(handoffs) == expected


def test_the_retried_handoff_calls_were_answered(observed: Observed) -> None:
    for conversation in observed.conversations:
        if conversation.asks_for_person:
            assert conversation.retried_statuses == [200, 200], conversation.id
