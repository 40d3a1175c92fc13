"""The console's experiment pages: which experiments the file defines, and one experiment's report.

The report is handoff/analytics/experiment_report.py's, the same dictionary ``attune experiment report
NAME --json`` prints; this module only finds the experiment, checks what the request asks for and
adds what a page shows besides (the status of each experiment, progress toward the horizon).

The experiments file (``ATTUNE_EXPERIMENTS``) is read on every request: a small file, and the page
then shows what the action servers assign from now.  A file that cannot be used is
ExperimentsUnavailable, whose message names the file and the key at fault.
"""

import re
from collections.abc import Mapping
from dataclasses import dataclass
from datetime import date
from pathlib import Path
from typing import Any, Final, Literal

import yaml
from sqlalchemy import func, select
from sqlalchemy.engine import Engine

from bot.empathy.experiments import EXCLUDED, MAX_NAME, Experiment, ExperimentError, parse
from handoff.core.models import AnalyticsExposure
from handoff.shared.errors import HandoffError, InvalidRequest, NotFound

Status = Literal["disabled", "scheduled", "running", "ended"]
DISABLED: Final[Status] = "disabled"
SCHEDULED: Final[Status] = "scheduled"
RUNNING: Final[Status] = "running"
ENDED: Final[Status] = "ended"

Format = Literal["html", "json"]
HTML: Final[Format] = "html"
JSON: Final[Format] = "json"
JSON_SUFFIX: Final = ".json"

_NAME: Final = re.compile(f"[A-Za-z0-9_-]{{1,{MAX_NAME}}}")


class ExperimentsUnavailable(HandoffError):
    """The experiments file is missing or invalid: nothing can be reported until it is fixed."""

    status = 503
    code = "experiments_unavailable"


def read(path: str | Path) -> tuple[Experiment, ...]:
    """The experiments in ``path``, checked; ExperimentsUnavailable says what is wrong."""
    try:
        return parse(yaml.safe_load(Path(path).read_text(encoding="utf-8")))
    except OSError as error:
        raise ExperimentsUnavailable(f"{path}: cannot be read ({error.strerror})") from error
    except yaml.YAMLError as error:
        raise ExperimentsUnavailable(f"{path}: not valid YAML ({error})") from error
    except ExperimentError as error:
        raise ExperimentsUnavailable(f"{path}: {error}") from error


def status(experiment: Experiment, today: date) -> Status:
    if not experiment.enabled:
        return DISABLED
    if today < experiment.start:
        return SCHEDULED
    return RUNNING if experiment.running(today) else ENDED


@dataclass(frozen=True)
class Listed:
    experiment: Experiment
    status: Status
    exposed: Mapping[str, int]  # conversations per arm so far
    excluded: int  # opted-out customers' conversations, never analysed


def exposure_counts(engine: Engine) -> dict[str, dict[str, int]]:
    """Conversations logged per experiment and variant (``excluded`` included)."""
    e = AnalyticsExposure
    query = select(e.experiment, e.variant, func.count()).group_by(e.experiment, e.variant)
    counts: dict[str, dict[str, int]] = {}
    with engine.connect() as connection:
        for experiment, variant, count in connection.execute(query):
            counts.setdefault(str(experiment), {})[str(variant)] = int(count)
    return counts


def listing(engine: Engine, experiments: tuple[Experiment, ...], today: date) -> list[Listed]:
    counts = exposure_counts(engine)
    out = []
    for experiment in experiments:
        found = counts.get(experiment.name, {})
        exposed = {a.name: found.get(a.name, 0) for a in experiment.arms}
        out.append(Listed(experiment, status(experiment, today), exposed, found.get(EXCLUDED, 0)))
    return out


def requested(raw: str, query: Mapping[str, str]) -> tuple[str, Format]:
    """The experiment's name in the path and the format asked for (``NAME.json`` or ``?format=json``)."""
    name, fmt = raw, query.get("format", HTML)
    if raw.endswith(JSON_SUFFIX):
        name, fmt = raw[: -len(JSON_SUFFIX)], JSON
    if fmt not in (HTML, JSON):
        raise InvalidRequest("'format' must be html or json")
    if not _NAME.fullmatch(name):
        raise InvalidRequest(f"an experiment's name is 1-{MAX_NAME} letters, digits, '_' or '-'")
    return name, HTML if fmt == HTML else JSON


def as_of(query: Mapping[str, str], today: date) -> date:
    """The day the report is as of: ``?today=YYYY-MM-DD`` (as the command's ``--today``), else today."""
    text = query.get("today", "")
    if not text:
        return today
    if len(text) == 10 and text.isascii():
        try:
            return date.fromisoformat(text)
        except ValueError:
            pass
    raise InvalidRequest("'today' must be a day in the calendar written YYYY-MM-DD")


def find(experiments: tuple[Experiment, ...], name: str) -> Experiment:
    found = next((e for e in experiments if e.name == name), None)
    if found is None:
        known = ", ".join(e.name for e in experiments) or "none"
        raise NotFound(f"no experiment {name!r} in the experiments file (known: {known})")
    return found


@dataclass(frozen=True)
class Progress:
    """How far the fixed horizon is: the smallest arm against ``sample_size``, the days against ``end``."""

    smallest: int
    sample_size: int | None
    day: int  # days since the start, the start being day 1 (0 before it)
    days: int | None  # days from start to end, both included

    @property
    def size_percent(self) -> float | None:
        return None if not self.sample_size else min(100.0, 100 * self.smallest / self.sample_size)

    @property
    def days_percent(self) -> float | None:
        return None if not self.days else min(100.0, 100 * self.day / self.days)


def progress(experiment: Experiment, result: Mapping[str, Any], today: date) -> Progress:
    weighted = [a.name for a in experiment.arms if a.weight > 0]
    smallest = min(int(result["arms"][name]["conversations"]) for name in weighted)
    day = max(0, (today - experiment.start).days + 1)
    days = None if experiment.end is None else (experiment.end - experiment.start).days + 1
    return Progress(smallest, experiment.sample_size, day, days)
