"""Settings of the action server, read from the environment once, on first use."""

import os
from collections.abc import Mapping
from dataclasses import dataclass


class ConfigError(ValueError):
    """A setting is missing or malformed; the message names the environment variable."""


@dataclass(frozen=True)
class ActionSettings:
    store_database_url: str = "sqlite:///var/store.db"
    empathy_policy_file: str = "data/empathy.yml"

    @classmethod
    def from_env(cls, environ: Mapping[str, str]) -> "ActionSettings":
        policy = environ.get("ATTUNE_EMPATHY_POLICY", cls.empathy_policy_file).strip()
        if not policy:
            raise ConfigError(
                "ATTUNE_EMPATHY_POLICY must name the empathy policy YAML file (default data/empathy.yml)"
            )
        url = environ.get("ATTUNE_STORE_DATABASE_URL", cls.store_database_url).strip()
        if "://" not in url:
            raise ConfigError(
                "ATTUNE_STORE_DATABASE_URL must be an SQLAlchemy URL such as "
                f"sqlite:///var/store.db, got {url!r}"
            )
        return cls(store_database_url=url, empathy_policy_file=policy)


def current() -> ActionSettings:
    return ActionSettings.from_env(os.environ)
