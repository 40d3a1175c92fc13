"""Settings of the action server, read from the environment on first use.

Every value has an embedded default so ``make run`` works with no configuration; a value that is
present but malformed fails with a message naming the variable.
"""

import os
from collections.abc import Mapping
from dataclasses import dataclass, field


class ConfigError(ValueError):
    """A setting is missing or malformed; the message names the environment variable."""


@dataclass(frozen=True)
class SelfServiceLimits:
    """How much self-service one conversation and one client address may ask for (actions/verification.py).

    Counted over a sliding window of ``window_seconds``, in the store's database (so every action
    server counts the same).  A client address is what the Rasa channels wrote into
    ``metadata.attune.client_address`` (ATTUNE_TRUSTED_PROXIES decides whom they believe); SMS and
    WhatsApp have none.  Benchmarks and load tests, which chat from one address, raise these.
    """

    # ATTUNE_SELF_SERVICE_WINDOW_SECONDS
    window_seconds: int = 600
    # ATTUNE_SELF_SERVICE_LOOKUPS_PER_CONVERSATION: order and account lookups per window.
    lookups_per_conversation: int = 20
    # ATTUNE_SELF_SERVICE_LOOKUPS_PER_ADDRESS: the same, over every conversation from one address.
    lookups_per_address: int = 200
    # ATTUNE_SELF_SERVICE_FAILED_CHECKS_PER_CONVERSATION: a wrong e-mail/postcode for an order, a wrong code.
    failed_checks_per_conversation: int = 5
    # ATTUNE_SELF_SERVICE_FAILED_CHECKS_PER_ADDRESS
    failed_checks_per_address: int = 50
    # ATTUNE_SELF_SERVICE_CODES_PER_WINDOW: one-time codes issued per conversation, and sent per customer.
    codes_per_window: int = 3

    @classmethod
    def from_env(cls, environ: Mapping[str, str]) -> "SelfServiceLimits":
        def number(name: str, default: int) -> int:
            return _positive_int(environ, f"ATTUNE_SELF_SERVICE_{name}", default)

        return cls(
            window_seconds=number("WINDOW_SECONDS", cls.window_seconds),
            lookups_per_conversation=number("LOOKUPS_PER_CONVERSATION", cls.lookups_per_conversation),
            lookups_per_address=number("LOOKUPS_PER_ADDRESS", cls.lookups_per_address),
            failed_checks_per_conversation=number(
                "FAILED_CHECKS_PER_CONVERSATION", cls.failed_checks_per_conversation
            ),
            failed_checks_per_address=number("FAILED_CHECKS_PER_ADDRESS", cls.failed_checks_per_address),
            codes_per_window=number("CODES_PER_WINDOW", cls.codes_per_window),
        )


@dataclass(frozen=True)
class ActionServerSettings:
    store_database_url: str = "sqlite:///var/store.db"
    empathy_policy_file: str = "policy/empathy.yml"
    handoff_url: str = "http://127.0.0.1:5056"
    handoff_token: str | None = None
    # Handoffs the service has not confirmed yet wait here, on disk, until it does.
    outbox_database_url: str = "sqlite:///var/outbox.db"
    # When call-backs may ring (business hours, quiet hours, windows): actions/callback_hours.py.
    callback_hours_file: str = "policy/business_hours.yml"
    # When the CSAT question is asked and when it is not (actions/csat_policy.py).
    csat_policy_file: str = "policy/csat.yml"
    # The tone experiments (actions/experiment_arm.py, docs/experiments.md).
    experiments_file: str = "policy/experiments.yml"
    # Shadow mode: a candidate empathy policy scored beside the live one (actions/shadow_mode.py).
    shadow_file: str = "policy/shadow.yml"
    # Prometheus metrics on 127.0.0.1:<port>/metrics (actions/metrics.py); None: not served.
    metrics_port: int | None = None
    self_service_limits: SelfServiceLimits = field(default_factory=SelfServiceLimits)

    @classmethod
    def from_env(cls, environ: Mapping[str, str]) -> "ActionServerSettings":
        policy = environ.get("ATTUNE_EMPATHY_POLICY", cls.empathy_policy_file).strip()
        if not policy:
            raise ConfigError(
                "ATTUNE_EMPATHY_POLICY must name the empathy policy YAML file (default policy/empathy.yml)"
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
            csat_policy_file=environ.get("ATTUNE_CSAT_POLICY", "").strip() or cls.csat_policy_file,
            experiments_file=environ.get("ATTUNE_EXPERIMENTS", "").strip() or cls.experiments_file,
            shadow_file=environ.get("ATTUNE_SHADOW", "").strip() or cls.shadow_file,
            metrics_port=_port(environ, "ATTUNE_ACTIONS_METRICS_PORT"),
            self_service_limits=SelfServiceLimits.from_env(environ),
        )


def _positive_int(environ: Mapping[str, str], name: str, default: int) -> int:
    """A whole number of at least 1; the default when the variable is unset or empty."""
    text = environ.get(name, "").strip()
    if not text:
        return default
    if not text.isdigit() or int(text) < 1:
        raise ConfigError(f"{name} must be a whole number of at least 1, got {text!r}")
    return int(text)


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


def current() -> ActionServerSettings:
    return ActionServerSettings.from_env(os.environ)
