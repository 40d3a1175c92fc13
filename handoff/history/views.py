"""Search, customer history and the resolved list: console pages, thin like the console's.

The session first (no session: the login page), then the query checked (handoff/history/queries.py,
a 400 with the reason), then a service function that masks for the reader's role.
"""

import asyncio

from aiohttp import web

from handoff.core import inputs
from handoff.core.app_keys import ENGINE
from handoff.core.models import HANDOFF_STATUSES
from handoff.core.pages import render, require_session
from handoff.history import customer_history, queries, resolved, search
from handoff.queue import handoffs
from handoff.workspace.app_keys import POLICY


async def search_page(request: web.Request) -> web.Response:
    login_session = await require_session(request)
    query = queries.search_query(request.query)
    agent = login_session.agent
    results = None
    if query.text or query.status is not None:
        results = await asyncio.to_thread(search.search, request.app[ENGINE], query, agent.grants)
    return render(
        request,
        "search.html",
        query=query,
        kinds=queries.SEARCH_KINDS,
        statuses=HANDOFF_STATUSES,
        results=results,
        agent=agent,
        csrf_token=login_session.csrf_token,
    )


async def history_page(request: web.Request) -> web.Response:
    login_session = await require_session(request)
    handoff_id = inputs.path_id(request, "handoff_id", "handoff")
    engine = request.app[ENGINE]
    stored = await asyncio.to_thread(handoffs.get_handoff, engine, handoff_id)  # 404 for an unknown one
    found = await asyncio.to_thread(
        customer_history.for_handoff, engine, stored.id, login_session.agent.grants
    )
    return render(
        request,
        "history.html",
        handoff=stored,
        history=found,
        agent=login_session.agent,
        csrf_token=login_session.csrf_token,
    )


async def resolved_page(request: web.Request) -> web.Response:
    login_session = await require_session(request)
    policy = request.app[POLICY]
    query = queries.resolved_query(request.query, frozenset(d.code for d in policy.dispositions))
    engine = request.app[ENGINE]
    page = await asyncio.to_thread(resolved.resolved, engine, query, policy, login_session.agent.grants)
    return render(
        request,
        "resolved.html",
        query=query,
        filters={key: request.query.get(key, "") for key in ("disposition", "agent", "from", "to")},
        results=page,
        dispositions=policy.dispositions,
        agents=await asyncio.to_thread(resolved.resolvers, engine),
        agent=login_session.agent,
        csrf_token=login_session.csrf_token,
    )
