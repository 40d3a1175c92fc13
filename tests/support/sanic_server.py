"""Rasa's input channels served by a real Sanic server on a free loopback socket.

``serve_channels(channels, on_new_message, name=...)`` mounts each channel's blueprint on a new
Sanic app as Rasa's ``register`` does, starts the server and yields its base URL
(``http://127.0.0.1:<port>``); ``serve_app(app)`` serves an app built elsewhere (Rasa's own
``rasa.server.create_app``).  ``prepare(app, base_url)`` runs before the server starts, to put
things on the app (``app.ctx.agent``, a route, a channel that needs the URL it is served at).

Sanic rewrites its HTTP handlers when a server starts; a module that starts more than one sets
``Sanic.test_mode`` (``monkeypatch.setattr(Sanic, "test_mode", True)``).
"""

import contextlib
import uuid
from collections.abc import AsyncIterator, Awaitable, Callable, Iterable

from rasa.core.channels.channel import InputChannel, UserMessage
from sanic import Sanic

from tests.support.ports import bound_socket, port_of

Prepare = Callable[[Sanic, str], None]


def mount_channels(
    app: Sanic, channels: Iterable[InputChannel], on_new_message: Callable[[UserMessage], Awaitable[None]]
) -> None:
    """Each channel's blueprint under /webhooks/<its prefix>, as rasa.core.channels.channel.register does."""
    for channel in channels:
        app.blueprint(channel.blueprint(on_new_message), url_prefix=f"/webhooks/{channel.url_prefix()}")


@contextlib.asynccontextmanager
async def serve_app(app: Sanic, prepare: Prepare | None = None) -> AsyncIterator[str]:
    """Serves ``app`` on a free loopback port until the block ends; yields the base URL."""
    with bound_socket() as sock:
        base_url = f"http://127.0.0.1:{port_of(sock)}"
        if prepare is not None:
            prepare(app, base_url)
        server = await app.create_server(sock=sock, return_asyncio_server=True, access_log=False)
        assert server is not None
        await server.startup()
        await server.before_start()
        await server.after_start()
        try:
            yield base_url
        finally:
            await server.before_stop()
            server.close()
            await server.wait_closed()
            await server.after_stop()


@contextlib.asynccontextmanager
async def serve_channels(
    channels: Iterable[InputChannel],
    on_new_message: Callable[[UserMessage], Awaitable[None]],
    name: str = "channels_test",
    prepare: Prepare | None = None,
) -> AsyncIterator[str]:
    """Serves ``channels`` on a new Sanic app (named ``<name>_<uuid>``: Sanic's names are global)."""
    app = Sanic(f"{name}_{uuid.uuid4().hex}", configure_logging=False)
    mount_channels(app, channels, on_new_message)
    async with serve_app(app, prepare) as base_url:
        yield base_url
