"""Typed keys of the application's state, shared by the app factory and the views."""

import asyncio
from typing import Any

import jinja2
from aiohttp import web
from sqlalchemy.engine import Engine

from handoff.core.access import AccessPolicy
from handoff.core.live_hub import LiveHub
from handoff.core.metrics import HandoffMetrics
from handoff.core.rasa_client import RasaClient
from handoff.core.rate_limit import RateLimiter
from handoff.core.settings import Settings

SETTINGS = web.AppKey("settings", Settings)
ENGINE = web.AppKey("engine", Engine)
TEMPLATES = web.AppKey("templates", jinja2.Environment)
RASA = web.AppKey("rasa", RasaClient)
# Who sees what (policy/access.yml, or ATTUNE_ACCESS_POLICY), loaded and checked by the app factory.
ACCESS = web.AppKey("access", AccessPolicy)
# Set when a call-back job is created, so the call runner places a "now" call without waiting a poll.
CALLS_WAKE = web.AppKey("calls_wake", asyncio.Event)
# Prometheus metrics on this app's own registry (handoff/core/metrics.py), served at GET /metrics.
METRICS = web.AppKey("metrics", HandoffMetrics)
# The OpenAPI description served at GET /api/v1/openapi.json (handoff/openapi.py), built once.
OPENAPI = web.AppKey("openapi", dict[str, Any])
# Requests per client address to the web chat's emotion switch (/chat/consent), in memory.
CHAT_LIMITER = web.AppKey("chat_limiter", RateLimiter)
# The HMAC key of the console's login forms (handoff/console/login_forms.py), set by the app factory.
LOGIN_FORM_KEY = web.AppKey("login_form_key", bytes)
# The live console's publish/subscribe (handoff/core/live_hub.py) and the rate limit of the web chat's
# live endpoints (/chat/events, /chat/typing), per client address.
LIVE = web.AppKey("live", LiveHub)
LIVE_CHAT_LIMITER = web.AppKey("live_chat_limiter", RateLimiter)
