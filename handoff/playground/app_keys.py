"""The playground's typed app state: one Playground per app, built by the app factory."""

from aiohttp import web

from handoff.playground.service import Playground

PLAYGROUND = web.AppKey("playground", Playground)
