"""Managing console accounts (``attune agents add|reset|disable|list``): the service functions.

Each change is committed and then audited (handoff/audit/audit_events.py ``account_changed``, actor
"operator (attune agents)", with the operator's login name).  A reset or a disable ends every
session of the account at once; a disabled account cannot log in again (handoff/core/accounts.py).
Passwords are never stored or logged in clear; a generated one is returned to be shown once.
"""

import re
import secrets
from dataclasses import dataclass
from datetime import datetime, timezone
from typing import Final, Literal

from sqlalchemy import delete, select, update
from sqlalchemy.engine import Engine
from sqlalchemy.exc import IntegrityError
from sqlalchemy.orm import Session

from handoff.audit import audit_events
from handoff.console import login_throttle
from handoff.core.accounts import hash_password
from handoff.core.db import as_utc
from handoff.core.models import ROLES, Agent, ConsoleSession

USERNAME = re.compile(r"[A-Za-z0-9][A-Za-z0-9._-]{0,63}")
MIN_PASSWORD_CHARS, MAX_PASSWORD_CHARS = 12, 256
MAX_DISPLAY_NAME_CHARS = 80


class AccountError(ValueError):
    """The change cannot be made (a bad name or password, an unknown or duplicate account)."""


# What ``attune agents list`` shows: the account may log in, or was disabled.
AccountStatus = Literal["active", "disabled"]
ACTIVE: Final[AccountStatus] = "active"
DISABLED: Final[AccountStatus] = "disabled"


@dataclass(frozen=True)
class AccountRow:
    username: str
    display_name: str
    role: str
    created_at: datetime
    disabled_at: datetime | None

    @property
    def status(self) -> AccountStatus:
        return DISABLED if self.disabled_at is not None else ACTIVE


def generate_password() -> str:
    """A random password (120 bits) for an operator who did not choose one."""
    return secrets.token_urlsafe(15)


def check_password(password: str) -> str:
    if not MIN_PASSWORD_CHARS <= len(password) <= MAX_PASSWORD_CHARS:
        raise AccountError(f"a password has {MIN_PASSWORD_CHARS} to {MAX_PASSWORD_CHARS} characters")
    if not password.isprintable():
        raise AccountError("a password may not contain control characters or line breaks")
    return password


def _check_username(username: str) -> str:
    if not USERNAME.fullmatch(username):
        raise AccountError(
            "a username is 1 to 64 letters, digits, '.', '_' or '-', starting with a letter or digit"
        )
    return username


def _check_display_name(name: str) -> str:
    name = name.strip()
    if not name or len(name) > MAX_DISPLAY_NAME_CHARS or not name.isprintable():
        raise AccountError(f"a display name is 1 to {MAX_DISPLAY_NAME_CHARS} printable characters")
    return name


def add(engine: Engine, username: str, display_name: str, role: str, password: str, operator: str) -> None:
    if role not in ROLES:
        raise AccountError(f"role must be one of {', '.join(ROLES)}")
    name = _check_display_name(display_name)
    agent = Agent(
        username=_check_username(username),
        display_name=name,
        password_hash=hash_password(check_password(password)),
        role=role,
    )
    try:
        with Session(engine) as session, session.begin():
            session.add(agent)
    except IntegrityError as error:
        raise AccountError(f"there is already an account {username!r}") from error
    audit_events.account_changed(
        engine, "agent_added", username, operator, {"role": role, "display_name": name}
    )


def _agent_id(session: Session, username: str) -> int:
    found = session.execute(select(Agent.id).where(Agent.username == username)).scalar_one_or_none()
    if found is None:
        raise AccountError(f"there is no account {username!r} (`attune agents list` shows them)")
    return int(found)


def _end_sessions(session: Session, agent_id: int) -> int:
    return int(session.execute(delete(ConsoleSession).where(ConsoleSession.agent_id == agent_id)).rowcount)


def reset_password(engine: Engine, username: str, password: str, operator: str) -> None:
    """A new password; every session of the account ends and its failed logins are forgiven."""
    digest = hash_password(check_password(password))
    with Session(engine) as session, session.begin():
        agent_id = _agent_id(session, username)
        session.execute(update(Agent).where(Agent.id == agent_id).values(password_hash=digest))
        ended = _end_sessions(session, agent_id)
    login_throttle.clear(engine, username)
    audit_events.account_changed(
        engine, "agent_password_reset", username, operator, {"sessions_ended": ended}
    )


def disable(engine: Engine, username: str, operator: str, now: datetime | None = None) -> None:
    """The account can no longer log in, and its open consoles are logged out (their next request)."""
    moment = now or datetime.now(timezone.utc)
    with Session(engine) as session, session.begin():
        agent_id = _agent_id(session, username)
        session.execute(
            update(Agent).where(Agent.id == agent_id, Agent.disabled_at.is_(None)).values(disabled_at=moment)
        )
        ended = _end_sessions(session, agent_id)
    audit_events.account_changed(engine, "agent_disabled", username, operator, {"sessions_ended": ended})


def accounts(engine: Engine) -> list[AccountRow]:
    with Session(engine) as session:
        rows = session.execute(select(Agent).order_by(Agent.username)).scalars().all()
        return [
            AccountRow(
                row.username,
                row.display_name,
                row.role,
                as_utc(row.created_at),
                as_utc(row.disabled_at) if row.disabled_at is not None else None,
            )
            for row in rows
        ]
