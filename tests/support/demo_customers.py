"""The demo store's customers as a signed-in site would present them (actions/store/seed.py).

Since issue 14 an order is shown only to its verified owner (or against its e-mail or postcode), so
a test that just wants an order's status signs in as the customer who owns it.
"""

from handoff.shared.identity_tokens import sign_identity_token
from tests.support.stack import RunningStack

ADA = "C-1002"  # orders 10001-10010 (the README's cheat sheet), ada@example.com, postcode PP1 4TR


def signed_in(stack: RunningStack, customer: str = ADA) -> dict[str, str]:
    """REST headers of a customer the site signed in (a token valid for an hour)."""
    return {"Authorization": f"Bearer {sign_identity_token(customer, stack.identity_key)}"}


def token_for(stack: RunningStack, customer: str = ADA) -> str:
    return sign_identity_token(customer, stack.identity_key)
