"""When each customer last talked to Attune, and on which channel: for the "came back on another
channel soon after" frustration signal.

A customer who gives up on web chat and tries SMS ten minutes later is telling us something.
The customer is the one the Rasa server verified (``metadata.attune``: the handoff service's
customer id, or a signed identity token's) or, once given, the e-mail slot (actions/consent.py
``known_customer``); never an id a client put in the metadata.  ``sender_id`` is the conversation
id, namespaced by channel (handoff/shared/conversation_ids.py).  Kept in its own table next to the demo
store (ATTUNE_STORE_DATABASE_URL); the consent and retention work will move it under the governed
storage of the handoff service.
"""

import time
from dataclasses import dataclass
from typing import Any

from sqlalchemy import Column, Float, String, select
from sqlalchemy.engine import Engine
from sqlalchemy.orm import declarative_base, sessionmaker

from actions.sql import open_engine

Base: Any = declarative_base()


class Contact(Base):
    __tablename__ = "attune_contacts"

    customer_key = Column(String(254), primary_key=True)
    sender_id = Column(String(255), primary_key=True)
    channel = Column(String(40), nullable=False)
    last_seen = Column(Float, nullable=False)  # seconds since the epoch


@dataclass(frozen=True)
class ContactHistory:
    engine: Engine

    @classmethod
    def open(cls, database_url: str) -> "ContactHistory":
        engine = open_engine(database_url)
        Base.metadata.create_all(engine)
        return cls(engine)

    def minutes_since_other_channel(
        self, customer_key: str, sender_id: str, channel: str, now: float
    ) -> float | None:
        """Minutes since this customer's latest message in another conversation on another channel."""
        with sessionmaker(bind=self.engine, future=True)() as session:
            row = session.execute(
                select(Contact.last_seen)
                .where(Contact.customer_key == customer_key)
                .where(Contact.sender_id != sender_id)
                .where(Contact.channel != channel)
                .order_by(Contact.last_seen.desc())
                .limit(1)
            ).first()
        return None if row is None else max(0.0, (now - float(row[0])) / 60)

    def record(self, customer_key: str, sender_id: str, channel: str, now: float | None = None) -> None:
        seen = time.time() if now is None else now
        with sessionmaker(bind=self.engine, future=True)() as session, session.begin():
            contact = session.get(Contact, (customer_key, sender_id))
            if contact is None:
                session.add(
                    Contact(
                        customer_key=customer_key,
                        sender_id=sender_id,
                        channel=channel,
                        last_seen=seen,
                    )
                )
            else:
                contact.channel = channel
                contact.last_seen = seen
