"""``python -m bench.launch_without_broker ARGS``: ``python -m bot.launcher ARGS`` with no event broker.

The launcher writes this run's endpoints.yml from the project's (``write_endpoints``); here the
``event_broker`` section is taken out of it, so Rasa publishes nothing and the analytics consumer
finds no broker table.  Everything else is ``make run``'s.  Used by ``bench/e2e.py --broker off`` and
``bench/e2e_broker.py`` to measure what the broker adds to each message.
"""

import sys
from collections.abc import Mapping
from pathlib import Path
from typing import Any

import yaml

from bot import launcher

_write_endpoints = launcher.write_endpoints


def write_endpoints_without_broker(
    var_dir: Path, ports: launcher.Ports, sections: Mapping[str, Any] | None = None
) -> Path:
    path = _write_endpoints(var_dir, ports, sections)
    config = yaml.safe_load(path.read_text())
    config.pop("event_broker", None)
    path.write_text(yaml.safe_dump(config, sort_keys=False))
    return path


if __name__ == "__main__":
    launcher.write_endpoints = write_endpoints_without_broker
    sys.exit(launcher.main())
