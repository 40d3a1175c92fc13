"""Console accounts and login sessions: scrypt password hashes, random session tokens, CSRF tokens.

Only a SHA-256 of each session token is stored, so a copy of the database does not log anyone
in.  Demo accounts (one per role) are created on first run with random passwords that are
printed once; set ATTUNE_DEMO_PASSWORD to choose the password instead (tests, demos).  Other
accounts come from `attune agents` (handoff/console/agent_admin.py).  A disabled account cannot log in,
and its sessions are not accepted.

Logging in costs one scrypt whether or not the username exists (an unknown one is checked against
``DUMMY_HASH``), so the time a login takes does not tell which usernames have accounts.
"""

import hashlib
import hmac
import secrets
from dataclasses import dataclass
from datetime import datetime, timedelta, timezone

from sqlalchemy import delete, func, select
from sqlalchemy.engine import Engine
from sqlalchemy.orm import Session

from handoff.core.access import UNMASKED_TRANSCRIPTS
from handoff.core.db import as_utc
from handoff.core.models import CLAIMED, ONLINE, ROLES, Agent, ConsoleSession, Handoff

SESSION_LIFETIME = timedelta(hours=12)
# An agent whose console made a request within this window is online (the live view polls every 2 s).
ONLINE_WINDOW = timedelta(minutes=5)
_SCRYPT = {"n": 2**14, "r": 8, "p": 1, "dklen": 32}
# The scrypt of a random password nobody kept: what an unknown username's password is checked
# against, so it costs what a real check costs.  A literal, so nothing is hashed at import time.
DUMMY_HASH = (
    "scrypt$3508fc79983ec3d464f158a950a81bed$25b4db0915f826aae8dc7764ab8b83f582f98115086aca76f27822c51675664a"
)
DEMO_ACCOUNTS = (
    ("agent", "Alex Agent", "agent"),
    ("supervisor", "Sam Supervisor", "supervisor"),
    ("admin", "Ada Admin", "admin"),
    ("designer", "Dee Designer", "designer"),
)


@dataclass(frozen=True)
class AgentInfo:
    id: int
    username: str
    display_name: str
    role: str
    # What the access policy (handoff/core/access.py) lets this role do.  Empty as read from the database:
    # the console fills it in from the app's policy on every request (console.current_session).
    grants: frozenset[str] = frozenset()

    def may(self, capability: str) -> bool:
        """Has one of handoff.core.access.CAPABILITIES (``agent.may("review_flags")`` in templates)."""
        return capability in self.grants

    @property
    def cleared(self) -> bool:
        """May see unmasked personal data (the access policy's ``unmasked_transcripts``)."""
        return self.may(UNMASKED_TRANSCRIPTS)


@dataclass(frozen=True)
class LoginSession:
    token: str  # for the cookie; never stored
    csrf_token: str
    agent: AgentInfo


def hash_password(password: str) -> str:
    salt = secrets.token_bytes(16)
    digest = hashlib.scrypt(password.encode(), salt=salt, **_SCRYPT)
    return f"scrypt${salt.hex()}${digest.hex()}"


def verify_password(password: str, stored: str) -> bool:
    try:
        scheme, salt_hex, digest_hex = stored.split("$")
    except ValueError:
        return False
    if scheme != "scrypt":
        return False
    digest = hashlib.scrypt(password.encode(), salt=bytes.fromhex(salt_hex), **_SCRYPT)
    return hmac.compare_digest(digest.hex(), digest_hex)


def _info(agent: Agent) -> AgentInfo:
    return AgentInfo(agent.id, agent.username, agent.display_name, agent.role)


def create_agent(engine: Engine, username: str, display_name: str, password: str, role: str) -> AgentInfo:
    if role not in ROLES:
        raise ValueError(f"role must be one of {', '.join(ROLES)}")
    with Session(engine) as session, session.begin():
        agent = Agent(
            username=username, display_name=display_name, password_hash=hash_password(password), role=role
        )
        session.add(agent)
        session.flush()
        return _info(agent)


def ensure_demo_accounts(engine: Engine, password: str | None = None) -> list[tuple[str, str, str]]:
    """Creates the demo accounts when there are no agents yet; returns (username, password, role) created."""
    with Session(engine) as session:
        if session.execute(select(Agent.id).limit(1)).first() is not None:
            return []
    created = []
    for username, display_name, role in DEMO_ACCOUNTS:
        secret = password or secrets.token_urlsafe(9)
        create_agent(engine, username, display_name, secret, role)
        created.append((username, secret, role))
    return created


def authenticate(engine: Engine, username: str, password: str) -> AgentInfo | None:
    """The account if ``password`` is its password and it is not disabled; one scrypt either way."""
    with Session(engine) as session:
        agent = session.execute(select(Agent).where(Agent.username == username)).scalar_one_or_none()
        stored = agent.password_hash if agent is not None else DUMMY_HASH
        matches = verify_password(password, stored)
        if agent is None or agent.disabled_at is not None or not matches:
            return None
        return _info(agent)


def _token_hash(token: str) -> str:
    return hashlib.sha256(token.encode()).hexdigest()


def start_session(engine: Engine, agent: AgentInfo, now: datetime | None = None) -> LoginSession:
    moment = now or datetime.now(timezone.utc)
    token, csrf = secrets.token_urlsafe(32), secrets.token_urlsafe(32)
    with Session(engine) as session, session.begin():
        session.add(
            ConsoleSession(
                token_hash=_token_hash(token),
                agent_id=agent.id,
                csrf_token=csrf,
                created_at=moment,
                expires_at=moment + SESSION_LIFETIME,
                last_seen_at=moment,
            )
        )
    return LoginSession(token, csrf, agent)


def find_session(engine: Engine, token: str, now: datetime | None = None) -> LoginSession | None:
    """The live session for ``token`` (and marks its agent as online), or None."""
    moment = now or datetime.now(timezone.utc)
    with Session(engine) as session, session.begin():
        row = session.execute(
            select(ConsoleSession, Agent)
            .join(Agent, Agent.id == ConsoleSession.agent_id)
            .where(ConsoleSession.token_hash == _token_hash(token), Agent.disabled_at.is_(None))
        ).first()
        if row is None:
            return None
        login, agent = row
        expires = as_utc(login.expires_at)
        if expires <= moment:
            return None
        login.last_seen_at = moment
        return LoginSession(token, login.csrf_token, _info(agent))


def end_session(engine: Engine, token: str) -> None:
    with Session(engine) as session, session.begin():
        session.execute(delete(ConsoleSession).where(ConsoleSession.token_hash == _token_hash(token)))


def connected_agents(engine: Engine, now: datetime | None = None) -> set[int]:
    """The agents whose console made a request within ONLINE_WINDOW (and who are still logged in)."""
    moment = now or datetime.now(timezone.utc)
    with Session(engine) as session:
        rows = session.execute(
            select(ConsoleSession.agent_id, ConsoleSession.last_seen_at, ConsoleSession.expires_at)
        ).all()
    connected = set()
    for agent_id, seen, expires in rows:
        if seen is not None and moment - as_utc(seen) <= ONLINE_WINDOW and as_utc(expires) > moment:
            connected.add(agent_id)
    return connected


def agents_online(engine: Engine, now: datetime | None = None) -> int:
    """How many agents could take a handoff now: connected (``connected_agents``), presence ``online``
    and holding fewer claimed handoffs than their capacity (handoff/workspace/presence.py sets both).
    An agent who is away, or full, is not "someone online" for the customer's wait message.
    """
    connected = connected_agents(engine, now)
    if not connected:
        return 0
    with Session(engine) as session:
        loads = dict(
            session.execute(
                select(Handoff.claimed_by, func.count())
                .where(Handoff.status == CLAIMED, Handoff.claimed_by.in_(connected))
                .group_by(Handoff.claimed_by)
            ).all()
        )
        agents = session.execute(
            select(Agent.id, Agent.capacity).where(
                Agent.id.in_(connected), Agent.disabled_at.is_(None), Agent.presence == ONLINE
            )
        ).all()
    return sum(1 for agent_id, capacity in agents if loads.get(agent_id, 0) < capacity)
