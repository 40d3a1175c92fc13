"""Scripted customer conversations for the load benchmarks, over the demo store (actions/store).

Each script is what one customer types, in order; ``{order}`` is one of the demo customer Dana's
orders (10011, 10012) and ``{unknown}`` / ``{unknown2}`` numbers the store does not know.  The
customers are Dana signed in (bench/load.py sends her identity token); order messages also give
her e-mail address, so a plain Rasa bot without verified identity does the same store work.  Weights make
the mix realistic: most people check an order, some complain, get frustrated or ask for a person
(that last turn hands the conversation to the team in Attune, so it always comes last).
"""

import random
from dataclasses import dataclass

# The demo customer (bot/launcher.py) and her orders in the demo store (actions/store/seed.py).
DEMO_CUSTOMER = {"id": "C-1001", "claims": {"phone": "+447700900001", "email": "dana@example.com"}}
DEMO_ORDERS = ("10011", "10012")


@dataclass(frozen=True)
class Script:
    name: str
    weight: int
    messages: tuple[str, ...]


SCRIPTS = (
    Script(
        "greet and order status",
        6,
        ("hi there", "where is my order {order}? it's dana@example.com", "thanks!", "bye"),
    ),
    Script(
        "order status, number asked for",
        5,
        ("I want to know where my package is", "{order}", "dana@example.com", "brilliant, cheers"),
    ),
    Script(
        "damaged delivery",
        2,
        (
            "hello!",
            "the mugs in order 10012 came completely smashed",
            "dana@example.com",
            "thank you",
            "ok bye",
        ),
    ),
    Script("double charge", 2, ("I was charged twice for order 10012!! dana@example.com", "thanks")),
    Script("refund status", 3, ("where is my refund for order {order}, dana@example.com", "ok thanks")),
    Script(
        "complaint",
        3,
        (
            "honestly your service is a joke",
            "my parcel still hasn't arrived, order {order}",
            "why does it take so long??",
            "ok bye",
        ),
    ),
    Script(
        "frustration, then a person",
        3,
        (
            "where is order {unknown}",
            "it's {unknown2}, I TOLD you already",
            "still nothing?? this is ridiculous",
            "ARE YOU EVEN LISTENING?? I WANT MY PARCEL",
            "just put me through to a real person",
        ),
    ),
    Script(
        "account locked",
        2,
        ("hey there", "I can't log in to my account", "thanks a lot"),
    ),
    Script("keep Pine+", 2, ("please end my pine+ subscription", "no, keep it", "bye")),
    Script(
        "out of scope, then a bot question", 1, ("who won the football last night", "are you a bot?", "bye")
    ),
)


def pick(rng: random.Random) -> tuple[str, list[str]]:
    """A script drawn by weight, with its numbers filled in: (name, messages)."""
    script = rng.choices(SCRIPTS, weights=[s.weight for s in SCRIPTS])[0]
    values = {
        "order": rng.choice(DEMO_ORDERS),
        "unknown": str(rng.randint(50000, 59999)),
        "unknown2": str(rng.randint(60000, 69999)),
    }
    return script.name, [message.format(**values) for message in script.messages]
