"""The tone experiments in the console: ``/console/experiments`` and one experiment's report.

The report is the one ``attune experiment report NAME`` gives (handoff/analytics/experiment_report.py):
arms, outcomes, effects with 95% intervals, the sample-ratio check, progress toward the fixed horizon
and the plain-language verdict, withheld before the horizon.  ``NAME.json`` or ``?format=json`` is
the command's ``--json``; ``?today=YYYY-MM-DD`` its ``--today``.

Supervisors and admins only (``supervisor_dashboard`` in policy/access.yml): the report holds counts
and rates, no customer's conversation.  A name that is not a name is 400, an unknown one 404, both
with the reason; an experiments file that cannot be used is said on the page (the list) or as a 503
naming the key at fault (a report), never a 500.
"""

import asyncio
from datetime import date, datetime, timezone
from typing import Any

from aiohttp import web

from bot.empathy.experiments import METRICS
from handoff.analytics import experiment_report
from handoff.core import access
from handoff.core.accounts import LoginSession
from handoff.core.app_keys import ENGINE, SETTINGS
from handoff.core.pages import render, require_session
from handoff.dashboard import experiments_service as service


def _today() -> date:
    return datetime.now(timezone.utc).date()


def _page(request: web.Request, login: LoginSession, template: str, **context: Any) -> web.Response:
    """A console page for ``login``'s agent: the header's links and the log-out form's token."""
    return render(request, template, agent=login.agent, csrf_token=login.csrf_token, **context)


async def index(request: web.Request) -> web.Response:
    """``GET /console/experiments``: every experiment in the file, its status and its numbers so far."""
    login = await require_session(request, access.SUPERVISOR_DASHBOARD)
    today = _today()
    path = request.app[SETTINGS].experiments_file
    listed: list[service.Listed] = []
    problem = None
    try:
        experiments = await asyncio.to_thread(service.read, path)
    except service.ExperimentsUnavailable as error:
        problem = error.detail
    else:
        listed = await asyncio.to_thread(service.listing, request.app[ENGINE], experiments, today)
    return _page(request, login, "experiments.html", listed=listed, problem=problem, path=path, today=today)


async def report(request: web.Request) -> web.Response:
    """``GET /console/experiments/{experiment}`` (``.json``): the report of one experiment."""
    login = await require_session(request, access.SUPERVISOR_DASHBOARD)
    name, fmt = service.requested(request.match_info["experiment"], request.query)
    today = service.as_of(request.query, _today())
    experiments = await asyncio.to_thread(service.read, request.app[SETTINGS].experiments_file)
    experiment = service.find(experiments, name)
    result = await asyncio.to_thread(experiment_report.report, request.app[ENGINE], experiment, today)
    if fmt == service.JSON:
        return web.json_response(result)
    return _page(
        request,
        login,
        "experiment_report.html",
        experiment=experiment,
        result=result,
        metrics=METRICS,
        progress=service.progress(experiment, result, today),
        experiment_status=service.status(experiment, today),
        today=today,
    )
