"""Handoffs and customers for the history tests (built through the service's own functions)."""

import copy
import json
import uuid
from typing import Any

from aiohttp.test_utils import TestClient
from sqlalchemy import select
from sqlalchemy.orm import Session

from handoff.core.app_keys import ENGINE
from handoff.core.models import Agent
from handoff.privacy import customers
from handoff.queue import handoffs
from handoff.shared.schema_file import EXAMPLE_FILE

PII = "ada@example.com, 07700 900123, 12 Acacia Avenue"


def payload(pseudonym: str = "cust-0000000000000000", order: str = "55556", text: str = "") -> dict[str, Any]:
    document = copy.deepcopy(json.loads(EXAMPLE_FILE.read_text()))
    document["idempotency_key"] = uuid.uuid4().hex
    document["conversation_id"] = f"web:{uuid.uuid4().hex}"
    document["customer"]["pseudonym"] = pseudonym
    document["slots"]["order_id"] = order
    document["summary"] += f" Customer: {PII}."
    document["transcript"][0]["text"] = text or f"where is {order}? I'm {PII}"
    return document


def add(service: TestClient, **changes: Any) -> str:
    stored, _ = handoffs.accept_handoff(service.app[ENGINE], payload(**changes))
    return stored.id


def verified_customer(service: TestClient, login_id: str) -> str:
    """A customer the service resolved from a signed login id (a verified identity)."""
    found = customers.resolve(
        service.app[ENGINE], [customers.normalise("id", login_id)], customers.Linking(may_merge=True)
    )
    assert found.customer is not None
    return found.customer


def anonymous_customer(service: TestClient, sender: str) -> str:
    """A customer known only by a REST sender the client chose (never verified)."""
    found = customers.resolve(
        service.app[ENGINE],
        [customers.normalise("session", f"rest:{sender}")],
        customers.Linking(may_merge=True),
    )
    assert found.customer is not None
    return found.customer


def agent_id(service: TestClient, username: str) -> int:
    with Session(service.app[ENGINE]) as session:
        return int(session.execute(select(Agent.id).where(Agent.username == username)).scalar_one())
