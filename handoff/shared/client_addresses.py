"""Where a request came from: the client address, one rule for the Rasa server and the handoff service.

The Rasa server's REST and socket.io channels write it into server-set metadata as
``metadata["attune"]["client_address"]`` (bot/components/verified_identity.py), which the action
server's self-service limits count by; the handoff service counts logins and the web chat's switch
by it (handoff/core/inputs.py).  A client cannot set it: whatever it sends under ``attune`` is dropped.

- Without a proxy the address is the TCP peer of the connection.
- Behind a reverse proxy every request comes from the proxy, which says who it forwarded for in
  ``X-Forwarded-For`` (``client, proxy1, proxy2``; each hop appends the address it was called
  from).  A client can put anything in that header, so it is believed only as far as the hops are
  trusted: ATTUNE_TRUSTED_PROXIES lists the proxies' networks (CIDRs or addresses, separated by
  spaces or commas; default none).  Reading from the right, from the peer, each trusted hop
  vouches for the one to its left; the first hop that is not trusted is the client.  A peer that is
  not trusted makes the header worthless: the address is the peer.  A hop a trusted proxy wrote
  that is not an address at all (``unknown``, a forged token) stops the walk at that proxy.
- SMS and WhatsApp have none: the request comes from Twilio, and the customer's number, which
  Twilio verified, is their identity.
"""

import ipaddress
from collections.abc import Iterable, Mapping
from dataclasses import dataclass
from typing import Final

TRUSTED_PROXIES_VARIABLE: Final = "ATTUNE_TRUSTED_PROXIES"
FORWARDED_FOR_HEADER: Final = "X-Forwarded-For"
# A header can repeat the hops without bound; nobody runs more proxies than this in front of a bot.
MAX_HOPS: Final = 32

Network = ipaddress.IPv4Network | ipaddress.IPv6Network
Address = ipaddress.IPv4Address | ipaddress.IPv6Address


class TrustedProxiesError(ValueError):
    """ATTUNE_TRUSTED_PROXIES holds something that is not a network; the message names it."""


def _address(text: str) -> Address | None:
    """``text`` as an address: ``1.2.3.4``, ``1.2.3.4:5678``, ``::1``, ``[::1]:80``; None otherwise."""
    value = text.strip()
    if value.startswith("["):  # [IPv6]:port
        value = value[1 : value.find("]")] if "]" in value else ""
    elif value.count(":") == 1:  # IPv4:port
        value = value.split(":")[0]
    try:
        address = ipaddress.ip_address(value)
    except ValueError:
        return None
    # An IPv4 client reaching a dual-stack socket is seen as ::ffff:a.b.c.d: the same client.
    mapped = getattr(address, "ipv4_mapped", None)
    return mapped or address


@dataclass(frozen=True)
class TrustedProxies:
    """The networks whose ``X-Forwarded-For`` is believed (none: the peer is always the client)."""

    networks: tuple[Network, ...] = ()

    @classmethod
    def parse(cls, value: str) -> "TrustedProxies":
        """``"10.0.0.0/8 192.168.1.5, ::1"``; TrustedProxiesError names anything else."""
        networks = []
        for item in value.replace(",", " ").split():
            try:
                networks.append(ipaddress.ip_network(item, strict=False))
            except ValueError:
                raise TrustedProxiesError(
                    f"{TRUSTED_PROXIES_VARIABLE} must list networks (CIDRs or addresses), got {item!r}"
                ) from None
        return cls(tuple(networks))

    @classmethod
    def from_environ(cls, environ: Mapping[str, str]) -> "TrustedProxies":
        return cls.parse(environ.get(TRUSTED_PROXIES_VARIABLE, ""))

    def trusts(self, address: Address) -> bool:
        return any(address.version == network.version and address in network for network in self.networks)

    def client_address(self, peer: str | None, forwarded_for: Iterable[str] = ()) -> str | None:
        """The client's address: ``peer`` (the TCP peer), or the first untrusted hop of
        ``forwarded_for`` (every ``X-Forwarded-For`` header of the request, in order) when the peer
        is a trusted proxy.  None when the peer is unknown.
        """
        current = _address(peer or "")
        if current is None:
            return None
        hops = [hop for header in forwarded_for for hop in header.split(",")][-MAX_HOPS:]
        while self.trusts(current) and hops:
            previous = _address(hops.pop())
            if previous is None:  # garbage where the trusted proxy should have written an address
                break
            current = previous
        return str(current)


# The default: no proxy is trusted, every client's address is its TCP peer.
NO_TRUSTED_PROXIES: Final = TrustedProxies()
