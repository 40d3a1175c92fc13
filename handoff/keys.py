"""Typed keys of the application's state, shared by the app factory and the views."""

import jinja2
from aiohttp import web
from sqlalchemy.engine import Engine

from handoff.rasa_client import RasaClient
from handoff.settings import Settings

SETTINGS = web.AppKey("settings", Settings)
ENGINE = web.AppKey("engine", Engine)
TEMPLATES = web.AppKey("templates", jinja2.Environment)
RASA = web.AppKey("rasa", RasaClient)
