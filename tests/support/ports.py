"""Free loopback ports for the processes a test starts."""

import contextlib
import socket
from collections.abc import Iterator


@contextlib.contextmanager
def bound_socket() -> Iterator[socket.socket]:
    """A socket bound to a free loopback port until the block ends: a server can take it over, and
    while nothing listens on it a connection is refused.
    """
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        yield sock


def port_of(sock: socket.socket) -> int:
    """The loopback port ``sock`` is bound to."""
    return int(sock.getsockname()[1])


def free_port() -> int:
    """A loopback port free at the time of asking, for a process the test starts."""
    with bound_socket() as sock:
        return port_of(sock)
