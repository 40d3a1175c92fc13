"""A local stand-in for the part of Rasa's HTTP API the handoff service uses; it records what it is asked."""

from typing import Any

from aiohttp import web

from bot.empathy import compact_vector


class FakeRasa:
    """Speaks the part of Rasa's HTTP API the console uses: tracker events, execute, tracker."""

    def __init__(self) -> None:
        self.calls: list[tuple[str, str, Any]] = []
        self.down = False
        # /execute answers 500 while events are accepted (a response the output channel cannot send).
        self.execute_fails = False
        # GET /tracker answers 503 while the rest works.
        self.tracker_fails = False
        # The texts /model/parse was asked to read, in order (the playground's cache is checked with it).
        self.parsed: list[str] = []
        self.events: list[dict[str, Any]] = [
            {"event": "user", "text": "my email is ada@example.com, where is 55556?", "timestamp": 1.0},
            {"event": "bot", "text": "I couldn't find that order.", "timestamp": 2.0},
        ]

    def app(self) -> web.Application:
        app = web.Application()
        app.router.add_post("/conversations/{cid}/tracker/events", self.append)
        app.router.add_post("/conversations/{cid}/execute", self.execute)
        app.router.add_get("/conversations/{cid}/tracker", self.tracker)
        app.router.add_post("/model/parse", self.parse)
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

    async def parse(self, request: web.Request) -> web.Response:
        """A reading in the shape of Attune's NLU (intent ranking, emotion with cues and vector), made
        from keywords so a test knows what to expect: "!!"/"useless" angry, "scared" afraid, "thanks" calm.
        """
        if self.down:
            return web.Response(status=503)
        assert request.query["token"] == "rasa-token"
        text = str((await request.json())["text"])
        self.parsed.append(text)
        return web.json_response(fake_parse(text))


def fake_parse(text: str) -> dict[str, Any]:
    lower = text.lower()
    intent = "request_human" if "person" in lower else "order_status" if "order" in lower else "nlu_fallback"
    anger = 0.8 if ("!!" in text or "useless" in lower) else 0.05
    fear = 0.7 if "scared" in lower else 0.02
    joy = 0.8 if "thanks" in lower else 0.05
    words = [w for w in lower.split() if w.isalpha()]
    vector = [float(sum(1 for w in words if len(w) % 8 == i)) + 0.1 for i in range(8)]
    return {
        "text": text,
        "intent": {"name": intent, "confidence": 0.9},
        "intent_ranking": [{"name": intent, "confidence": 0.9}, {"name": "greet", "confidence": 0.05}],
        "emotion": {
            "probabilities": {"anger": anger, "fear": fear, "joy": joy, "neutral": 0.1},
            "vector": compact_vector.pack(vector),
        },
    }
