"""Names shared by the domain, the actions and the components.

Every intent, entity, slot and parse-data key the code refers to is spelled once here, so a
typo fails at import time instead of silently never matching.  ``tests/test_domain_names.py``
checks that this module and ``domain.yml`` agree.
"""

from typing import Final

# --- intents -------------------------------------------------------------------------------
GREET: Final = "greet"
GOODBYE: Final = "goodbye"
AFFIRM: Final = "affirm"
DENY: Final = "deny"
THANK: Final = "thank"
BOT_CHALLENGE: Final = "bot_challenge"
INFORM: Final = "inform"
ORDER_STATUS: Final = "order_status"
DELIVERY_PROBLEM: Final = "delivery_problem"
RETURN_OR_REFUND: Final = "return_or_refund"
REFUND_STATUS: Final = "refund_status"
BILLING_ISSUE: Final = "billing_issue"
CANCEL_SUBSCRIPTION: Final = "cancel_subscription"
ACCOUNT_ACCESS: Final = "account_access"
REQUEST_HUMAN: Final = "request_human"
COMPLAIN: Final = "complain"
OPT_OUT_EMOTION: Final = "opt_out_emotion"
OPT_IN_EMOTION: Final = "opt_in_emotion"
ASK_PRIVACY: Final = "ask_privacy"
OUT_OF_SCOPE: Final = "out_of_scope"
NLU_FALLBACK: Final = "nlu_fallback"
REQUEST_CALLBACK: Final = "request_callback"
# Hardship stated in words ("I can't afford this", "my rent is due"): recognised without emotion analysis.
HARDSHIP: Final = "hardship"
# Set by bot/components/language_detector.py (LanguageIntentRouter) instead of the NLU's guess when a
# message is in a language the models do not read: the guess would be a reading of words it cannot read.
UNSUPPORTED_LANGUAGE: Final = "unsupported_language"
# "No thanks, that's all": the customer has nothing else, so the conversation is resolved (CSAT may follow).
NOTHING_ELSE: Final = "nothing_else"
# Never read from text: the handoff service triggers it (Rasa's trigger_intent API) when the customer left
# an "anything else?" unanswered for policy/csat.yml idle_minutes (handoff/analytics/idle_csat.py).
CSAT_IDLE: Final = "EXTERNAL_csat_idle"

# Requests that need an order number before the bot can look anything up.
ORDER_TOPICS: Final = (ORDER_STATUS, DELIVERY_PROBLEM, RETURN_OR_REFUND, REFUND_STATUS, BILLING_ISSUE)
# Requests that need the e-mail address of the customer's account.
ACCOUNT_TOPICS: Final = (CANCEL_SUBSCRIPTION, ACCOUNT_ACCESS)

# --- entities ------------------------------------------------------------------------------
ENTITY_ORDER_ID: Final = "order_id"
ENTITY_EMAIL: Final = "email"
ENTITY_PROBLEM: Final = "problem"
ENTITY_POSTCODE: Final = "postcode"
# A one-time code the customer was sent; read from the latest message only, never kept in a slot.
ENTITY_VERIFICATION_CODE: Final = "verification_code"

# Canonical values of the ``problem`` entity (synonyms in data/nlu/nlu.yml map onto these).
PROBLEM_LATE: Final = "late"
PROBLEM_MISSING: Final = "missing"
PROBLEM_DAMAGED: Final = "damaged"
PROBLEM_DOUBLE_CHARGE: Final = "double_charge"
PROBLEM_WRONG_AMOUNT: Final = "wrong_amount"
PROBLEM_LOCKED: Final = "locked"
PROBLEM_PASSWORD_RESET: Final = "password_reset"

# --- slots ---------------------------------------------------------------------------------
SLOT_ORDER_ID: Final = "order_id"
SLOT_EMAIL: Final = "email"
SLOT_PROBLEM: Final = "problem"
SLOT_TOPIC: Final = "topic"
SLOT_FAILED_ATTEMPTS: Final = "failed_attempts"
SLOT_EMOTION_OPT_OUT: Final = "emotion_opt_out"
SLOT_PENDING_CANCELLATION: Final = "pending_cancellation"
SLOT_LAST_OUTCOME: Final = "last_outcome"
# The delivery postcode given to see an order (the alternative to the order's e-mail address).
SLOT_POSTCODE: Final = "postcode"
# {"customer": <store customer ref>, "until": <epoch s>}: who this conversation proved to be with a
# one-time code (actions/verification.py).
SLOT_VERIFIED_BY_CODE: Final = "verified_by_code"
# The bot waits for proof (an order's e-mail or postcode, a one-time code): "never mind" ends it.
SLOT_VERIFICATION_PENDING: Final = "verification_pending"
# No longer set (issue 18: one self_service_attempt event per attempt instead); read from
# conversations stored before.
SLOT_SELF_SERVICE_LOG: Final = "self_service_log"
# Where the latest handoff stands: delivered | queued (in the outbox) | rejected | failed (not saved).
SLOT_HANDOFF_STATUS: Final = "handoff_status"
# Set by the handoff service through Rasa's API when an agent joins or writes.
SLOT_AGENT_MESSAGE: Final = "agent_message"
SLOT_AGENT_NAME: Final = "agent_name"
SLOT_QUEUE_POSITION: Final = "queue_position"
SLOT_REQUESTED: Final = "requested_slot"
# The call-back form (actions/callback_form.py): the number to call (E.164), the chosen option, the
# time the customer agreed (ISO 8601), the options offered, and how the request went.
SLOT_CALLBACK_PHONE: Final = "callback_phone"
SLOT_CALLBACK_TIME: Final = "callback_time"
SLOT_CALLBACK_CONSENT: Final = "callback_consent"
SLOT_CALLBACK_OPTIONS: Final = "callback_options"
SLOT_CALLBACK_STATUS: Final = "callback_status"
# A form slot the customer declined to fill: the form ends and no call is booked.
DECLINED: Final = "declined"
FORM_CALLBACK: Final = "callback_form"
FORM_ACCOUNT: Final = "account_form"
# The CSAT question (actions/csat.py): the score as typed or tapped, the optional comment ("" for
# none), where the question stands, and the answer analytics ingests ({"score": 1-5, "comment": str|None}).
FORM_CSAT: Final = "csat_form"
SLOT_CSAT_SCORE: Final = "csat_score"
SLOT_CSAT_COMMENT: Final = "csat_comment"
SLOT_CSAT_STATUS: Final = "csat_status"
SLOT_CSAT_ANSWER: Final = "csat_answer"

# --- parse data ----------------------------------------------------------------------------
# Set by bot/components/emotion_classifier.py on every parsed message.
PARSE_EMOTION: Final = "emotion"
# The detected language of a message: {"code": "es", "supported": false} (absent before detection).
PARSE_LANGUAGE: Final = "language"
# Inside the emotion reading: the message embedding, int8 in base64 (bot/empathy/compact_vector.py).
# For the turn only: the tracker store drops it before the event is stored (docs/tracker-budget.md).
PARSE_EMOTION_VECTOR: Final = "vector"

# --- empathy slots (set by action_track_empathy, each only when its value changes) ------------
SLOT_FRUSTRATION: Final = "frustration"
SLOT_DISTRESS: Final = "distress"
# No longer set (issue 18): the trajectory is the turn records' scores.
SLOT_TRAJECTORY: Final = "frustration_trajectory"
SLOT_TONE: Final = "tone"
SLOT_ESCALATION: Final = "escalation"
SLOT_EMPATHY_STATE: Final = "empathy_state"
# Set only on turns whose decision is an escalation (the handoff payload's explanation).
SLOT_EMPATHY_EXPLANATION: Final = "empathy_explanation"
# The compact per-turn record analytics reads from the event broker (docs/tracker-budget.md).
SLOT_TURN_RECORD: Final = "turn_record"
# The tone experiment's exposure, set once per conversation: {"experiment", "variant"} (docs/experiments.md).
SLOT_EXPERIMENT_EXPOSURE: Final = "experiment_exposure"
# One self-service attempt, set when it happens (the handoff payload collects them from the events).
SLOT_SELF_SERVICE_ATTEMPT: Final = "self_service_attempt"
