"""The launcher's keys and origins (bot/launcher.py): created once, private, shared by every child."""

import stat
from pathlib import Path

from bot import launcher
from handoff.shared.identity_tokens import MIN_KEY_CHARS, verify_identity_token

PORTS = launcher.Ports(5005, 5055, 5056)


def test_the_session_key_is_created_once_private_and_reused(tmp_path: Path) -> None:
    first = launcher.child_env(PORTS, tmp_path, "t", base={})
    again = launcher.child_env(PORTS, tmp_path, "t", base={})

    key_file = tmp_path / "session.key"
    assert stat.S_IMODE(key_file.stat().st_mode) == 0o600
    assert first["ATTUNE_SESSION_KEY"] == again["ATTUNE_SESSION_KEY"] == key_file.read_text().strip()
    assert len(first["ATTUNE_SESSION_KEY"]) >= MIN_KEY_CHARS


def test_a_session_key_from_the_environment_is_kept_and_no_file_written(tmp_path: Path) -> None:
    env = launcher.child_env(PORTS, tmp_path, "t", base={"ATTUNE_SESSION_KEY": "s" * 40})

    assert env["ATTUNE_SESSION_KEY"] == "s" * 40
    assert not (tmp_path / "session.key").exists()


def test_without_an_identity_key_the_demo_key_and_sign_in_are_exported(tmp_path: Path) -> None:
    env = launcher.child_env(PORTS, tmp_path, "t", base={})
    token = launcher.demo_token(env)

    assert env["ATTUNE_DEMO_SIGN_IN"] == "1"
    assert stat.S_IMODE((tmp_path / "identity-demo.key").stat().st_mode) == 0o600
    assert token is not None
    customer = verify_identity_token(token, env["ATTUNE_IDENTITY_KEY"])
    assert customer is not None
    assert customer.to_dict() == {"id": "C-1001", "phone": "+447700900001", "email": "dana@example.com"}
    assert f"Authorization: Bearer {token}" in launcher.banner(PORTS, token)


def test_a_configured_identity_key_even_empty_turns_the_demo_off(tmp_path: Path) -> None:
    for key in ("", "i" * 40):
        env = launcher.child_env(PORTS, tmp_path, "t", base={"ATTUNE_IDENTITY_KEY": key})

        assert env["ATTUNE_IDENTITY_KEY"] == key
        assert "ATTUNE_DEMO_SIGN_IN" not in env
        assert launcher.demo_token(env) is None
    assert not (tmp_path / "identity-demo.key").exists()


def test_the_cors_origins_default_to_the_web_chat_page_and_a_setting_wins(tmp_path: Path) -> None:
    default = launcher.child_env(PORTS, tmp_path, "t", base={})
    configured = launcher.child_env(
        PORTS, tmp_path, "t", base={"ATTUNE_CORS_ORIGINS": "https://shop.example"}
    )

    assert default["ATTUNE_CORS_ORIGINS"] == "http://127.0.0.1:5056 http://localhost:5056"
    assert configured["ATTUNE_CORS_ORIGINS"] == "https://shop.example"
