"""Scripted customer conversations for the load benchmarks, over the demo store (actions/store).

Each script is what one customer types, in order; ``{order}`` is one of the demo orders
10001-10010 and ``{unknown}`` / ``{unknown2}`` numbers the store does not know.  Weights make
the mix realistic: most people check an order, some complain, get frustrated or ask for a person
(that last turn hands the conversation to the team in Attune, so it always comes last).
"""

import random
from dataclasses import dataclass

DEMO_ORDERS = tuple(str(n) for n in range(10001, 10011))


@dataclass(frozen=True)
class Script:
    name: str
    weight: int
    messages: tuple[str, ...]


SCRIPTS = (
    Script("greet and order status", 6, ("hi there", "where is my order {order}?", "thanks!", "bye")),
    Script(
        "order status, number asked for",
        5,
        ("I want to know where my package is", "{order}", "brilliant, cheers"),
    ),
    Script(
        "damaged delivery",
        2,
        ("hello!", "the vase in order 10005 came completely smashed", "thank you", "ok bye"),
    ),
    Script("double charge", 2, ("I was charged twice for order 10008!!", "thanks")),
    Script("refund status", 3, ("where is my refund for order {order}", "ok thanks")),
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
        ("hey there", "I can't log in to my account", "cleo@example.com", "thanks a lot"),
    ),
    Script(
        "keep Pine+", 2, ("please end my pine+ subscription", "its dev@example.com", "no, keep it", "bye")
    ),
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
