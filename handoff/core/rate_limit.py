"""A token bucket per client address, in memory, for the open endpoints a browser calls
(the web chat's emotion switch, /chat/consent).

Each address may make ``burst`` requests at once and then ``per_minute`` a minute; over that the
request is refused with 429 and ``Retry-After``.  In memory and per process: behind several
service instances each has its own buckets, and a restart forgets them (the limit bounds abuse, it
does not account for it).  The address is the client's as ``views.inputs.client_address`` reads
it: the TCP peer's, or behind a proxy listed in ATTUNE_TRUSTED_PROXIES the one it forwarded (an
X-Forwarded-For from anyone else is ignored: any client can send one).  At most ``max_clients``
addresses are remembered; the longest-idle ones are forgotten first (a full bucket is all they
would hold).
"""

import math
import time
from collections import OrderedDict
from collections.abc import Callable
from dataclasses import dataclass, field

from handoff.shared.errors import TooManyRequests


@dataclass
class RateLimiter:
    per_minute: int = 30
    burst: int = 30
    max_clients: int = 10_000
    clock: Callable[[], float] = time.monotonic
    # address -> (tokens left, when they were counted); oldest use first.
    _buckets: OrderedDict[str, tuple[float, float]] = field(default_factory=OrderedDict)

    def take(self, client: str) -> None:
        """Spends one token of ``client``'s bucket, or raises TooManyRequests."""
        now = self.clock()
        rate = self.per_minute / 60.0
        tokens, counted = self._buckets.pop(client, (float(self.burst), now))
        tokens = min(float(self.burst), tokens + (now - counted) * rate)
        if tokens < 1.0:
            self._buckets[client] = (tokens, now)
            wait = math.ceil((1.0 - tokens) / rate)
            raise TooManyRequests(
                f"at most {self.per_minute} requests a minute from one address; try again in {wait} s", wait
            )
        self._buckets[client] = (tokens - 1.0, now)
        while len(self._buckets) > self.max_clients:
            self._buckets.popitem(last=False)
