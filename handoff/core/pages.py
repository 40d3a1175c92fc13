"""What every console page needs: the agent's session, its capabilities, CSRF, templates, URLs.

The console's pages (handoff/console/views.py) and the audit page (handoff/audit/views.py) share it.
"""

import asyncio
import dataclasses
import hmac
from typing import Any

from aiohttp import web
from yarl import URL

from handoff.core import access, accounts, inputs
from handoff.core.accounts import LoginSession
from handoff.core.app_keys import ACCESS, ENGINE, TEMPLATES

SESSION_COOKIE = "attune_session"


def render(request: web.Request, template: str, status: int = 200, **context: Any) -> web.Response:
    defaults = {"error": None, "notice": None, "agent": None, "csrf_token": ""}
    html = request.app[TEMPLATES].get_template(template).render(**{**defaults, **context})
    # The security headers (CSP, nosniff, ...) are added to every response by middleware.security_headers.
    return web.Response(text=html, content_type="text/html", status=status)


async def current_session(
    request: web.Request, capability: str | None = access.AGENT_CONSOLE
) -> LoginSession | None:
    """The caller's console session, if it has ``capability`` (default: the agent console; None: any).

    The live views (EventSource, fetch) answer 401 without one: a designer's session opens no stream.
    """
    login = await _any_session(request)
    if login is None or (capability is not None and not login.agent.may(capability)):
        return None
    return login


async def _any_session(request: web.Request) -> LoginSession | None:
    token = request.cookies.get(SESSION_COOKIE)
    if not token:
        return None
    login = await asyncio.to_thread(accounts.find_session, request.app[ENGINE], token)
    if login is None:
        return None
    grants = request.app[ACCESS].grants(login.agent.role)
    return dataclasses.replace(login, agent=dataclasses.replace(login.agent, grants=grants))


async def require_session(
    request: web.Request, capability: str | None = access.AGENT_CONSOLE
) -> LoginSession:
    """The caller's session, or a redirect to the login page; 403 when its role lacks ``capability``
    (every agent console page needs ``agent_console``; None: any logged-in role, as logging out).
    """
    login = await _any_session(request)
    if login is None:
        raise web.HTTPSeeOther(path_to(request, "console.login_page"))
    if capability is not None:
        require_capability(login, capability, "your role does not use this part of the console")
    return login


def landing_page(request: web.Request, login: LoginSession) -> URL:
    """Where a login lands: the queue, or the playground for a role that has only that (a designer)."""
    if not login.agent.may(access.AGENT_CONSOLE) and login.agent.may(access.EMPATHY_PLAYGROUND):
        return path_to(request, "playground.page")
    return path_to(request, "console.queue")


def require_capability(login_session: LoginSession, capability: str, refusal: str) -> None:
    """403 with ``refusal`` unless the access policy gives the agent's role ``capability``."""
    if not login_session.agent.may(capability):
        raise web.HTTPForbidden(text=refusal)


async def require_csrf(request: web.Request, login: LoginSession) -> dict[str, str]:
    form = await inputs.form(request)
    if not hmac.compare_digest(form.get("csrf_token", "").encode(), login.csrf_token.encode()):
        raise web.HTTPForbidden(
            text="the form is stale or did not come from this console (CSRF check failed)"
        )
    return form


# --- queue and handoff ------------------------------------------------------------------


def path_to(request: web.Request, name: str, **parts: str) -> URL:
    """The path of the route called ``name`` (handoff/*/routes.py), its parts percent-encoded."""
    return request.app.router[name].url_for(**parts)
