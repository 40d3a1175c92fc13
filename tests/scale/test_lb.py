"""bench/lb.py, the round-robin proxy of the scale-out test, in front of two echoing upstreams."""

from typing import Any

from aiohttp import web
from aiohttp.test_utils import TestClient, TestServer

from bench.lb import Settings, create_app


def echo(name: str) -> web.Application:
    async def handler(request: web.Request) -> web.Response:
        return web.json_response(
            {
                "upstream": name,
                "method": request.method,
                "path_qs": request.raw_path,
                "body": (await request.read()).decode(),
                "authorization": request.headers.get("Authorization"),
            },
            status=201,
            headers={"X-Upstream": name},
        )

    app = web.Application()
    app.router.add_route("*", "/{tail:.*}", handler)
    return app


async def balanced(aiohttp_server: Any, aiohttp_client: Any) -> TestClient:
    a: TestServer = await aiohttp_server(echo("a"))
    b: TestServer = await aiohttp_server(echo("b"))
    upstreams = (str(a.make_url("")), str(b.make_url("")))
    return await aiohttp_client(create_app(Settings(upstreams)))


async def test_requests_go_to_each_upstream_in_turn(aiohttp_server: Any, aiohttp_client: Any) -> None:
    client = await balanced(aiohttp_server, aiohttp_client)

    seen = [(await (await client.get("/")).json())["upstream"] for _ in range(4)]

    assert seen == ["a", "b", "a", "b"]


async def test_method_path_query_body_and_headers_pass_both_ways(
    aiohttp_server: Any, aiohttp_client: Any
) -> None:
    client = await balanced(aiohttp_server, aiohttp_client)

    response = await client.put(
        "/conversations/c%2F1/tracker/events?token=t%3D&include_events=ALL",
        data=b'{"event": "pause"}',
        headers={"Authorization": "Bearer x", "Content-Type": "application/json"},
    )

    assert response.status == 201
    assert response.headers["X-Upstream"] == "a"
    assert await response.json() == {
        "upstream": "a",
        "method": "PUT",
        "path_qs": "/conversations/c%2F1/tracker/events?token=t%3D&include_events=ALL",
        "body": '{"event": "pause"}',
        "authorization": "Bearer x",
    }


async def test_an_upstream_that_does_not_answer_is_a_502(aiohttp_client: Any) -> None:
    client = await aiohttp_client(create_app(Settings(("http://127.0.0.1:9",))))

    response = await client.get("/")

    assert response.status == 502
    assert (await response.json())["error"] == "bad_gateway"
