"""The Rasa server's trusted proxies, from ATTUNE_TRUSTED_PROXIES
(the rule: handoff/shared/client_addresses.py).

A mistake in the setting stops the server at start-up with a message naming the variable (a
RasaException, which Rasa prints without a traceback).
"""

from collections.abc import Mapping

from rasa.shared.exceptions import RasaException

from handoff.shared.client_addresses import TrustedProxies, TrustedProxiesError


class TrustedProxiesSettingError(RasaException):
    """ATTUNE_TRUSTED_PROXIES holds something that is not a network; the message names it."""


def configured_trusted_proxies(environ: Mapping[str, str]) -> TrustedProxies:
    try:
        return TrustedProxies.from_environ(environ)
    except TrustedProxiesError as error:
        raise TrustedProxiesSettingError(str(error)) from None
