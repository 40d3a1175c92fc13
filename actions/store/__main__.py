"""``python -m actions.store seed|outbox``: the demo store named by ATTUNE_STORE_DATABASE_URL.

- ``seed``: create the tables and demo records if empty;
- ``outbox [--to ADDRESS]``: what the demo mailbox "sent" in the last day, newest first (one-time
  codes, reset links): the demo has no mail server (actions/store/mailbox.py).
"""

import argparse
import sys

from actions import settings
from actions.resources import demo_store


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m actions.store", description=__doc__)
    parser.add_argument(
        "command",
        choices=["seed", "outbox"],
        help="seed: create the tables and demo records if empty; outbox: show the demo mailbox",
    )
    parser.add_argument("--to", metavar="ADDRESS", help="outbox: only messages to this e-mail address")
    parser.add_argument("--limit", type=int, default=10, help="outbox: how many messages (default 10)")
    args = parser.parse_args(argv)
    try:
        url = settings.current().store_database_url
    except settings.ConfigError as error:
        print(f"error: {error}", file=sys.stderr)
        return 2
    store = demo_store()
    if args.command == "seed":
        print(f"demo store ready at {url}")
        return 0
    messages = store.mailbox.recent(args.to, max(1, args.limit))
    if not messages:
        print("the demo mailbox is empty" + (f" for {args.to}" if args.to else ""))
    for message in messages:
        print(f"{message.created_at:%Y-%m-%d %H:%M:%S} UTC  to {message.address}  {message.subject}")
        print(f"    {message.body}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
