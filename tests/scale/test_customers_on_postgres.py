"""Customers on PostgreSQL when a new customer's first messages reach several instances at once.

Each Rasa instance's consent gate asks the handoff service who the customer is on every message
(``customers.resolve``); for a new conversation those calls race to create the same identities.
"""

import threading
from collections.abc import Callable, Iterator
from concurrent.futures import ThreadPoolExecutor

import pytest
from sqlalchemy.engine import Engine

from handoff.core.db import create_engine_for
from handoff.core.migrate import upgrade_to_head
from handoff.privacy import customers
from handoff.shared.conversation_ids import rest_conversation, web_conversation
from tests.support.datastores import postgres, require_servers
from tests.support.ports import free_port

pytestmark = pytest.mark.integration

CALLERS = 8
FROM_RASA = customers.Linking(may_merge=True)  # the consent gate's authenticated calls


@pytest.fixture(scope="module")
def engine() -> Iterator[Engine]:
    require_servers()
    with postgres(free_port()) as pg:
        pg.create_databases("handoff")
        upgrade_to_head(pg.url("handoff"))
        engine = create_engine_for(pg.url("handoff"))
        yield engine
        engine.dispose()


def at_once(call: Callable[[int], customers.CustomerConsent]) -> list[customers.CustomerConsent]:
    """``call(n)`` from CALLERS threads released together."""
    start = threading.Barrier(CALLERS)

    def caller(n: int) -> customers.CustomerConsent:
        start.wait()
        return call(n)

    with ThreadPoolExecutor(CALLERS) as pool:
        return list(pool.map(caller, range(CALLERS)))


@pytest.mark.parametrize("round_", range(3))
def test_first_lookups_at_once_find_one_customer(engine: Engine, round_: int) -> None:
    identities = [customers.Identity("session", web_conversation(f"{round_:032x}"))]

    found = at_once(lambda _: customers.resolve(engine, identities, FROM_RASA))

    assert len({consent.customer for consent in found}) == 1
    assert customers.identities_of(engine, found[0].customer) == identities


def test_an_opt_out_at_once_with_lookups_is_kept(engine: Engine) -> None:
    identities = [customers.Identity("session", rest_conversation("opting-out"))]

    def call(n: int) -> customers.CustomerConsent:
        if n == 0:
            return customers.set_emotion_processing(
                engine, identities, "off", "rest", "conversation", FROM_RASA
            )
        return customers.resolve(engine, identities, FROM_RASA)

    found = at_once(call)

    assert len({consent.customer for consent in found}) == 1
    assert customers.resolve(engine, identities, FROM_RASA).emotion_processing == "off"
