"""One migrated SQLite handoff database per test session, copied for each test that needs a fresh one.

Running every Alembic migration takes about a second; most tests start the service on an empty
SQLite file, so ``make unit`` spent most of its time migrating.  The copy is the same schema the
migrations build (they run once, for real, to make it), and Alembic still runs on the copy (a
no-op at head), so a test sees exactly what a fresh service would.  Postgres URLs, targets other
than ``head`` and files that already hold data go to Alembic untouched; the migration tests
themselves (tests/handoff/test_migrations.py) step through revisions and are not affected.
"""

import shutil
from pathlib import Path
from typing import Any

from alembic import command as alembic_command


class TemplatedAlembic:
    """Stands in for ``alembic.command`` inside handoff.core.migrate."""

    def __init__(self, template_dir: Path) -> None:
        self._template = template_dir / "handoff-template.db"
        self._ready = False

    def __getattr__(self, name: str) -> Any:
        return getattr(alembic_command, name)

    def upgrade(self, config: Any, revision: str, *args: Any, **kwargs: Any) -> None:
        path = _fresh_sqlite_file(config.get_main_option("sqlalchemy.url") or "")
        if revision == "head" and path is not None:
            if not self._ready:
                url = f"sqlite:///{self._template}"
                template_config = _with_url(config, url)
                alembic_command.upgrade(template_config, "head")
                self._ready = True
            shutil.copyfile(self._template, path)
        alembic_command.upgrade(config, revision, *args, **kwargs)


def _fresh_sqlite_file(url: str) -> Path | None:
    """The file of a SQLite URL that names a file not yet created (or empty); None otherwise."""
    if not url.startswith("sqlite:///"):
        return None
    raw = url.removeprefix("sqlite:///").replace("%%", "%")
    if not raw or raw == ":memory:" or "?" in raw:
        return None
    path = Path(raw)
    if path.exists() and path.stat().st_size > 0:
        return None
    return path


def _with_url(config: Any, url: str) -> Any:
    from alembic.config import Config

    copy = Config()
    copy.set_main_option("script_location", config.get_main_option("script_location"))
    copy.set_main_option("sqlalchemy.url", url)
    return copy
