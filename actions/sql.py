"""One way for the action server to open a database: SQLite by default, anything SQLAlchemy speaks by URL."""

from pathlib import Path

from sqlalchemy import create_engine
from sqlalchemy.engine import Engine


def open_engine(database_url: str) -> Engine:
    """An engine for ``database_url``.

    A relative SQLite path gets its folder created, so a fresh checkout just works; SQLite
    connections may be used from the action server's worker threads (``asyncio.to_thread``).
    """
    if database_url.startswith("sqlite:///") and not database_url.startswith("sqlite:////"):
        Path(database_url.removeprefix("sqlite:///")).parent.mkdir(parents=True, exist_ok=True)
    connect_args = {"check_same_thread": False} if database_url.startswith("sqlite") else {}
    return create_engine(database_url, future=True, connect_args=connect_args)
