"""Conversation ids namespaced by channel (handoff/shared/conversation_ids.py) in the stored keys.

- ``handoffs.conversation_id`` (and the payload's copy) becomes ``legacy_conversation(id, channel)``
  with the payload's ``channel`` ("twilio" -> ``sms:+44…`` / ``whatsapp:+44…``, "socketio" ->
  ``web:<session>``, anything else -> ``rest:<sender>``).  The stored ``body_hash`` stays the hash
  of the body as it was sent, so a retried delivery of it is still the same handoff.
- ``customer_identities`` of kind ``session``: the old web chat's ids (32 hex digits) become
  ``web:<id>``, every other (a REST sender) ``rest:<id>``.  Phone identities stay numbers.
- ``audit_entries`` keep their ids: each entry's conversation is inside its hash, and rewriting it
  would break the chain.  Readers look an old entry up by its legacy id too
  (handoff/privacy/personal_data.py).
- Call jobs, webhook deliveries and emotion flags hang off a handoff id, not a conversation id.

A value whose namespaced form would not fit its column (255) is left as it was.  There is no way
back: downgrading leaves the ids namespaced.

Revision ID: 0013
Revises: 0012
Create Date: 2026-12-01
"""

import json
import re

import sqlalchemy as sa
from alembic import op

from handoff.shared.conversation_ids import legacy_conversation, rest_conversation, web_conversation

revision = "0013"
down_revision = "0012"
branch_labels = None
depends_on = None

MAX_KEY = 255
OLD_WEB_SESSION = re.compile("[0-9a-f]{32}")


def _handoffs(connection: sa.engine.Connection) -> None:
    rows = connection.execute(sa.text("SELECT id, conversation_id, payload FROM handoffs")).all()
    for handoff_id, conversation_id, payload_text in rows:
        try:
            payload = json.loads(payload_text)
        except ValueError:
            payload = {}
        channel = payload.get("channel") if isinstance(payload, dict) else None
        namespaced = legacy_conversation(conversation_id, channel if isinstance(channel, str) else None)
        if namespaced == conversation_id or len(namespaced) > MAX_KEY:
            continue
        if isinstance(payload, dict) and payload.get("conversation_id") == conversation_id:
            payload["conversation_id"] = namespaced
            payload_text = json.dumps(payload, ensure_ascii=False)
        connection.execute(
            sa.text("UPDATE handoffs SET conversation_id = :c, payload = :p WHERE id = :i"),
            {"c": namespaced, "p": payload_text, "i": handoff_id},
        )


def _session_identities(connection: sa.engine.Connection) -> None:
    values = connection.execute(
        sa.text("SELECT value FROM customer_identities WHERE kind = 'session'")
    ).scalars()
    # Longest first: "abc" -> "rest:abc" must wait until a stored "rest:abc" has become "rest:rest:abc".
    for value in sorted(values, key=len, reverse=True):
        old_web = OLD_WEB_SESSION.fullmatch(value)
        namespaced = web_conversation(value) if old_web else rest_conversation(value)
        if len(namespaced) > MAX_KEY:
            continue
        connection.execute(
            sa.text("UPDATE customer_identities SET value = :n WHERE kind = 'session' AND value = :v"),
            {"n": namespaced, "v": value},
        )


def upgrade() -> None:
    connection = op.get_bind()
    _handoffs(connection)
    _session_identities(connection)


def downgrade() -> None:
    pass  # the legacy ids were ambiguous across channels; they are not restored
