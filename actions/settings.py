"""Settings of the action server, read from the environment on first use.

Every value has an embedded default so ``make run`` works with no configuration; a value that is
present but malformed fails with a message naming the variable.
"""

import os
from collections.abc import Mapping
from dataclasses import dataclass


class ConfigError(ValueError):
    """A setting is missing or malformed; the message names the environment variable."""


@dataclass(frozen=True)
class ActionSettings:
    store_database_url: str = "sqlite:///var/store.db"
    empathy_policy_file: str = "data/empathy.yml"
    handoff_url: str = "http://127.0.0.1:5056"
    handoff_token: str | None = None
    # Handoffs the service has not confirmed yet wait here, on disk, until it does.
    outbox_database_url: str = "sqlite:///var/outbox.db"
    # When call-backs may ring (business hours, quiet hours, windows): actions/callback_hours.py.
    callback_hours_file: str = "data/callbacks.yml"
    # Prometheus metrics on 127.0.0.1:<port>/metrics (actions/metrics.py); None: not served.
    metrics_port: int | None = None

    @classmethod
    def from_env(cls, environ: Mapping[str, str]) -> "ActionSettings":
        policy = environ.get("ATTUNE_EMPATHY_POLICY", cls.empathy_policy_file).strip()
        if not policy:
            raise ConfigError(
                "ATTUNE_EMPATHY_POLICY must name the empathy policy YAML file (default data/empathy.yml)"
            )
        handoff_url = environ.get("ATTUNE_HANDOFF_URL", cls.handoff_url).strip().rstrip("/")
        if not handoff_url.startswith(("http://", "https://")):
            raise ConfigError(f"ATTUNE_HANDOFF_URL must be an http(s) URL, got {handoff_url!r}")
        token = environ.get("ATTUNE_HANDOFF_API_TOKEN", "").strip() or None
        return cls(
            store_database_url=_sql_url(environ, "ATTUNE_STORE_DATABASE_URL", cls.store_database_url),
            empathy_policy_file=policy,
            handoff_url=handoff_url,
            handoff_token=token,
            outbox_database_url=_sql_url(environ, "ATTUNE_OUTBOX_DATABASE_URL", cls.outbox_database_url),
            callback_hours_file=environ.get("ATTUNE_CALLBACK_HOURS", "").strip() or cls.callback_hours_file,
            metrics_port=_port(environ, "ATTUNE_ACTIONS_METRICS_PORT"),
        )


def _port(environ: Mapping[str, str], name: str) -> int | None:
    """A TCP port, or None when the variable is unset or empty."""
    text = environ.get(name, "").strip()
    if not text:
        return None
    if not text.isdigit() or not 1 <= int(text) <= 65535:
        raise ConfigError(f"{name} must be a port number from 1 to 65535 (or empty: off), got {text!r}")
    return int(text)


def _sql_url(environ: Mapping[str, str], name: str, default: str) -> str:
    url = environ.get(name, default).strip()
    if "://" not in url:
        raise ConfigError(f"{name} must be an SQLAlchemy URL such as {default}, got {url!r}")
    return url


def current() -> ActionSettings:
    return ActionSettings.from_env(os.environ)
