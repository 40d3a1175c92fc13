import pytest

from handoff.core.settings import ConfigError, Settings

KEY = "k" * 32
REQUIRED = {"ATTUNE_SESSION_KEY": KEY}


def test_defaults_need_only_the_session_key() -> None:
    settings = Settings.from_env(REQUIRED)

    assert (settings.host, settings.port) == ("127.0.0.1", 5056)
    assert settings.database_url == "sqlite:///var/handoff.db"


def test_values_come_from_the_environment() -> None:
    settings = Settings.from_env(
        {
            **REQUIRED,
            "ATTUNE_HANDOFF_PORT": "6000",
            "ATTUNE_HANDOFF_DATABASE_URL": "postgresql://attune@127.0.0.1/attune",
            "ATTUNE_LOG_LEVEL": "debug",
            "ATTUNE_RASA_URL": "http://127.0.0.1:5005/",
        }
    )

    assert settings.port == 6000
    assert settings.database_url.startswith("postgresql://")
    assert settings.log_level == "DEBUG"
    assert settings.rasa_url == "http://127.0.0.1:5005"


@pytest.mark.parametrize(
    ("name", "value"),
    [
        ("ATTUNE_HANDOFF_PORT", "abc"),
        ("ATTUNE_HANDOFF_PORT", "70000"),
        ("ATTUNE_HANDOFF_DATABASE_URL", "var/handoff.db"),
        ("ATTUNE_LOG_FORMAT", "xml"),
        ("ATTUNE_LOG_LEVEL", "LOUD"),
        ("ATTUNE_RASA_URL", "localhost:5005"),
        ("ATTUNE_HANDOFF_HOST", "  "),
    ],
)
def test_malformed_values_fail_naming_the_variable(name: str, value: str) -> None:
    with pytest.raises(ConfigError, match=name):
        Settings.from_env({name: value})


def test_the_session_key_is_required_and_keys_must_be_long() -> None:
    with pytest.raises(ConfigError, match="ATTUNE_SESSION_KEY is required"):
        Settings.from_env({})
    with pytest.raises(ConfigError, match="ATTUNE_SESSION_KEY must be at least 32"):
        Settings.from_env({"ATTUNE_SESSION_KEY": "short"})
    with pytest.raises(ConfigError, match="ATTUNE_IDENTITY_KEY must be at least 32"):
        Settings.from_env({**REQUIRED, "ATTUNE_IDENTITY_KEY": "short"})

    settings = Settings.from_env(REQUIRED)
    assert (settings.session_key, settings.identity_key, settings.demo_sign_in) == (KEY, "", False)


def test_the_demo_sign_in_needs_the_identity_key() -> None:
    with pytest.raises(ConfigError, match="ATTUNE_DEMO_SIGN_IN=1 needs ATTUNE_IDENTITY_KEY"):
        Settings.from_env({**REQUIRED, "ATTUNE_DEMO_SIGN_IN": "1"})
    with pytest.raises(ConfigError, match="ATTUNE_DEMO_SIGN_IN"):
        Settings.from_env({**REQUIRED, "ATTUNE_DEMO_SIGN_IN": "yes", "ATTUNE_IDENTITY_KEY": "i" * 32})

    on = Settings.from_env({**REQUIRED, "ATTUNE_DEMO_SIGN_IN": "1", "ATTUNE_IDENTITY_KEY": "i" * 32})
    assert on.demo_sign_in and on.identity_key == "i" * 32
