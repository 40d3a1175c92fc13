import pytest

from bot.empathy.transcripts import bot_reply_failed


@pytest.mark.parametrize(
    "reply",
    [
        "Unfortunately, there is nothing available",
        "Sorry, I couldn't find that order.",
        "I didn't understand, could you rephrase?",
        "We are fully booked tonight.",
    ],
)
def test_failure_replies_are_recognised(reply: str) -> None:
    assert bot_reply_failed(reply) is True


@pytest.mark.parametrize(
    "reply",
    ["Your table is booked", "Your refund of £12.50 is on its way.", ""],
)
def test_successful_replies_are_not_failures(reply: str) -> None:
    assert bot_reply_failed(reply) is False


def test_only_the_first_two_thousand_characters_are_read() -> None:
    assert bot_reply_failed("x" * 2000 + " sorry") is False
