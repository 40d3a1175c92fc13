"""A local stand-in for the part of Rasa's HTTP API the handoff service uses; it records what it is asked."""

from typing import Any

from aiohttp import web


class FakeRasa:
    """Speaks the part of Rasa's HTTP API the console uses: tracker events, execute, tracker."""

    def __init__(self) -> None:
        self.calls: list[tuple[str, str, Any]] = []
        self.down = False
        # /execute answers 500 while events are accepted (a response the output channel cannot send).
        self.execute_fails = False
        # GET /tracker answers 503 while the rest works.
        self.tracker_fails = False
        self.events: list[dict[str, Any]] = [
            {"event": "user", "text": "my email is ada@example.com, where is 55556?", "timestamp": 1.0},
            {"event": "bot", "text": "I couldn't find that order.", "timestamp": 2.0},
        ]

    def app(self) -> web.Application:
        app = web.Application()
        app.router.add_post("/conversations/{cid}/tracker/events", self.append)
        app.router.add_post("/conversations/{cid}/execute", self.execute)
        app.router.add_get("/conversations/{cid}/tracker", self.tracker)
        return app

    async def append(self, request: web.Request) -> web.Response:
        if self.down:
            return web.Response(status=503)
        assert request.query["token"] == "rasa-token"
        events = await request.json()
        self.calls.append(("events", request.match_info["cid"], events))
        self.events.extend(events)  # as Rasa does: pause, resume and slots are in the tracker too
        return web.json_response({})

    async def execute(self, request: web.Request) -> web.Response:
        if self.down:
            return web.Response(status=503)
        body = await request.json()
        self.calls.append(
            ("execute", request.match_info["cid"], {**body, "channel": request.query["output_channel"]})
        )
        if self.execute_fails:
            return web.json_response({"message": "TypeError"}, status=500)
        self.events.append(
            {"event": "bot", "text": f"[{body['name']}]", "metadata": {"utter_action": body["name"]}}
        )
        return web.json_response({})

    async def tracker(self, request: web.Request) -> web.Response:
        if self.tracker_fails:
            return web.Response(status=503)
        return web.json_response({"events": self.events})
