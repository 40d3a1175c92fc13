"""``python -m actions.store seed``: create and seed the demo store named by ATTUNE_STORE_DATABASE_URL."""

import argparse
import sys

from actions import settings
from actions.resources import demo_store


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m actions.store", description=__doc__)
    parser.add_argument("command", choices=["seed"], help="seed: create the tables and demo records if empty")
    parser.parse_args(argv)
    try:
        url = settings.current().store_database_url
    except settings.ConfigError as error:
        print(f"error: {error}", file=sys.stderr)
        return 2
    demo_store()
    print(f"demo store ready at {url}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
