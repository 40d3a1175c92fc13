"""A small round-robin HTTP load balancer for running several instances on one machine.

``python -m bench.lb --port 5005 --upstream http://127.0.0.1:5105 --upstream http://127.0.0.1:5205``
sends each request (method, path, query string, body and end-to-end headers) to the next upstream
in turn and returns its answer.  It stands in for nginx, HAProxy or a cloud load balancer in the
scale-out test (tests/scale/) and in benchmarks: no sticky sessions (Rasa's lock store serialises
a conversation's messages across instances), no health checks, no retries, no WebSockets
(socket.io needs the websocket transport straight to one instance, or sticky sessions).
"""

import argparse
import asyncio
import itertools
import logging
import sys
from collections.abc import AsyncIterator, Iterator, Mapping, Sequence
from dataclasses import dataclass

from aiohttp import ClientError, ClientSession, ClientTimeout, web
from yarl import URL

logger = logging.getLogger("bench.lb")

# Hop-by-hop headers (RFC 9110 7.6.1) belong to one connection and are not forwarded; aiohttp
# sets Host and Content-Length for the request it makes and for the answer it writes.
HOP_BY_HOP = frozenset(
    {
        "connection",
        "keep-alive",
        "proxy-authenticate",
        "proxy-authorization",
        "proxy-connection",
        "te",
        "trailer",
        "transfer-encoding",
        "upgrade",
        "host",
        "content-length",
    }
)


@dataclass(frozen=True)
class Settings:
    upstreams: tuple[str, ...]
    host: str = "127.0.0.1"
    port: int = 5005
    # A message may wait for its conversation's lock, then for NLU and custom actions.
    timeout_seconds: float = 300.0


UPSTREAMS = web.AppKey("upstreams", Iterator[str])
SESSION = web.AppKey("session", ClientSession)


def _forwardable(headers: Mapping[str, str]) -> dict[str, str]:
    return {name: value for name, value in headers.items() if name.lower() not in HOP_BY_HOP}


async def proxy(request: web.Request) -> web.Response:
    upstreams = request.app[UPSTREAMS]
    upstream = next(upstreams)
    headers = _forwardable(request.headers)
    if request.remote:
        headers["X-Forwarded-For"] = request.remote
    try:
        async with request.app[SESSION].request(
            request.method,
            # The path and query exactly as they came (%2F stays %2F).
            URL(upstream + request.raw_path, encoded=True),
            headers=headers,
            data=await request.read(),
            allow_redirects=False,
        ) as answer:
            body = await answer.read()
            return web.Response(status=answer.status, headers=_forwardable(answer.headers), body=body)
    except (ClientError, asyncio.TimeoutError) as error:
        logger.warning("%s %s via %s failed: %r", request.method, request.rel_url, upstream, error)
        return web.json_response({"error": "bad_gateway", "detail": f"{upstream}: {error!r}"}, status=502)


def create_app(settings: Settings) -> web.Application:
    if not settings.upstreams:
        raise ValueError("at least one upstream is needed")
    app = web.Application(client_max_size=16 * 1024 * 1024)
    app[UPSTREAMS] = itertools.cycle(url.rstrip("/") for url in settings.upstreams)

    async def session(app: web.Application) -> AsyncIterator[None]:
        # The upstream's bytes are passed on as they are (compressed stays compressed).
        async with ClientSession(
            timeout=ClientTimeout(total=settings.timeout_seconds), auto_decompress=False
        ) as client:
            app[SESSION] = client
            yield

    app.cleanup_ctx.append(session)
    app.router.add_route("*", "/{tail:.*}", proxy)
    return app


def parse_args(argv: Sequence[str] | None) -> Settings:
    parser = argparse.ArgumentParser(prog="python -m bench.lb", description=__doc__.splitlines()[0])
    parser.add_argument("--host", default="127.0.0.1")
    parser.add_argument("--port", type=int, required=True)
    parser.add_argument("--upstream", action="append", required=True, help="base URL; repeat for each")
    parser.add_argument("--timeout", type=float, default=Settings.timeout_seconds, help="seconds per request")
    args = parser.parse_args(argv)
    return Settings(tuple(args.upstream), args.host, args.port, args.timeout)


def main(argv: Sequence[str] | None = None) -> int:
    settings = parse_args(argv)
    logging.basicConfig(level=logging.INFO, format="%(levelname)s %(name)s %(message)s")
    logger.info("round-robin on %s:%d over %s", settings.host, settings.port, ", ".join(settings.upstreams))
    web.run_app(create_app(settings), host=settings.host, port=settings.port, print=None, access_log=None)
    return 0


if __name__ == "__main__":
    sys.exit(main())
