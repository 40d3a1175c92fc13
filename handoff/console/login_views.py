"""Logging in and out of the agent console.

- The login form's CSRF token is bound to a pre-session cookie the page sets (handoff/console/login_forms.py).
- Failed logins are throttled per account and per client address, and each is audited
  (handoff/console/login_throttle.py, handoff/audit/audit_events.py ``login_failed``);
  while locked, a login is
  refused with 429 before its password is checked.
- Session cookies are HttpOnly, SameSite=Strict, and ``Secure`` when the service is served over
  https (ATTUNE_PUBLIC_URL).
"""

import asyncio
import dataclasses
import math
import time
from datetime import datetime, timezone

from aiohttp import web

from handoff.console import login_forms, login_throttle
from handoff.core import accounts, inputs
from handoff.core.app_keys import ACCESS, ENGINE, LOGIN_FORM_KEY, SETTINGS
from handoff.core.pages import SESSION_COOKIE, landing_page, path_to, render, require_csrf, require_session

LOGIN_CSRF_COOKIE = "attune_login_csrf"
WRONG = "Wrong username or password."
EXPIRED = "Your login form expired; please try again."


def set_cookie(request: web.Request, response: web.StreamResponse, name: str, value: str) -> None:
    response.set_cookie(
        name,
        value,
        httponly=True,
        samesite="Strict",
        path="/console",
        secure=request.app[SETTINGS].https,
    )


async def login_page(request: web.Request, error: str | None = None, status: int = 200) -> web.Response:
    presession = login_forms.new_presession(time.time())
    token = login_forms.form_token(request.app[LOGIN_FORM_KEY], presession)
    response = render(request, "login.html", status=status, login_csrf=token, error=error, agent=None)
    set_cookie(request, response, LOGIN_CSRF_COOKIE, presession)
    return response


async def _locked(request: web.Request, until: datetime, now: datetime) -> web.Response:
    """429 with Retry-After, and a fresh form for when the lock is over."""
    wait = max(1, math.ceil((until - now).total_seconds()))
    minutes = math.ceil(wait / 60)
    message = f"Too many failed logins. Try again in {minutes} minute{'s' if minutes != 1 else ''}."
    response = await login_page(request, message, status=429)
    response.headers["Retry-After"] = str(wait)
    return response


async def login(request: web.Request) -> web.StreamResponse:
    form = await inputs.form(request)
    app = request.app
    presession = request.cookies.get(LOGIN_CSRF_COOKIE, "")
    if not login_forms.is_valid(app[LOGIN_FORM_KEY], presession, form.get("csrf_token", ""), time.time()):
        return await login_page(request, EXPIRED, status=403)
    engine, policy = app[ENGINE], login_throttle.policy_from(app[SETTINGS])
    username, address = form.get("username", "")[:64], inputs.client_address(request)
    now = datetime.now(timezone.utc)
    attempt, lock = await asyncio.to_thread(
        login_throttle.begin_attempt, engine, policy, username, address, now
    )
    if lock is not None:
        await asyncio.to_thread(login_throttle.forget, engine, attempt)
        return await _locked(request, lock, now)
    agent = await asyncio.to_thread(accounts.authenticate, engine, username, form.get("password", "")[:256])
    if agent is None:
        await asyncio.to_thread(login_throttle.failed, engine, policy, username, address, now)
        return await login_page(request, WRONG, status=401)
    await asyncio.to_thread(login_throttle.clear, engine, username)
    session = await asyncio.to_thread(accounts.start_session, engine, agent)
    granted = dataclasses.replace(
        session, agent=dataclasses.replace(agent, grants=app[ACCESS].grants(agent.role))
    )
    response = web.HTTPSeeOther(landing_page(request, granted))
    set_cookie(request, response, SESSION_COOKIE, session.token)
    response.del_cookie(LOGIN_CSRF_COOKIE, path="/console")
    return response


async def logout(request: web.Request) -> web.StreamResponse:
    login_session = await require_session(request, capability=None)  # every role may log out
    await require_csrf(request, login_session)
    await asyncio.to_thread(accounts.end_session, request.app[ENGINE], login_session.token)
    response = web.HTTPSeeOther(path_to(request, "console.login_page"))
    response.del_cookie(SESSION_COOKIE, path="/console")
    return response
