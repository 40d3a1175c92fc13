"""The demo mailbox: e-mails to customers (one-time codes, reset links) written to a table.

Parcelpine's demo has no mail server, so what would be e-mailed is kept here for a day, the way
call-backs are simulated without Twilio.  ``python -m actions.store outbox`` prints it; a deployment
would hand these messages to its mailer instead.
"""

from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import Final

from sqlalchemy import delete, select
from sqlalchemy.engine import Engine
from sqlalchemy.orm import sessionmaker

from actions.store.models import OutboundMessage

KEPT: Final = timedelta(days=1)
EMAIL: Final = "email"


@dataclass(frozen=True)
class Message:
    channel: str
    address: str
    subject: str
    body: str
    created_at: datetime


class Mailbox:
    def __init__(self, engine: Engine) -> None:
        self._sessions = sessionmaker(bind=engine, future=True)

    def send(self, address: str, subject: str, body: str, now: datetime) -> None:
        with self._sessions() as session:
            session.execute(delete(OutboundMessage).where(OutboundMessage.created_at < now - KEPT))
            session.add(
                OutboundMessage(channel=EMAIL, address=address, subject=subject, body=body, created_at=now)
            )
            session.commit()

    def recent(self, address: str | None = None, limit: int = 20) -> list[Message]:
        """The newest messages first, all or to ``address``."""
        query = select(OutboundMessage).order_by(OutboundMessage.id.desc()).limit(limit)
        if address:
            query = query.where(OutboundMessage.address == address.strip().lower())
        with self._sessions() as session:
            return [
                Message(row.channel, row.address, row.subject, row.body, row.created_at)
                for row in session.execute(query).scalars()
            ]
