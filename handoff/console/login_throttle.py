"""Console login throttling: failed logins counted per account and per client address, with backoff.

Every failed login is a row (``login_failures``: the username as typed, the client's address, when).
An account with ``max_failures`` failures within ``window`` is locked, and so is an address with
``address_max_failures`` (whatever usernames it tried).  The first lock lasts ``base``; each failure
after it doubles the lock, up to ``cap``.  While locked, a login is refused before its password is
checked and is not counted, so the right password does not get in either: 50 guesses in a row are
5 guesses and a wait.  An attempt is counted before its password is checked, so guesses sent all at
once are throttled like guesses sent one after another.

Usernames that have no account are counted and locked exactly like real ones, so a lock tells an
attacker nothing about which accounts exist.  A successful login clears its account's failures (not
its address's).  In the database, so the limit holds across restarts and across service instances.
"""

from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import Any

from sqlalchemy import delete, func, select
from sqlalchemy.engine import Engine
from sqlalchemy.orm import Session

from handoff.audit import audit_events
from handoff.core.db import as_utc
from handoff.core.models import LoginFailure
from handoff.core.settings import Settings

MAX_USERNAME_CHARS = 64
MAX_ADDRESS_CHARS = 64


@dataclass(frozen=True)
class LoginPolicy:
    max_failures: int = 5  # per account (ATTUNE_LOGIN_MAX_FAILURES)
    address_max_failures: int = 20  # per client address (ATTUNE_LOGIN_ADDRESS_MAX_FAILURES)
    base: timedelta = timedelta(seconds=30)
    cap: timedelta = timedelta(minutes=15)
    # Failures older than this are forgotten (longer than ``cap``, so backoff keeps growing).
    window: timedelta = timedelta(hours=1)

    def lock_after(self, failures: int, limit: int) -> timedelta | None:
        """How long ``failures`` within the window lock for, against ``limit``; None: not locked."""
        if failures < limit:
            return None
        doublings = min(failures - limit, 16)  # 2**16 * base is far past any cap
        lasting: timedelta = min(self.cap, self.base * (2**doublings))
        return lasting


def policy_from(settings: Settings) -> LoginPolicy:
    return LoginPolicy(
        max_failures=settings.login_max_failures, address_max_failures=settings.login_address_max_failures
    )


def _key(username: str, address: str) -> tuple[str, str]:
    return username[:MAX_USERNAME_CHARS], address[:MAX_ADDRESS_CHARS]


def _lock(
    session: Session,
    column: Any,
    value: str,
    limit: int,
    policy: LoginPolicy,
    now: datetime,
    besides: int | None = None,
) -> datetime | None:
    """The lock of one account or address: its failures in the window (but attempt ``besides``),
    timed from the last.
    """
    conditions = [column == value, LoginFailure.at > now - policy.window]
    if besides is not None:
        conditions.append(LoginFailure.id != besides)
    count, last = session.execute(select(func.count(), func.max(LoginFailure.at)).where(*conditions)).one()
    lasting = policy.lock_after(int(count), limit)
    if lasting is None or last is None:
        return None
    until = as_utc(last) + lasting
    return until if until > now else None


def locked_until(
    engine: Engine,
    policy: LoginPolicy,
    username: str,
    address: str,
    now: datetime,
    besides: int | None = None,
) -> datetime | None:
    """When the account or the address may try again, if either is locked now; else None."""
    username, address = _key(username, address)
    with Session(engine) as session:
        locks = [
            _lock(session, LoginFailure.username, username, policy.max_failures, policy, now, besides),
            _lock(session, LoginFailure.address, address, policy.address_max_failures, policy, now, besides),
        ]
    found = [lock for lock in locks if lock is not None]
    return max(found) if found else None


def begin_attempt(
    engine: Engine, policy: LoginPolicy, username: str, address: str, now: datetime
) -> tuple[int, datetime | None]:
    """Counts a login attempt as failed until it succeeds: its id, and the lock the other attempts
    hold (None: go ahead and check the password).

    Counted before the password is checked, so 50 attempts sent at once see each other: the ones
    past the limit are refused, not checked side by side.  A refused attempt is then ``forgotten``.
    """
    username, address = _key(username, address)
    with Session(engine) as session, session.begin():
        session.execute(delete(LoginFailure).where(LoginFailure.at <= now - policy.window))
        attempt = LoginFailure(username=username, address=address, at=now)
        session.add(attempt)
        session.flush()
        attempt_id = int(attempt.id)
    return attempt_id, locked_until(engine, policy, username, address, now, besides=attempt_id)


def forget(engine: Engine, attempt_id: int) -> None:
    """A refused attempt (locked) does not count: its password was never checked."""
    with Session(engine) as session, session.begin():
        session.execute(delete(LoginFailure).where(LoginFailure.id == attempt_id))


def failed(engine: Engine, policy: LoginPolicy, username: str, address: str, now: datetime) -> None:
    """The attempt failed (it stays counted): audited, with the lock it started if any."""
    lock = locked_until(engine, policy, username, address, now)
    audit_events.login_failed(engine, username, address, failures(engine, username, policy, now), lock)


def clear(engine: Engine, username: str) -> None:
    """A successful login (its own attempt included) or a password reset: the account's failures
    are forgiven.
    """
    with Session(engine) as session, session.begin():
        session.execute(delete(LoginFailure).where(LoginFailure.username == username[:MAX_USERNAME_CHARS]))


def failures(engine: Engine, username: str, policy: LoginPolicy, now: datetime) -> int:
    """The account's failures within the window (for the audit entry of a failed login)."""
    with Session(engine) as session:
        return int(
            session.execute(
                select(func.count()).where(
                    LoginFailure.username == username[:MAX_USERNAME_CHARS],
                    LoginFailure.at > now - policy.window,
                )
            ).scalar_one()
        )
