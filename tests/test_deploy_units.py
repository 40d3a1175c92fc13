"""The systemd units in deploy/systemd: valid for systemd itself, and in step with the launcher."""

import configparser
import os
import shutil
import subprocess
from pathlib import Path

import pytest

from bot import launcher
from tests.support.stack import ROOT

UNITS = ROOT / "deploy" / "systemd"
SERVICES = ("attune-handoff", "attune-actions", "attune-rasa")
INSTALL_ROOT = "/opt/attune"


def _unit(name: str) -> configparser.ConfigParser:
    parser = configparser.ConfigParser(strict=False, interpolation=None)
    parser.optionxform = str  # type: ignore[assignment,method-assign]  # systemd keys are case-sensitive
    parser.read(UNITS / f"{name}.service")
    return parser


def _systemd_analyze() -> str:
    found = shutil.which("systemd-analyze")
    if found is None:
        reason = "systemd-analyze is not installed (Debian package systemd; `make pytest` installs it)"
        if os.environ.get("CI") == "true":
            pytest.fail(reason)
        pytest.skip(reason)
    return found


def test_systemd_accepts_the_units_without_a_warning(tmp_path: Path) -> None:
    # The units name /opt/attune; systemd checks that ExecStart's program exists, so point them
    # at this checkout (whose .venv the suite runs in).
    for unit in UNITS.glob("attune*.[st]*"):
        (tmp_path / unit.name).write_text(unit.read_text().replace(INSTALL_ROOT, str(ROOT)))
    files = sorted(str(path) for path in tmp_path.iterdir())
    done = subprocess.run(
        [_systemd_analyze(), "verify", "--man=no", *files], capture_output=True, text=True, timeout=60
    )
    # systemd only warns about a bad value ("Failed to parse ..., ignoring"): any output fails.
    assert (done.returncode, done.stdout + done.stderr) == (0, "")


@pytest.mark.parametrize("name", SERVICES)
def test_each_service_is_restarted_on_failure_with_a_crash_loop_limit(name: str) -> None:
    unit = _unit(name)
    assert unit["Service"]["Restart"] == "on-failure"
    assert int(unit["Unit"]["StartLimitBurst"]) >= 3
    assert unit["Install"]["WantedBy"] == "attune.target"


def test_the_services_start_in_dependency_order() -> None:
    assert "attune-handoff.service" in _unit("attune-actions")["Unit"]["After"].split()
    rasa_after = _unit("attune-rasa")["Unit"]["After"].split()
    assert {"attune-actions.service", "attune-handoff.service"} <= set(rasa_after)


def test_the_units_run_what_the_launcher_runs(tmp_path: Path) -> None:
    ports = launcher.Ports(rasa=5005, actions=5055, handoff=5056)
    expected = {
        "attune-handoff": launcher.handoff_service(ports.handoff).command[1:],
        "attune-actions": launcher.actions_service(ports.actions).command[1:],
    }
    for name, arguments in expected.items():
        assert _unit(name)["Service"]["ExecStart"].split()[1:] == arguments
    rasa = _unit("attune-rasa")["Service"]["ExecStart"].split()
    launched = launcher.rasa_service(ports.rasa, tmp_path / "m.tar.gz", tmp_path / "e.yml", "t").command
    options = {word for word in launched if word.startswith("--") and "=" not in word}
    assert rasa[1] == "run" and options - {"--cors"} <= set(rasa)
