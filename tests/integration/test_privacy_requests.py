"""Export, then erase, a customer who used web chat and SMS, had a handoff and a call-back.

Runs the real `attune privacy` command against the running stack's databases.  After erasure a
scan of every table of every database finds nothing that identifies the customer.
"""

import json
import os
import sqlite3
import subprocess
import sys
import time
from pathlib import Path

import pytest

from handoff.shared.identity_tokens import sign_identity_token
from tests.support.stack import ROOT, RunningStack
from tests.support.web_chat import ChatCustomer

pytestmark = pytest.mark.integration

NUMBER = "+447911123777"
ACCOUNT = {"id": "C-8123", "phone": NUMBER, "email": "grace@example.com"}


def attune(stack: RunningStack, *args: str) -> subprocess.CompletedProcess[str]:
    env = {
        **os.environ,
        "ATTUNE_HANDOFF_DATABASE_URL": f"sqlite:///{stack.var_dir / 'handoff.db'}",
        "ATTUNE_TRACKER_DATABASE_URL": f"sqlite:///{stack.var_dir / 'tracker.db'}",
        "ATTUNE_STORE_DATABASE_URL": f"sqlite:///{stack.var_dir / 'store.db'}",
        "ATTUNE_OUTBOX_DATABASE_URL": f"sqlite:///{stack.var_dir / 'outbox.db'}",
    }
    return subprocess.run(
        [str(Path(sys.executable).parent / "attune"), *args],
        cwd=ROOT,
        env=env,
        capture_output=True,
        text=True,
    )


def scan(database: Path, needles: list[str]) -> list[str]:
    """Every (table, needle) where a needle appears in any column of any row."""
    found = []
    with sqlite3.connect(database) as db:
        tables = [r[0] for r in db.execute("SELECT name FROM sqlite_master WHERE type = 'table'")]
        for table in tables:
            for row in db.execute(f'SELECT * FROM "{table}"'):
                text = " ".join(str(v) for v in row)
                found += [f"{database.name}:{table}:{n}" for n in needles if n in text]
    return found


async def test_export_holds_everything_and_erase_leaves_nothing_that_identifies_the_customer(
    stack: RunningStack,
) -> None:
    twilio = stack.twilio
    # Grace is signed in on the site: its server signed her identity token.
    token = sign_identity_token(ACCOUNT["id"], stack.identity_key, phone=NUMBER, email=ACCOUNT["email"])
    async with ChatCustomer(stack, token=token) as chat:
        await chat.say(
            "please help, I'm scared, my insulin was in that parcel and it hasn't come", "call you back"
        )
        await chat.say("yes", "What number should we call?")
        await chat.say(NUMBER, "When suits you?")
        await chat.say("Now", "To confirm")
        await chat.say("yes", "We're calling you now")
    webhook = f"{stack.rasa_url}/webhooks/twilio/webhook"
    assert twilio.run(twilio.fake.send_sms(webhook, NUMBER, "any news on my parcel? Grace here")) == 200
    deadline = time.monotonic() + 20
    while not any(form["To"] == NUMBER for _, form in twilio.fake.created_calls):
        assert time.monotonic() < deadline
        time.sleep(0.1)

    exported = attune(stack, "privacy", "export", f"phone:{NUMBER}")
    assert exported.returncode == 0, exported.stderr
    document = json.loads(exported.stdout)
    customer = document["customer"]
    assert {(i["kind"], i["value"]) for i in document["identities"]} >= {("id", "C-8123"), ("phone", NUMBER)}
    assert set(document["conversations"]) >= {chat.conversation_id, f"sms:{NUMBER}"}
    assert len(document["handoffs"]) == 1 and document["call_backs"][0]["to"] == NUMBER
    assert any("insulin" in json.dumps(events) for events in document["conversations"].values())
    assert any("Grace here" in json.dumps(events) for events in document["conversations"].values())

    erased = attune(stack, "privacy", "erase", customer)
    assert erased.returncode == 0, erased.stderr

    # Other tests' customers wrote about insulin too: look for what only this customer wrote or is.
    session = chat.conversation_id.removeprefix("web:")
    needles = [NUMBER, NUMBER[1:], "C-8123", customer, session, "grace@example.com", "Grace here"]
    leftovers = [
        hit
        for db in ("tracker.db", "handoff.db", "store.db", "outbox.db")
        for hit in scan(stack.var_dir / db, needles)
    ]
    assert leftovers == []
    assert attune(stack, "audit", "verify").returncode == 0
    again = attune(stack, "privacy", "export", f"phone:{NUMBER}")
    assert again.returncode == 1 and "no customer" in again.stderr
