"""`make validate`: Rasa's project checks, every warning printed and counted, any warning a failure.

``rasa data validate --fail-on-warnings`` runs the same checks (rasa/cli/utils.py ``validate_files``)
but, in Rasa 3.6, does not fail on an unused response, and a clean Attune printed 96 of them:
responses that code sends rather than a story or rule.  A real mistake was buried.  Here:

- Every Python warning and every warning Rasa logs while it validates is collected.
- "The intent X is listed in the domain file, but is not found in the NLU training data" is silenced
  only for ``TRIGGERED_INTENTS``, which the handoff service triggers through Rasa's API.
- "The utterance X is not used in any story or rule" is silenced only for the responses listed in
  ``SENT_BY_CODE``, grouped by who sends them; tests/bot/test_data_validation.py checks that each
  listed response is really sent by that code, so the list cannot keep a response nobody sends.
- Anything else is printed, counted, and makes the exit status 1; so does a failed check.

A response added for an action goes into ``SENT_BY_CODE``; a response nobody sends is removed
from domain.yml.  Library start-up chatter (DeprecationWarnings of TensorFlow, setuptools,
SQLAlchemy) is emitted while Rasa is imported, before collection starts, and is no project warning.
"""

import argparse
import logging
import os
import re
import sys
import warnings
from collections.abc import Iterator, Mapping, Sequence
from contextlib import contextmanager
from dataclasses import dataclass, field
from pathlib import Path
from typing import Final, Literal

from rasa.shared.importers.importer import TrainingDataImporter
from rasa.validator import Validator

Sender = Literal["action server", "handoff service", "Rasa channels", "Rasa forms"]
ACTION_SERVER: Final[Sender] = "action server"
HANDOFF_SERVICE: Final[Sender] = "handoff service"
RASA_CHANNELS: Final[Sender] = "Rasa channels"
RASA_FORMS: Final[Sender] = "Rasa forms"

_LANGUAGES: Final = ("de", "es", "fr", "it", "nl", "pl", "pt")  # actions/languages.py TRANSLATED

# Responses no story or rule names, because code sends them.
SENT_BY_CODE: Final[Mapping[Sender, tuple[str, ...]]] = {
    # dispatcher.utter_message(response=...) in actions/ (outcomes, forms, escalation, privacy).
    ACTION_SERVER: (
        "utter_account_unlock_sent",
        "utter_ask_email",
        "utter_ask_order_id",
        "utter_ask_order_proof",
        "utter_ask_what_for",
        "utter_callback_ask_number",
        "utter_callback_ask_time",
        "utter_callback_ask_time_later",
        "utter_callback_bad_number",
        "utter_callback_booked",
        "utter_callback_confirm",
        "utter_callback_confirm_own_number",
        "utter_callback_declined",
        "utter_callback_delayed",
        "utter_callback_failed",
        "utter_callback_limit",
        "utter_callback_no_times",
        "utter_callback_now",
        "utter_callback_pick_again",
        "utter_callback_yes_or_no",
        "utter_cancellation_kept",
        "utter_cancellation_not_verified",
        "utter_code_confirmed",
        "utter_code_sent_account",
        "utter_code_sent_order",
        "utter_code_wrong",
        "utter_confirm_cancellation",
        "utter_damaged_refund_opened",
        "utter_delivered_ask_problem",
        "utter_delivered_but_missing",
        "utter_did_you_mean",
        "utter_duplicate_charge_refunded",
        "utter_handoff_already",
        "utter_handoff_delayed",
        "utter_handoff_failed",
        "utter_handoff_no_agents",
        "utter_handoff_sent",
        "utter_human_hint",
        "utter_no_refund_found",
        "utter_no_subscription",
        "utter_offer_callback",
        "utter_offer_human",
        "utter_opted_in",
        "utter_opted_in_here_only",
        "utter_opted_out",
        "utter_opted_out_here_only",
        "utter_order_cancelled",
        "utter_order_delayed",
        "utter_order_delivered",
        "utter_order_in_transit",
        "utter_order_lost",
        "utter_order_not_found",
        "utter_order_processing",
        "utter_order_proof_mismatch",
        "utter_password_reset_sent",
        "utter_privacy_opted_in",
        "utter_privacy_opted_out",
        "utter_queue_position",
        "utter_refund_done",
        "utter_refund_processing",
        "utter_refund_rejected",
        "utter_return_not_delivered",
        "utter_return_started",
        "utter_return_window_closed",
        "utter_self_service_limited",
        "utter_single_charge_found",
        "utter_something_went_wrong",
        "utter_stale_answer",
        "utter_csat_bad_score",
        "utter_csat_thanks",
        "utter_subscription_already_cancelled",
        "utter_subscription_cancelled",
        "utter_verification_stopped",
        # The honest answer and the offer of a person when the bot does not read the language, in
        # English (actions/languages.py HONEST_ANSWER, OFFER_PERSON) and translated (TRANSLATED).
        "utter_other_language",
        "utter_other_language_offer_human",
        *(f"utter_other_language_{code}" for code in _LANGUAGES),
        *(f"utter_other_language_offer_human_{code}" for code in _LANGUAGES),
    ),
    # Through Rasa's trigger-intent API, from handoff/ (agent joined or replied, call-back outcomes, a
    # wait grown too long).  The handback is sent the same way, but the CSAT rules name it, so it is
    # "used" and not listed.
    HANDOFF_SERVICE: (
        "utter_agent_joined",
        "utter_agent_message",
        "utter_callback_error",
        "utter_callback_missed",
        "utter_callback_simulated",
        "utter_wait_too_long",
    ),
    # Its text is what the channels send themselves when a turn fails (bot/components/turn_guard.py);
    # the response lets conversation tests and bench/faults.py recognise it.
    RASA_CHANNELS: ("utter_message_not_processed",),
    # Rasa's own form action asks for each required slot with utter_ask_<slot> (forms with no
    # validate_/action_ask_ action of their own asking instead).
    RASA_FORMS: ("utter_ask_csat_score", "utter_ask_csat_comment"),
}

UNUSED_RESPONSE: Final = re.compile(r"The utterance '([^']+)' is not used in any story or rule\.")
# Intents only ever triggered through Rasa's trigger_intent API, never read from text, so they have no
# NLU examples (giving them some would let the NLU read a customer's words as one): the handoff
# service's idle CSAT trigger (handoff/analytics/idle_csat.py).
TRIGGERED_INTENTS: Final = ("EXTERNAL_csat_idle",)
NO_EXAMPLES: Final = re.compile(
    r"The intent '([^']+)' is listed in the domain file, but is not found in the NLU"
)
# Not about the project, so neither printed nor counted (the summary says how many):
# - deprecations inside libraries (setuptools' pkg_resources, importlib, SQLAlchemy 2.0 notices)
#   that Rasa imports lazily while it validates;
# - a message Rasa 3.6 raises for every domain that has slots, whatever their mappings
#   (rasa/shared/core/domain.py ``from_dict`` calls ``validate_slot_mappings``, which only warns).
# - ResourceWarnings: an object of something else in the process (an unclosed aiohttp session in a
#   test run) garbage-collected while the checks run says nothing about the training data.
LIBRARY_CATEGORIES: Final = (DeprecationWarning, PendingDeprecationWarning, ResourceWarning)
LIBRARY_MESSAGES: Final = ("Slot auto-fill has been removed in 3.0",)


@dataclass
class Validation:
    """What the checks found: ``ok`` is False when a check failed or anything was warned about."""

    checks_passed: bool = True
    warnings: list[str] = field(default_factory=list)
    silenced: list[str] = field(default_factory=list)
    triggered: list[str] = field(default_factory=list)  # TRIGGERED_INTENTS found without NLU examples
    library: int = 0  # library notices ignored (LIBRARY_CATEGORIES, LIBRARY_MESSAGES)

    @property
    def ok(self) -> bool:
        return self.checks_passed and not self.warnings


class _Collector(logging.Handler):
    def __init__(self) -> None:
        super().__init__(logging.WARNING)
        self.messages: list[str] = []

    def emit(self, record: logging.LogRecord) -> None:
        self.messages.append(f"{record.levelname.lower()}: {record.getMessage()}")


@contextmanager
def _collected() -> Iterator[tuple[list[warnings.WarningMessage], _Collector]]:
    """Rasa's warnings, both kinds, kept from the terminal: they are printed once, with the count."""
    collector = _Collector()
    rasa_logger = logging.getLogger("rasa")
    level, propagate = rasa_logger.level, rasa_logger.propagate
    rasa_logger.addHandler(collector)
    rasa_logger.setLevel(logging.WARNING)
    rasa_logger.propagate = False
    try:
        with warnings.catch_warnings(record=True) as caught:
            warnings.simplefilter("always")
            yield caught, collector
    finally:
        rasa_logger.removeHandler(collector)
        rasa_logger.setLevel(level)
        rasa_logger.propagate = propagate


def _run_checks(validator: Validator) -> bool:
    """The checks of ``rasa data validate --fail-on-warnings`` (rasa/cli/utils.py), in its order."""
    results = [
        validator.verify_domain_validity(),
        validator.verify_actions_in_stories_rules(),
        validator.verify_forms_in_stories_rules(),
        validator.verify_form_slots(),
        validator.verify_slot_mappings(),
        validator.verify_nlu(ignore_warnings=False),
        validator.verify_story_structure(ignore_warnings=False, max_history=None),
    ]
    validator.warn_if_config_mandatory_keys_are_not_set()
    return all(results)


def validate(
    root: Path,
    data: Sequence[str] = ("data",),
    sent_by_code: Mapping[Sender, Sequence[str]] = SENT_BY_CODE,
) -> Validation:
    """Validates the project in ``root`` (config.yml, domain.yml and ``data``)."""
    listed = {name for names in sent_by_code.values() for name in names}
    found = Validation()
    with _collected() as (caught, collector):
        importer = TrainingDataImporter.load_from_config(
            str(root / "config.yml"), str(root / "domain.yml"), [str(root / d) for d in data]
        )
        found.checks_passed = _run_checks(Validator.from_importer(importer))
    for warning in caught:
        if issubclass(warning.category, LIBRARY_CATEGORIES) or str(warning.message).startswith(
            LIBRARY_MESSAGES
        ):
            found.library += 1
        else:
            collector.messages.append(str(warning.message))
    for message in collector.messages:
        unused = UNUSED_RESPONSE.search(message)
        triggered = NO_EXAMPLES.search(message)
        if unused and unused.group(1) in listed:
            found.silenced.append(unused.group(1))
        elif triggered and triggered.group(1) in TRIGGERED_INTENTS:
            found.triggered.append(triggered.group(1))
        else:
            found.warnings.append(message)
    return found


def main(argv: Sequence[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m bot.components.data_validation", description=__doc__)
    parser.add_argument("--root", type=Path, default=Path("."), help="the project folder")
    args = parser.parse_args(argv)
    # Rasa's progress bars and INFO lines are not findings (rasa.shared.utils.io.is_logging_disabled).
    os.environ.setdefault("LOG_LEVEL", "ERROR")
    found = validate(args.root)
    for message in found.warnings:
        print(f"warning: {message}")
    status = "checks passed" if found.checks_passed else "A CHECK FAILED (see the errors above)"
    print(
        f"rasa data validate: {status}, {len(found.warnings)} warnings "
        f"({len(found.silenced)} responses sent by code, listed in bot/components/data_validation.py; "
        f"{found.library} library notices ignored)"
    )
    return 0 if found.ok else 1


if __name__ == "__main__":
    sys.exit(main())
