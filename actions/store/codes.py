"""One-time codes that prove a conversation belongs to a customer: issued, checked once, forgotten.

A code is six random digits (``secrets``), kept only as a salted SHA-256, valid for ``TTL`` and for
``MAX_ATTEMPTS`` wrong tries.  Each conversation has at most one code in play: a new one replaces
the last.  Redeeming is a conditional update, so one code is used once even when two messages race.
"""

import hashlib
import hmac
import secrets
from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import Final, Literal, get_args

from sqlalchemy import delete, func, select, update
from sqlalchemy.engine import Engine
from sqlalchemy.orm import sessionmaker

from actions.store.models import VerificationCode

TTL: Final = timedelta(minutes=10)
MAX_ATTEMPTS: Final = 3
# Rows are kept this long for the per-recipient limits, then deleted.
KEPT: Final = timedelta(days=1)
# A code waits to be redeemed, was redeemed, ran out of tries, or a newer one replaced it.
CodeStatus = Literal["pending", "used", "spent", "replaced"]
PENDING: Final[CodeStatus] = "pending"
USED: Final[CodeStatus] = "used"
SPENT: Final[CodeStatus] = "spent"
REPLACED: Final[CodeStatus] = "replaced"
CODE_STATUSES: Final[tuple[CodeStatus, ...]] = get_args(CodeStatus)


def new_code() -> str:
    return f"{secrets.randbelow(10**6):06d}"


def _digest(salt: str, code: str) -> str:
    return hashlib.sha256(f"{salt}:{code}".encode()).hexdigest()


@dataclass(frozen=True)
class Redeemed:
    """A code that matched: the customer it proves (None: it was issued for no account)."""

    customer_id: int | None
    purpose: str


class VerificationCodes:
    def __init__(self, engine: Engine) -> None:
        self._sessions = sessionmaker(bind=engine, future=True)

    def issue(self, conversation: str, customer_id: int | None, purpose: str, now: datetime) -> str:
        """A fresh code for ``conversation`` (replacing any earlier one); the caller sends it."""
        code, salt = new_code(), secrets.token_hex(16)
        with self._sessions() as session:
            session.execute(delete(VerificationCode).where(VerificationCode.created_at < now - KEPT))
            session.execute(
                update(VerificationCode)
                .where(VerificationCode.conversation_id == conversation, VerificationCode.status == PENDING)
                .values(status=REPLACED)
            )
            session.add(
                VerificationCode(
                    conversation_id=conversation,
                    customer_id=customer_id,
                    purpose=purpose,
                    salt=salt,
                    code_hash=_digest(salt, code),
                    created_at=now,
                    expires_at=now + TTL,
                    attempts=0,
                    status=PENDING,
                )
            )
            session.commit()
        return code

    def redeem(self, conversation: str, code: str, now: datetime) -> Redeemed | None:
        """The code in play for ``conversation`` if ``code`` is it (used up now); None otherwise,
        counting a wrong try (the last allowed one spends the code).
        """
        with self._sessions() as session:
            row = session.execute(
                select(VerificationCode)
                .where(
                    VerificationCode.conversation_id == conversation,
                    VerificationCode.status == PENDING,
                    VerificationCode.expires_at > now,
                )
                .order_by(VerificationCode.id.desc())
                .limit(1)
            ).scalar_one_or_none()
            if row is None:
                return None
            if hmac.compare_digest(_digest(row.salt, code.strip()), row.code_hash):
                used = session.execute(
                    update(VerificationCode)
                    .where(VerificationCode.id == row.id, VerificationCode.status == PENDING)
                    .values(status=USED)
                )
                session.commit()
                return Redeemed(row.customer_id, row.purpose) if used.rowcount == 1 else None
            session.execute(
                update(VerificationCode)
                .where(VerificationCode.id == row.id, VerificationCode.status == PENDING)
                .values(attempts=VerificationCode.attempts + 1)
            )
            session.execute(
                update(VerificationCode)
                .where(VerificationCode.id == row.id, VerificationCode.attempts >= MAX_ATTEMPTS)
                .values(status=SPENT)
            )
            session.commit()
            return None

    def withdraw(self, conversation: str) -> None:
        """The code in play for ``conversation`` can no longer be used (the customer gave up)."""
        with self._sessions() as session:
            session.execute(
                update(VerificationCode)
                .where(VerificationCode.conversation_id == conversation, VerificationCode.status == PENDING)
                .values(status=REPLACED)
            )
            session.commit()

    def issued_since(
        self, since: datetime, conversation: str | None = None, customer_id: int | None = None
    ) -> int:
        """How many codes were issued since ``since`` for a conversation, or sent to a customer."""
        query = select(func.count()).select_from(VerificationCode).where(VerificationCode.created_at >= since)
        if conversation is not None:
            query = query.where(VerificationCode.conversation_id == conversation)
        if customer_id is not None:
            query = query.where(VerificationCode.customer_id == customer_id)
        with self._sessions() as session:
            return int(session.execute(query).scalar_one())
