"""The idle CSAT trigger (handoff/analytics/idle_csat.py, idle_worker.py): candidates armed and cleared
from broker events, claimed once after the idle time on a fake clock, and triggered on a fake Rasa.
"""

import dataclasses
import json
from datetime import datetime, timedelta, timezone
from pathlib import Path
from typing import Any

import pytest
from aiohttp import ClientSession, web
from alembic import command
from sqlalchemy import inspect, select
from sqlalchemy.engine import Engine
from sqlalchemy.orm import Session

from handoff.analytics import events, idle_csat
from handoff.analytics import privacy as analytics_privacy
from handoff.analytics.idle_worker import IdleTrigger, load_policy
from handoff.analytics.ingest import BrokerRow, ingest
from handoff.app import create_app
from handoff.core.db import as_utc, create_engine_for
from handoff.core.migrate import alembic_config, upgrade_to_head
from handoff.core.models import CsatIdle
from handoff.core.rasa_client import RasaClient
from handoff.core.settings import ConfigError, Settings
from tests.support.broker_events import T0, user

WEB = "web:" + "a" * 32
SMS = "sms:+447700900123"
IDLE = timedelta(minutes=15)
ROOT = Path(__file__).resolve().parents[3]


def action(sender: str, at: float, name: str) -> dict[str, Any]:
    return {"sender_id": sender, "event": "action", "timestamp": at, "name": name, "policy": "RulePolicy"}


def external(sender: str, at: float) -> dict[str, Any]:
    """The user event Rasa stores for a triggered intent (UserUttered.create_external)."""
    return {
        "sender_id": sender,
        "event": "user",
        "timestamp": at,
        "text": "EXTERNAL: EXTERNAL_csat_idle",
        "parse_data": {"intent": {"name": "EXTERNAL_csat_idle"}},
        "metadata": {"is_external": True},
    }


def thanked(sender: str, at: float) -> list[dict[str, Any]]:
    """A customer's thank-you and the bot's "You're welcome. Anything else?" a second later."""
    return [
        user(sender, at, "thanks!"),
        action(sender, at + 1, "utter_you_are_welcome"),
        action(sender, at + 1.1, "action_listen"),
    ]


def rows(*published: dict[str, Any]) -> list[BrokerRow]:
    return [BrokerRow(None, json.dumps(event)) for event in published]


class FakeClock:
    def __init__(self, start: float) -> None:
        self.now = datetime.fromtimestamp(start, timezone.utc)

    def __call__(self) -> datetime:
        return self.now

    def at(self, seconds: float) -> None:
        self.now = datetime.fromtimestamp(seconds, timezone.utc)


class FakeRasa:
    """Rasa's trigger_intent endpoint: records each call; answers 503 ``failures`` times first."""

    def __init__(self) -> None:
        self.calls: list[dict[str, Any]] = []
        self.failures = 0

    def app(self) -> web.Application:
        app = web.Application()
        app.router.add_post("/conversations/{cid}/trigger_intent", self.trigger)
        app.router.add_get("/conversations/{cid}/tracker", self.tracker)
        return app

    async def tracker(self, request: web.Request) -> web.Response:
        """A conversation the idle trigger asked the question in."""
        return web.json_response(
            {
                "events": [
                    user(WEB, T0, "thanks!"),
                    {"event": "bot", "text": "You're welcome. Anything else I can help with?"},
                    external(WEB, T0 + 900),
                    {"event": "bot", "text": "How did we do? (1-5)"},
                ]
            }
        )

    async def trigger(self, request: web.Request) -> web.Response:
        self.calls.append(
            {
                "path": request.raw_path.split("?")[0],
                "channel": request.query.get("output_channel"),
                "token": request.query.get("token"),
                "body": await request.json(),
            }
        )
        if self.failures > 0:
            self.failures -= 1
            return web.Response(status=503, text="model loading")
        return web.json_response({"tracker": {}, "messages": []})


@pytest.fixture
def engine(tmp_path: Path) -> Engine:
    url = f"sqlite:///{tmp_path / 'handoff.db'}"
    upgrade_to_head(url)
    return create_engine_for(url)


@pytest.fixture
async def fake_rasa(aiohttp_server: Any) -> tuple[FakeRasa, str]:
    fake = FakeRasa()
    server = await aiohttp_server(fake.app())
    return fake, str(server.make_url("")).rstrip("/")


@pytest.fixture
async def session() -> Any:
    async with ClientSession() as client:
        yield client


def trigger(engine: Engine, session: ClientSession, url: str, clock: FakeClock) -> IdleTrigger:
    return IdleTrigger(engine, RasaClient(session, url, "rasa-token"), IDLE, clock)


def candidate(engine: Engine, conversation_id: str) -> CsatIdle | None:
    with Session(engine) as db:
        row: CsatIdle | None = db.get(CsatIdle, conversation_id)
        if row is not None:
            db.expunge(row)
        return row


# --- what each event means ---------------------------------------------------------------------


@pytest.mark.parametrize(
    ("event", "signal"),
    [
        (action(WEB, T0, "utter_you_are_welcome"), events.IdleSignal("prompt", "utter_you_are_welcome")),
        (action(WEB, T0, "utter_handback"), events.IdleSignal("prompt", "utter_handback")),
        (user(WEB, T0), events.IdleSignal("customer")),
        (action(WEB, T0, "utter_agent_message"), events.IdleSignal("bot")),
        (action(WEB, T0, "action_listen"), None),
        (action(WEB, T0, "action_session_start"), None),
        (external(WEB, T0), None),  # the idle trigger's own intent is not the customer writing
        (action(WEB, T0, "x" * 500), None),  # not an action name
        (action(WEB, T0, {"name": "utter_you_are_welcome"}), None),  # type: ignore[arg-type]
        ({"sender_id": WEB, "event": "slot", "timestamp": T0, "name": "x", "value": 1}, None),
    ],
)
def test_what_an_event_means_for_the_idle_trigger(event: dict[str, Any], signal: Any) -> None:
    assert events.idle_signal(event) == signal


# --- armed, cleared, never re-armed by a redelivery -----------------------------------------------


async def test_armed_not_triggered_before_the_idle_time_then_triggered_once(
    engine: Engine, fake_rasa: tuple[FakeRasa, str], session: ClientSession
) -> None:
    rasa, url = fake_rasa
    clock = FakeClock(T0 + 2)
    worker = trigger(engine, session, url, clock)
    ingest(engine, rows(*thanked(WEB, T0)), source=None)

    row = candidate(engine, WEB)
    assert row is not None and (row.status, row.prompt) == ("armed", "utter_you_are_welcome")

    clock.at(T0 + 1 + 15 * 60 - 1)  # one second short of the idle time
    assert await worker.run_once() == 0
    assert rasa.calls == []

    clock.at(T0 + 1 + 15 * 60)
    assert await worker.run_once() == 1
    assert rasa.calls == [
        {
            "path": "/conversations/web%3A" + "a" * 32 + "/trigger_intent",
            "channel": "socketio",
            "token": "rasa-token",
            "body": {"name": "EXTERNAL_csat_idle", "entities": {}},
        }
    ]
    row = candidate(engine, WEB)
    assert row is not None and (row.status, row.attempts) == ("triggered", 1)

    clock.at(T0 + 3600)
    assert await worker.run_once() == 0  # once
    assert len(rasa.calls) == 1


async def test_a_redelivered_prompt_does_not_rearm(
    engine: Engine, fake_rasa: tuple[FakeRasa, str], session: ClientSession
) -> None:
    rasa, url = fake_rasa
    clock = FakeClock(T0 + 16 * 60)
    worker = trigger(engine, session, url, clock)
    conversation = thanked(SMS, T0)
    ingest(engine, rows(*conversation), source=None)
    assert await worker.run_once() == 1
    # What Rasa published for the trigger, then the whole conversation again (a Pika redelivery).
    ingest(
        engine, rows(external(SMS, T0 + 16 * 60), action(SMS, T0 + 16 * 60 + 0.1, "csat_form")), source=None
    )
    ingest(engine, rows(*conversation), source=None)

    clock.at(T0 + 40 * 60)
    assert await worker.run_once() == 0
    assert [call["channel"] for call in rasa.calls] == ["twilio"]
    row = candidate(engine, SMS)
    assert row is not None and row.status == "triggered"


async def test_a_customer_message_clears_the_candidate_and_a_late_copy_of_the_prompt_stays_cleared(
    engine: Engine, fake_rasa: tuple[FakeRasa, str], session: ClientSession
) -> None:
    rasa, url = fake_rasa
    clock = FakeClock(T0 + 60 * 60)
    worker = trigger(engine, session, url, clock)
    ingest(engine, rows(*thanked(WEB, T0), user(WEB, T0 + 60, "oh, and my refund?")), source=None)
    ingest(engine, rows(action(WEB, T0 + 1, "utter_you_are_welcome")), source=None)  # redelivered

    assert await worker.run_once() == 0
    assert rasa.calls == []
    row = candidate(engine, WEB)
    assert row is not None and row.status == "cleared"
    assert as_utc(row.activity_at) == datetime.fromtimestamp(T0 + 60, timezone.utc)


async def test_another_bot_message_clears_and_a_later_prompt_arms_again(engine: Engine) -> None:
    ingest(engine, rows(*thanked(WEB, T0), action(WEB, T0 + 30, "utter_callback_missed")), source=None)
    assert (row := candidate(engine, WEB)) is not None and row.status == "cleared"

    ingest(engine, rows(*thanked(WEB, T0 + 100)), source=None)

    row = candidate(engine, WEB)
    assert row is not None and row.status == "armed"
    assert as_utc(row.prompted_at) == datetime.fromtimestamp(T0 + 101, timezone.utc)


async def test_a_prompt_delivered_after_the_reply_it_preceded_is_not_armed(engine: Engine) -> None:
    # Out of order, as a broker may redeliver: the customer's message first, then the older prompt.
    ingest(engine, rows(user(WEB, T0 + 60)), source=None)
    ingest(engine, rows(action(WEB, T0 + 1, "utter_handback")), source=None)

    row = candidate(engine, WEB)
    assert row is not None and row.status == "cleared"


SEQUENCES = {
    "armed": [*thanked(WEB, T0)],
    "answered": [*thanked(WEB, T0), user(WEB, T0 + 30)],
    "answered, then asked again": [*thanked(WEB, T0), *thanked(WEB, T0 + 30)],
    "another bot message": [*thanked(WEB, T0), action(WEB, T0 + 30, "utter_callback_missed")],
    "handed back, then silence": [user(WEB, T0), action(WEB, T0 + 50, "utter_handback")],
}


@pytest.mark.parametrize("name", sorted(SEQUENCES))
def test_a_batch_leaves_the_row_as_its_events_one_by_one_would(tmp_path: Path, name: str) -> None:
    found = []
    for per_batch in (1, 100):
        url = f"sqlite:///{tmp_path / f'handoff-{per_batch}.db'}"
        upgrade_to_head(url)
        engine = create_engine_for(url)
        sequence = SEQUENCES[name]
        for start in range(0, len(sequence), per_batch):
            ingest(engine, rows(*sequence[start : start + per_batch]), source=None)
        row = candidate(engine, WEB)
        assert row is not None
        # A prompt the batch itself overtook is not kept; what the worker reads is the same.
        armed_at = as_utc(row.prompted_at) if row.status == "armed" else None
        found.append((row.status, row.prompt if armed_at else None, armed_at))

    assert found[0] == found[1]
    assert found[0][0] == (
        "armed" if name in ("armed", "answered, then asked again", "handed back, then silence") else "cleared"
    )


@pytest.mark.parametrize(
    "sender",
    [
        "rest:someone",  # REST cannot push: the question would read the customer's next message
        "0123456789abcdef",  # an id from before ids named their channel
        "web:" + "x" * 400,  # oversized
        "web:a\x00b",  # control character
    ],
)
def test_no_candidate_for_a_conversation_the_trigger_cannot_or_must_not_reach(
    engine: Engine, sender: str
) -> None:
    ingest(engine, rows(*thanked(sender, T0)), source=None)

    with Session(engine) as db:
        assert db.execute(select(CsatIdle)).all() == []


# --- claims, retries, failures -------------------------------------------------------------------


def test_two_instances_never_claim_the_same_candidate(engine: Engine) -> None:
    ingest(engine, rows(*thanked(WEB, T0), *thanked(SMS, T0 + 5)), source=None)
    now = datetime.fromtimestamp(T0 + 20 * 60, timezone.utc)

    with Session(engine) as first, first.begin():
        mine = idle_csat.claim(first, now, IDLE, 10)
    with Session(engine) as second, second.begin():
        theirs = idle_csat.claim(second, now, IDLE, 10)

    assert [c.conversation_id for c in mine] == [WEB, SMS]
    assert theirs == []
    # A claim whose worker died mid-call is taken over after the lease (the ledger stops a second question).
    with Session(engine) as later, later.begin():
        retaken = idle_csat.claim(later, now + idle_csat.CLAIM_LEASE, IDLE, 10)
    assert [(c.conversation_id, c.attempts) for c in retaken] == [(WEB, 2), (SMS, 2)]


async def test_a_failed_call_is_retried_then_recorded_as_failed(
    engine: Engine, fake_rasa: tuple[FakeRasa, str], session: ClientSession
) -> None:
    rasa, url = fake_rasa
    rasa.failures = 5
    clock = FakeClock(T0 + 16 * 60)
    worker = trigger(engine, session, url, clock)
    ingest(engine, rows(*thanked(WEB, T0)), source=None)

    assert await worker.run_once() == 0
    row = candidate(engine, WEB)
    assert row is not None and (row.status, row.attempts) == ("armed", 1)
    assert row.error is not None and "503" in row.error
    assert await worker.run_once() == 0  # not before the retry is due
    assert len(rasa.calls) == 1

    clock.now += timedelta(seconds=30)
    assert await worker.run_once() == 0
    clock.now += timedelta(seconds=60)
    assert await worker.run_once() == 0
    clock.now += timedelta(hours=1)
    assert await worker.run_once() == 0

    assert len(rasa.calls) == 3
    row = candidate(engine, WEB)
    assert row is not None and (row.status, row.attempts) == ("failed", 3)


async def test_a_retry_that_succeeds_is_triggered(
    engine: Engine, fake_rasa: tuple[FakeRasa, str], session: ClientSession
) -> None:
    rasa, url = fake_rasa
    rasa.failures = 1
    clock = FakeClock(T0 + 16 * 60)
    worker = trigger(engine, session, url, clock)
    ingest(engine, rows(*thanked(WEB, T0)), source=None)

    await worker.run_once()
    clock.now += timedelta(seconds=30)
    assert await worker.run_once() == 1

    row = candidate(engine, WEB)
    assert row is not None and (row.status, row.attempts, row.error) == ("triggered", 2, None)


async def test_the_customer_writing_during_a_failed_call_leaves_it_cleared(
    engine: Engine, fake_rasa: tuple[FakeRasa, str], session: ClientSession
) -> None:
    rasa, url = fake_rasa
    clock = FakeClock(T0 + 16 * 60)
    worker = trigger(engine, session, url, clock)
    ingest(engine, rows(*thanked(WEB, T0)), source=None)
    with Session(engine) as db, db.begin():
        [claimed] = idle_csat.claim(db, clock(), IDLE, 10)
    ingest(engine, rows(user(WEB, T0 + 16 * 60 - 1)), source=None)
    with Session(engine) as db, db.begin():
        idle_csat.record(db, claimed, clock(), "Rasa answered 503", final=False)

    assert (row := candidate(engine, WEB)) is not None and row.status == "cleared"
    assert await worker.run_once() == 0
    assert rasa.calls == []


async def test_a_prompt_found_long_after_it_fell_due_is_not_asked(
    engine: Engine, fake_rasa: tuple[FakeRasa, str], session: ClientSession
) -> None:
    rasa, url = fake_rasa
    # A consumer catching up on yesterday's backlog.
    clock = FakeClock(T0 + 86400)
    ingest(engine, rows(*thanked(WEB, T0)), source=None)

    assert await trigger(engine, session, url, clock).run_once() == 0

    assert rasa.calls == []
    assert (row := candidate(engine, WEB)) is not None and row.status == "stale"


async def test_a_conversation_no_channel_can_reach_fails_at_once(
    engine: Engine, fake_rasa: tuple[FakeRasa, str], session: ClientSession
) -> None:
    rasa, url = fake_rasa
    prompted = datetime.fromtimestamp(T0, timezone.utc)
    with Session(engine) as db, db.begin():  # a row from a hostile or older writer: ids are checked again
        db.add(
            CsatIdle(
                conversation_id="legacy-id", prompt="utter_handback", prompted_at=prompted, status="armed"
            )
        )

    assert await trigger(engine, session, url, FakeClock(T0 + 16 * 60)).run_once() == 0

    assert rasa.calls == []
    row = candidate(engine, "legacy-id")
    assert row is not None and row.status == "failed" and "names no channel" in str(row.error)


async def test_the_transcript_shows_the_question_but_not_the_triggered_intent(
    fake_rasa: tuple[FakeRasa, str], session: ClientSession
) -> None:
    _, url = fake_rasa

    lines = await RasaClient(session, url, "rasa-token").messages(WEB)

    assert [(line["speaker"], line["text"]) for line in lines] == [
        ("customer", "thanks!"),
        ("bot", "You're welcome. Anything else I can help with?"),
        ("bot", "How did we do? (1-5)"),
    ]


# --- privacy, settings, policy, migration ---------------------------------------------------------


def test_export_erase_and_purge_cover_the_candidates(engine: Engine) -> None:
    ingest(engine, rows(*thanked(WEB, T0), *thanked(SMS, T0)), source=None)

    exported = analytics_privacy.export(engine, {WEB})
    assert [r["conversation_id"] for r in exported["csat_idle"]] == [WEB]

    with Session(engine) as db, db.begin():
        counts = analytics_privacy.erase(db, {WEB})
    assert counts["csat_idle"] == 1
    assert candidate(engine, WEB) is None and candidate(engine, SMS) is not None

    cutoff = datetime.fromtimestamp(T0 + 86400, timezone.utc)
    counts = analytics_privacy.purge(engine, cutoff, cutoff)
    assert counts["csat_idle_deleted"] == 1
    assert candidate(engine, SMS) is None


def test_the_setting_turns_the_trigger_off_and_reads_the_policy_path() -> None:
    key = {"ATTUNE_SESSION_KEY": "k" * 32}
    assert Settings.from_env(key).csat_idle is True
    assert Settings.from_env(key).csat_policy_file == "policy/csat.yml"
    off = Settings.from_env({**key, "ATTUNE_CSAT_IDLE": "0", "ATTUNE_CSAT_POLICY": "/etc/attune/csat.yml"})
    assert (off.csat_idle, off.csat_policy_file) == (False, "/etc/attune/csat.yml")
    with pytest.raises(ConfigError, match="ATTUNE_CSAT_IDLE"):
        Settings.from_env({**key, "ATTUNE_CSAT_IDLE": "sometimes"})


def test_the_shipped_policy_is_read_as_the_action_server_reads_it() -> None:
    policy = load_policy(ROOT / "policy" / "csat.yml")

    assert policy.enabled is True and policy.idle_minutes == 15


async def test_a_bad_policy_stops_the_service_only_when_the_trigger_runs(
    tmp_path: Path, aiohttp_client: Any
) -> None:
    bad = tmp_path / "csat.yml"
    bad.write_text("enabled: true\nsuppression_days: 30\nidle_minutes: 0\n")
    base = Settings(
        database_url=f"sqlite:///{tmp_path / 'handoff.db'}",
        event_broker_url=f"sqlite:///{tmp_path / 'events.db'}",
        analytics_consumer=False,
        csat_policy_file=str(bad),
        demo_password="demo-password-1",
        session_key="s" * 32,
    )

    with pytest.raises(ValueError, match="idle_minutes"):
        await aiohttp_client(create_app(base))
    client = await aiohttp_client(create_app(dataclasses.replace(base, csat_idle=False)))
    assert (await client.get("/healthz")).status < 500


def test_the_migration_creates_the_table_and_goes_back(tmp_path: Path) -> None:
    url = f"sqlite:///{tmp_path / 'handoff.db'}"
    upgrade_to_head(url)
    engine = create_engine_for(url)
    assert "csat_idle" in inspect(engine).get_table_names()

    command.downgrade(alembic_config(url), "0021")

    assert "csat_idle" not in inspect(create_engine_for(url)).get_table_names()
