import pytest

from handoff.settings import ConfigError, Settings


def test_defaults_need_no_environment() -> None:
    settings = Settings.from_env({})

    assert (settings.host, settings.port) == ("127.0.0.1", 5056)
    assert settings.database_url == "sqlite:///var/handoff.db"


def test_values_come_from_the_environment() -> None:
    settings = Settings.from_env(
        {
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
