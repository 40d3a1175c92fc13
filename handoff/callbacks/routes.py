"""Twilio's callbacks for a call-back in progress: the TwiML it plays and the call's status."""

from aiohttp import web

from handoff.callbacks import twilio_views


def setup_routes(app: web.Application) -> None:
    app.router.add_post("/twilio/twiml/{job_id}", twilio_views.twiml, name="callbacks.twiml")
    app.router.add_post("/twilio/status/{job_id}", twilio_views.status, name="callbacks.status")
