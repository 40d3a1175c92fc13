"""Settings of the handoff service, read from the environment once at start-up.

Every value has an embedded default so ``make run`` works with no configuration (the launcher
provides the one required secret, ``ATTUNE_SESSION_KEY``); a value that is missing when required or
present but malformed stops the service with a message that names the variable.
"""

import ipaddress
from collections.abc import Mapping
from dataclasses import dataclass, replace

from handoff.shared.client_addresses import TrustedProxies, TrustedProxiesError
from handoff.shared.identity_tokens import WeakKey, check_key

Network = ipaddress.IPv4Network | ipaddress.IPv6Network
LOG_FORMATS = ("json", "text")
LOG_LEVELS = ("DEBUG", "INFO", "WARNING", "ERROR")


class ConfigError(ValueError):
    """A setting is malformed; the message names the environment variable."""


@dataclass(frozen=True)
class Settings:
    host: str = "127.0.0.1"
    port: int = 5056
    database_url: str = "sqlite:///var/handoff.db"
    log_level: str = "INFO"
    log_format: str = "json"
    rasa_url: str = "http://127.0.0.1:5005"
    # Bearer token the action server sends with handoffs; None = the API accepts calls without one
    # (the launcher always sets a random one; set your own in production).
    api_token: str | None = None
    # External help desks that receive every new handoff (HMAC-SHA256 signed with webhook_secret).
    webhook_urls: tuple[str, ...] = ()
    webhook_secret: str | None = None
    webhook_max_attempts: int = 6
    # How often the webhook worker looks for due deliveries (seconds).
    webhook_poll_seconds: float = 1.0
    # The desks are cleared for personal data: webhook bodies are sent unmasked (default: masked).
    webhook_unmasked: bool = False
    # Who sees what in the console and the API (handoff/core/access.py); None = policy/access.yml.
    access_policy_file: str | None = None
    # The empathy policy the designer's playground reads and saves (handoff/playground/); the same
    # ATTUNE_EMPATHY_POLICY file the action servers on this host read (and reload when it changes).
    empathy_policy_file: str = "policy/empathy.yml"
    # ATTUNE_EXPERIMENTS: the tone experiments the console's report pages read (handoff/dashboard/); the
    # same file the action servers on this host assign from (and reload when it changes).
    experiments_file: str = "policy/experiments.yml"
    # Where customers' browsers reach Rasa's socket.io channel (the web chat page connects there).
    public_rasa_url: str = "http://127.0.0.1:5005"
    # Token of the Rasa server's HTTP API (pause, resume, relay agent messages).
    rasa_token: str | None = None
    # A claimed handoff whose console has not checked in for this long goes back to the queue.
    claim_timeout_seconds: int = 120
    # A customer still waiting for a person after this long is told so, with their alternatives.
    max_wait_seconds: int = 600
    # Twilio (call-backs): without all three, call-backs run in simulated mode.
    twilio_account_sid: str | None = None
    twilio_auth_token: str | None = None
    twilio_from_number: str | None = None
    # Another Twilio-compatible API instead of https://api.twilio.com (handoff/shared/twilio_http.py).
    twilio_api_base: str | None = None
    # The agent line a call-back connects the customer to, and this service's public base URL
    # (Twilio fetches TwiML and posts status callbacks there; signatures are checked against it).
    agent_phone_line: str | None = None
    public_url: str = "http://127.0.0.1:5056"
    # Call-backs per customer (and per number) in any 24 hours, and the wait before the one retry
    # of a busy or unanswered call.
    callback_daily_limit: int = 3
    callback_retry_seconds: int = 300
    # Rasa's SQL tracker store, so retention and erasure reach the conversations too (None: not purged).
    tracker_database_url: str | None = None
    # ATTUNE_EVENT_BROKER_URL: Rasa's SQL event broker (endpoints.yml event_broker), which the analytics
    # consumer reads (handoff/analytics/) and retention and erasure reach (None: no broker, no analytics).
    event_broker_url: str | None = None
    # ATTUNE_RABBITMQ_URL (amqp:// or amqps://): Rasa's Pika event broker instead (endpoints.yml
    # `type: bot.components.event_broker.TimedPikaEventBroker`, Rasa's Pika broker with a publish
    # timeout); the analytics consumer reads ATTUNE_RABBITMQ_QUEUE (handoff/analytics/pika_consumer.py).
    rabbitmq_url: str | None = None
    rabbitmq_queue: str = "rasa_core_events"
    # ATTUNE_ANALYTICS_CONSUMER=0: not run here (`python -m handoff.analytics` runs it as its own process).
    analytics_consumer: bool = True
    # ATTUNE_CSAT_IDLE=0: no idle CSAT trigger from this service (handoff/analytics/idle_worker.py; it
    # runs only with an event broker, whose events say which conversations went quiet).
    csat_idle: bool = True
    # ATTUNE_CSAT_POLICY: the CSAT policy (idle_minutes, enabled), the same file the action servers read.
    csat_policy_file: str = "policy/csat.yml"
    # ATTUNE_ANALYTICS_ROLLUP_SECONDS: how often this service recomputes today's and yesterday's
    # dashboard roll-ups (handoff/analytics/rollup_worker.py); below the pages' 60 s TTL, 0 = off.
    analytics_rollup_seconds: int = 30
    # Retention periods in days: emotion data, then transcripts and handoffs, then audit entries.
    retention_emotion_days: int = 30
    retention_transcript_days: int = 180
    retention_audit_days: int = 730
    # How often the service applies them.
    purge_interval_seconds: int = 6 * 3600
    # Password of the demo accounts created on first run; None = random ones, printed once.
    demo_password: str | None = None
    # ATTUNE_SESSION_KEY: the secret the Rasa server signs web chat session ids with (at least 32
    # characters; required by from_env).  The web chat's emotion switch (/chat/consent) accepts only a
    # session id signed with it.  Empty (only when built in code) = every session is refused.
    session_key: str = ""
    # ATTUNE_IDENTITY_KEY: the key a site signs customers' identity tokens with
    # (handoff/shared/identity_tokens.py);
    # empty = every web customer is anonymous.  Here only for the demo sign-in below.
    identity_key: str = ""
    # ATTUNE_DEMO_SIGN_IN=1: the chat page offers "sign in as the demo customer" (/chat?as=demo), which
    # signs a token with identity_key for customer C-1001.  For the tour only: anyone who can open the
    # page becomes that customer.  Needs ATTUNE_IDENTITY_KEY; `make run` sets both.
    demo_sign_in: bool = False
    # Console logins: failures per account, and per client address, before a lock that doubles with
    # each further failure (handoff/console/login_throttle.py).
    login_max_failures: int = 5
    login_address_max_failures: int = 20
    # ATTUNE_TRUSTED_PROXIES: networks of reverse proxies whose X-Forwarded-For is believed (the
    # client is the last address in it not in them); none = the TCP peer is the client.  The same
    # variable, in the same form, as the Rasa server's (bot/components/client_address.py).
    trusted_proxies: tuple[Network, ...] = ()

    @property
    def https(self) -> bool:
        """Served over https (ATTUNE_PUBLIC_URL starts with https://): cookies are ``Secure`` and
        every response carries HSTS.  Plain http is for loopback and tests only.
        """
        return self.public_url.startswith("https://")

    @classmethod
    def from_env(cls, environ: Mapping[str, str]) -> "Settings":
        def get(name: str, default: str) -> str:
            value = environ.get(name, default).strip()
            if not value:
                raise ConfigError(f"{name} is set but empty")
            return value

        urls, secret, attempts = _webhooks(environ)
        settings = cls(
            host=get("ATTUNE_HANDOFF_HOST", cls.host),
            port=_port("ATTUNE_HANDOFF_PORT", get("ATTUNE_HANDOFF_PORT", str(cls.port))),
            database_url=_url(
                "ATTUNE_HANDOFF_DATABASE_URL", get("ATTUNE_HANDOFF_DATABASE_URL", cls.database_url)
            ),
            log_level=_choice("ATTUNE_LOG_LEVEL", get("ATTUNE_LOG_LEVEL", cls.log_level).upper(), LOG_LEVELS),
            log_format=_choice(
                "ATTUNE_LOG_FORMAT", get("ATTUNE_LOG_FORMAT", cls.log_format).lower(), LOG_FORMATS
            ),
            rasa_url=_http("ATTUNE_RASA_URL", get("ATTUNE_RASA_URL", cls.rasa_url)),
            api_token=_token("ATTUNE_HANDOFF_API_TOKEN", environ.get("ATTUNE_HANDOFF_API_TOKEN")),
            rasa_token=environ.get("ATTUNE_RASA_TOKEN", "").strip() or None,
            public_rasa_url=_http(
                "ATTUNE_PUBLIC_RASA_URL",
                get("ATTUNE_PUBLIC_RASA_URL", environ.get("ATTUNE_RASA_URL", cls.rasa_url)),
            ),
            claim_timeout_seconds=_seconds(
                "ATTUNE_CLAIM_TIMEOUT_SECONDS", environ.get("ATTUNE_CLAIM_TIMEOUT_SECONDS", "120")
            ),
            demo_password=environ.get("ATTUNE_DEMO_PASSWORD", "").strip() or None,
            twilio_account_sid=environ.get("TWILIO_ACCOUNT_SID", "").strip() or None,
            twilio_auth_token=environ.get("TWILIO_AUTH_TOKEN", "").strip() or None,
            twilio_from_number=environ.get("TWILIO_FROM_NUMBER", "").strip() or None,
            twilio_api_base=(
                _http("ATTUNE_TWILIO_API_BASE", environ["ATTUNE_TWILIO_API_BASE"].strip())
                if environ.get("ATTUNE_TWILIO_API_BASE", "").strip()
                else None
            ),
            agent_phone_line=environ.get("ATTUNE_AGENT_PHONE_LINE", "").strip() or None,
            public_url=_http(
                "ATTUNE_PUBLIC_URL",
                get("ATTUNE_PUBLIC_URL", f"http://127.0.0.1:{environ.get('ATTUNE_HANDOFF_PORT', '5056')}"),
            ),
            max_wait_seconds=_seconds(
                "ATTUNE_MAX_WAIT_SECONDS", environ.get("ATTUNE_MAX_WAIT_SECONDS", "600")
            ),
            callback_daily_limit=_whole(
                "ATTUNE_CALLBACK_DAILY_LIMIT", environ.get("ATTUNE_CALLBACK_DAILY_LIMIT", "3"), 0, 100
            ),
            callback_retry_seconds=_whole(
                "ATTUNE_CALLBACK_RETRY_SECONDS",
                environ.get("ATTUNE_CALLBACK_RETRY_SECONDS", "300"),
                1,
                86_400,
            ),
            tracker_database_url=(
                _url("ATTUNE_TRACKER_DATABASE_URL", environ["ATTUNE_TRACKER_DATABASE_URL"].strip())
                if environ.get("ATTUNE_TRACKER_DATABASE_URL", "").strip()
                else None
            ),
            event_broker_url=(
                _url("ATTUNE_EVENT_BROKER_URL", environ["ATTUNE_EVENT_BROKER_URL"].strip())
                if environ.get("ATTUNE_EVENT_BROKER_URL", "").strip()
                else None
            ),
            rabbitmq_url=_amqp("ATTUNE_RABBITMQ_URL", environ.get("ATTUNE_RABBITMQ_URL", "").strip()),
            rabbitmq_queue=_queue_name(
                "ATTUNE_RABBITMQ_QUEUE", get("ATTUNE_RABBITMQ_QUEUE", cls.rabbitmq_queue)
            ),
            analytics_consumer=_flag(
                "ATTUNE_ANALYTICS_CONSUMER", environ.get("ATTUNE_ANALYTICS_CONSUMER", "1")
            ),
            csat_idle=_flag("ATTUNE_CSAT_IDLE", environ.get("ATTUNE_CSAT_IDLE", "1")),
            csat_policy_file=environ.get("ATTUNE_CSAT_POLICY", "").strip() or "policy/csat.yml",
            analytics_rollup_seconds=_whole(
                "ATTUNE_ANALYTICS_ROLLUP_SECONDS", environ.get("ATTUNE_ANALYTICS_ROLLUP_SECONDS", "30"), 0, 59
            ),
            retention_emotion_days=_whole(
                "ATTUNE_RETENTION_EMOTION_DAYS", environ.get("ATTUNE_RETENTION_EMOTION_DAYS", "30"), 1, 36_500
            ),
            retention_transcript_days=_whole(
                "ATTUNE_RETENTION_TRANSCRIPT_DAYS",
                environ.get("ATTUNE_RETENTION_TRANSCRIPT_DAYS", "180"),
                1,
                36_500,
            ),
            retention_audit_days=_whole(
                "ATTUNE_RETENTION_AUDIT_DAYS", environ.get("ATTUNE_RETENTION_AUDIT_DAYS", "730"), 1, 36_500
            ),
            purge_interval_seconds=_whole(
                "ATTUNE_PURGE_INTERVAL_SECONDS",
                environ.get("ATTUNE_PURGE_INTERVAL_SECONDS", "21600"),
                60,
                604_800,
            ),
            webhook_urls=urls,
            webhook_secret=secret,
            webhook_max_attempts=attempts,
            webhook_unmasked=_flag(
                "ATTUNE_HANDOFF_WEBHOOK_UNMASKED", environ.get("ATTUNE_HANDOFF_WEBHOOK_UNMASKED", "0")
            ),
            access_policy_file=environ.get("ATTUNE_ACCESS_POLICY", "").strip() or None,
            empathy_policy_file=environ.get("ATTUNE_EMPATHY_POLICY", "").strip() or "policy/empathy.yml",
            experiments_file=environ.get("ATTUNE_EXPERIMENTS", "").strip() or "policy/experiments.yml",
            login_max_failures=_whole(
                "ATTUNE_LOGIN_MAX_FAILURES", environ.get("ATTUNE_LOGIN_MAX_FAILURES", "5"), 1, 1000
            ),
            login_address_max_failures=_whole(
                "ATTUNE_LOGIN_ADDRESS_MAX_FAILURES",
                environ.get("ATTUNE_LOGIN_ADDRESS_MAX_FAILURES", "20"),
                1,
                100_000,
            ),
            trusted_proxies=_trusted_proxies(environ.get("ATTUNE_TRUSTED_PROXIES", "")),
        )
        # Read last, so a malformed value above is reported before a missing key.
        session_key, identity_key, demo = _keys(environ)
        return replace(settings, session_key=session_key, identity_key=identity_key, demo_sign_in=demo)


def _keys(environ: Mapping[str, str]) -> tuple[str, str, bool]:
    """The session key (required), the identity key (optional) and the demo sign-in that needs it."""
    session = environ.get("ATTUNE_SESSION_KEY", "").strip()
    if not session:
        raise ConfigError(
            "ATTUNE_SESSION_KEY is required: the secret that signs web chat session ids, shared with the "
            "Rasa server (`make run` creates var/session.key)"
        )
    try:
        session = check_key("ATTUNE_SESSION_KEY", session, required=True)
        identity = check_key("ATTUNE_IDENTITY_KEY", environ.get("ATTUNE_IDENTITY_KEY", "").strip(), False)
    except WeakKey as error:
        raise ConfigError(str(error)) from error
    demo = _flag("ATTUNE_DEMO_SIGN_IN", environ.get("ATTUNE_DEMO_SIGN_IN", "0"))
    if demo and not identity:
        raise ConfigError(
            "ATTUNE_DEMO_SIGN_IN=1 needs ATTUNE_IDENTITY_KEY (the demo token is signed with it)"
        )
    return session, identity, demo


def _port(name: str, raw: str) -> int:
    if not raw.isdigit() or not 1 <= int(raw) <= 65535:
        raise ConfigError(f"{name} must be an integer 1-65535, got {raw!r}")
    return int(raw)


def _url(name: str, raw: str) -> str:
    if "://" not in raw:
        raise ConfigError(f"{name} must be an SQLAlchemy URL such as sqlite:///var/handoff.db, got {raw!r}")
    return raw


def _amqp(name: str, raw: str) -> str | None:
    if not raw:
        return None
    if not raw.startswith(("amqp://", "amqps://")) or len(raw) > 2048:
        raise ConfigError(
            f"{name} must be an amqp:// or amqps:// URL such as amqp://user:password@host:5672/"
        )
    return raw


def _queue_name(name: str, raw: str) -> str:
    # AMQP short strings: at most 255 bytes; "amq." names are reserved for the broker.
    if len(raw.encode()) > 255 or raw.startswith("amq.") or not raw.isprintable():
        raise ConfigError(f"{name} must be a RabbitMQ queue name (printable, <= 255 bytes, not amq.*)")
    return raw


def _http(name: str, raw: str) -> str:
    if not raw.startswith(("http://", "https://")):
        raise ConfigError(f"{name} must be an http(s) URL, got {raw!r}")
    return raw.rstrip("/")


def _choice(name: str, raw: str, allowed: tuple[str, ...]) -> str:
    if raw not in allowed:
        raise ConfigError(f"{name} must be one of {', '.join(allowed)}, got {raw!r}")
    return raw


def _token(name: str, raw: str | None) -> str | None:
    if raw is None:
        return None
    if len(raw.strip()) < 16:
        raise ConfigError(f"{name} must be at least 16 characters (use a random secret)")
    return raw.strip()


def _webhooks(environ: Mapping[str, str]) -> tuple[tuple[str, ...], str | None, int]:
    urls = tuple(
        u.strip().rstrip("/") for u in environ.get("ATTUNE_HANDOFF_WEBHOOKS", "").split(",") if u.strip()
    )
    for url in urls:
        _http("ATTUNE_HANDOFF_WEBHOOKS", url)
    secret = _token("ATTUNE_HANDOFF_WEBHOOK_SECRET", environ.get("ATTUNE_HANDOFF_WEBHOOK_SECRET"))
    if urls and secret is None:
        raise ConfigError("ATTUNE_HANDOFF_WEBHOOK_SECRET is required when ATTUNE_HANDOFF_WEBHOOKS is set")
    raw_attempts = environ.get("ATTUNE_HANDOFF_WEBHOOK_MAX_ATTEMPTS", "6").strip()
    if not raw_attempts.isdigit() or not 1 <= int(raw_attempts) <= 50:
        raise ConfigError(f"ATTUNE_HANDOFF_WEBHOOK_MAX_ATTEMPTS must be 1-50, got {raw_attempts!r}")
    return urls, secret, int(raw_attempts)


def _trusted_proxies(raw: str) -> tuple[Network, ...]:
    try:
        return TrustedProxies.parse(raw).networks
    except TrustedProxiesError as error:
        raise ConfigError(str(error)) from error


def _flag(name: str, raw: str) -> bool:
    if raw.strip() not in ("0", "1"):
        raise ConfigError(f"{name} must be 0 or 1, got {raw!r}")
    return raw.strip() == "1"


def _seconds(name: str, raw: str) -> int:
    if not raw.strip().isdigit() or not 5 <= int(raw) <= 86_400:
        raise ConfigError(f"{name} must be a whole number of seconds from 5 to 86400, got {raw!r}")
    return int(raw)


def _whole(name: str, raw: str, low: int, high: int) -> int:
    if not raw.strip().isdigit() or not low <= int(raw) <= high:
        raise ConfigError(f"{name} must be a whole number from {low} to {high}, got {raw!r}")
    return int(raw)
