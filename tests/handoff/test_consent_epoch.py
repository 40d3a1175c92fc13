"""The consent epoch (handoff/privacy/consent_epoch.py): it moves with everything that can change a
customer's consent answer and with nothing else, and ``resolve`` answers ``304`` only while it has not.
"""

import dataclasses
from pathlib import Path
from typing import Any

import pytest
from aiohttp.test_utils import TestClient
from alembic import command
from sqlalchemy import create_engine, inspect, text
from sqlalchemy.engine import Engine

from handoff.app import create_app
from handoff.core.app_keys import ENGINE
from handoff.core.db import create_engine_for
from handoff.core.migrate import alembic_config, upgrade_to_head
from handoff.core.settings import Settings
from handoff.privacy import consent_epoch, customer_merges, customers, personal_data

TOKEN = "consent-epoch-test-token-000"
AUTH = {"Authorization": f"Bearer {TOKEN}"}
RESOLVE = "/api/v1/customers/resolve"
VERIFIED = customers.Linking(may_merge=True)
PHONE = customers.Identity("phone", "+447911123456")
LOGIN = customers.Identity("id", "C-2")


@pytest.fixture
def engine(settings: Settings) -> Engine:
    upgrade_to_head(settings.database_url)
    return create_engine_for(settings.database_url)


def choose(engine: Engine, identity: customers.Identity, choice: str) -> str:
    found = customers.set_emotion_processing(engine, [identity], choice, "sms", "conversation", VERIFIED)
    return str(found.customer)


def test_new_customers_and_new_links_leave_the_epoch_where_it_was(engine: Engine) -> None:
    before = consent_epoch.read(engine)

    customers.resolve(engine, [PHONE], VERIFIED)
    customers.resolve(engine, [PHONE, customers.Identity("session", "web:" + "b" * 32)], VERIFIED)
    customers.resolve(engine, [customers.Identity("session", "rest:someone")], VERIFIED)

    assert consent_epoch.read(engine) == before  # or every new conversation would empty every cache


def test_an_opt_out_an_opt_in_a_merge_its_undo_and_an_erasure_each_move_the_epoch(engine: Engine) -> None:
    seen = [consent_epoch.read(engine)]
    customers.resolve(engine, [PHONE], VERIFIED)
    choose(engine, LOGIN, "off")
    seen.append(consent_epoch.read(engine))
    choose(engine, LOGIN, "on")
    seen.append(consent_epoch.read(engine))
    choose(engine, LOGIN, "off")
    merged = customers.resolve(engine, [PHONE, LOGIN], VERIFIED)  # the phone now answers "off"
    seen.append(consent_epoch.read(engine))
    [merge] = customer_merges.merges_of(engine, str(merged.customer))
    customer_merges.undo(engine, merge.id)
    seen.append(consent_epoch.read(engine))
    personal_data.erase(personal_data.Stores(handoff=engine), str(merged.customer))
    seen.append(consent_epoch.read(engine))

    assert merged.emotion_processing == "off"
    assert len(set(seen)) == len(seen), seen


def test_resolve_is_stamped_with_the_epoch_read_before_its_own_merge(engine: Engine) -> None:
    customers.resolve(engine, [PHONE], VERIFIED)
    choose(engine, LOGIN, "off")
    before = consent_epoch.read(engine)

    _, stamp = customers.resolve_current(engine, [PHONE, LOGIN], VERIFIED)

    # The merge moved the epoch: the answer is stamped older, so it is asked for once more, never
    # passed off as current for a state it did not see.
    assert stamp == before != consent_epoch.read(engine)


def test_a_failed_change_leaves_the_epoch_where_it_was(engine: Engine) -> None:
    before = consent_epoch.read(engine)

    with pytest.raises(Exception, match="never linked"):
        customers.set_emotion_processing(
            engine, [customers.Identity("session", "rest:x"), LOGIN], "off", "api", "api", VERIFIED
        )

    assert consent_epoch.read(engine) == before


@pytest.mark.parametrize(
    ("header", "current"),
    [
        ('"abc"', True),
        ('W/"abc"', True),
        ('"x", "abc"', True),
        ("abc", False),  # not an entity tag
        ('"abcd"', False),
        ("*", False),  # a client must name the answer it holds
        ('"abc", ' * 100, False),  # longer than any header the gate sends
    ],
)
def test_if_none_match_names_the_current_epoch_only_exactly(header: str, current: bool) -> None:
    assert consent_epoch.is_current(header, "abc") is current


@pytest.fixture
async def service(aiohttp_client: Any, settings: Settings) -> TestClient:
    client: TestClient = await aiohttp_client(create_app(dataclasses.replace(settings, api_token=TOKEN)))
    return client


async def test_resolve_answers_304_while_the_epoch_holds_and_the_answer_after_a_change(
    service: TestClient,
) -> None:
    body = {"identities": [{"kind": "phone", "value": PHONE.value}]}
    first = await service.post(RESOLVE, json=body, headers=AUTH)
    etag = first.headers["ETag"]

    # The body is not read when the answer held is current: not even a broken one.
    same = await service.post(RESOLVE, data="not json", headers={**AUTH, "If-None-Match": etag})
    assert service.app is not None
    choose(service.app[ENGINE], PHONE, "off")
    changed = await service.post(RESOLVE, json=body, headers={**AUTH, "If-None-Match": etag})

    assert first.status == 200 and (await first.json())["emotion_processing"] == "on"
    assert same.status == 304 and same.headers["ETag"] == etag
    assert changed.status == 200 and (await changed.json())["emotion_processing"] == "off"
    assert changed.headers["ETag"] != etag


@pytest.mark.parametrize("held", ['"0123"', "*", "x" * 5000, ""])
async def test_an_if_none_match_that_is_not_the_epoch_gets_the_full_answer(
    service: TestClient, held: str
) -> None:
    body = {"identities": [{"kind": "phone", "value": PHONE.value}]}

    response = await service.post(RESOLVE, json=body, headers={**AUTH, "If-None-Match": held})

    assert response.status == 200 and (await response.json())["emotion_processing"] == "on"


async def test_a_304_needs_the_token_too(service: TestClient) -> None:
    body = {"identities": [{"kind": "phone", "value": PHONE.value}]}
    etag = (await service.post(RESOLVE, json=body, headers=AUTH)).headers["ETag"]

    response = await service.post(RESOLVE, json=body, headers={"If-None-Match": etag})

    assert response.status == 401


def test_migration_0017_starts_the_epoch_and_goes_back(tmp_path: Path) -> None:
    url = f"sqlite:///{tmp_path / 'handoff.db'}"
    upgrade_to_head(url)
    engine = create_engine(url)
    with engine.connect() as connection:
        [(value,)] = connection.execute(text("SELECT value FROM consent_epoch")).all()
    assert len(value) == 32

    command.downgrade(alembic_config(url), "0016")

    assert "consent_epoch" not in inspect(create_engine(url)).get_table_names()
