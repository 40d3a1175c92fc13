"""The consent epoch: lets a Rasa server keep a customer's consent answer and revalidate it cheaply.

Why: the consent gate of every Rasa instance (bot/components/consent_gate.py) asks, before each
message is parsed, which customer sent it and whether their emotions may be processed.  Resolving
is a write transaction (identities are linked, customers created or merged); checking that nothing
changed is one primary-key read.

How, and why it is correct across any number of Rasa and handoff instances:

- ``consent_epoch`` holds one token.  Everything that can change what ``resolve`` answers for
  identities it answered before calls ``bump`` *inside its own transaction*: an opt-out or opt-in
  (customers.set_emotion_processing), a merge (customer_merges.merge, "most private wins"), its undo
  (customer_merges.undo) and an erasure (personal_data.erase).  Creating a customer or linking a
  new identity to one changes no earlier answer, so it does not bump (or every new conversation
  would empty every cache).
- ``resolve`` reads the token *before* it reads the customer (``resolve_current``) and returns it as
  the response's ``ETag``.  Read in that order, a change committed in between can only make the
  stamp older than the answer (one extra resolve later), never newer (a stale answer passed off
  as current).
- The gate sends ``If-None-Match: <token>`` with the identities it has an answer for; when the
  token is still the current one the service answers ``304`` after one read, without parsing the
  body.  Any change anywhere moves the token, so the next message on every instance re-resolves:
  an opt-out is honoured by every instance from the next message.

The token is random, not a counter: a recreated database never repeats a token an instance holds.
"""

import uuid
from datetime import datetime, timezone

from sqlalchemy import select, update
from sqlalchemy.engine import Engine
from sqlalchemy.orm import Session

from handoff.core.models import ConsentEpoch

ROW = 1
# The longest If-None-Match header read: a few quoted tokens; anything longer is not ours.
MAX_HEADER_CHARS = 200


def current(session: Session) -> str:
    """The token now; created when the row is missing (a database made without the migration)."""
    value = session.execute(select(ConsentEpoch.value).where(ConsentEpoch.id == ROW)).scalar_one_or_none()
    return str(value) if value is not None else bump(session)


def bump(session: Session, now: datetime | None = None) -> str:
    """A new token, in the caller's transaction (committed, or rolled back, with the change)."""
    token = uuid.uuid4().hex
    moment = now or datetime.now(timezone.utc)
    changed = session.execute(
        update(ConsentEpoch).where(ConsentEpoch.id == ROW).values(value=token, changed_at=moment)
    ).rowcount
    if not changed:
        session.add(ConsentEpoch(id=ROW, value=token, changed_at=moment))
        session.flush()
    return token


def read(engine: Engine) -> str:
    with Session(engine) as session, session.begin():
        return current(session)


def etag(token: str) -> str:
    return f'"{token}"'


def is_current(if_none_match: str, token: str) -> bool:
    """Whether an ``If-None-Match`` header names ``token`` (RFC 9110: a list of entity tags, weak
    ones compared weakly; ``*`` is not honoured, a client must name what it holds).
    """
    if len(if_none_match) > MAX_HEADER_CHARS:
        return False
    tags = (tag.strip().removeprefix("W/") for tag in if_none_match.split(","))
    return etag(token) in tags
