"""Typed keys of the application's state, shared by the app factory and the views."""

from aiohttp import web
from sqlalchemy.engine import Engine

from handoff.settings import Settings

SETTINGS = web.AppKey("settings", Settings)
ENGINE = web.AppKey("engine", Engine)
