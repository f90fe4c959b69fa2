"""Vendor SDK verbosity forced off in live mode (design.md §2.8, reliability.md B.2.3).

Verbose modes of exchange SDKs print whole requests — signed URLs, API-key headers — and
ccxt's ``verbose`` does it with ``print``, past any log filter. Adapters call
:func:`quiet_vendor_sdks` on every client they build for live or sandbox trading::

    exchange = ccxt.binance({...})
    quiet_vendor_sdks(exchange)
"""

from __future__ import annotations

import logging
from collections.abc import Iterable
from typing import TypeVar

from rbt.security.redaction import VENDOR_LOGGERS, install_redaction

__all__ = ["VENDOR_FLAGS", "VendorVerbosityError", "assert_quiet", "quiet_vendor_sdks"]

#: attribute → the value that keeps the client quiet (ccxt, pybit, python-binance)
VENDOR_FLAGS: dict[str, bool] = {
    "verbose": False,  # ccxt (sync, async and pro): prints every request and response
    "log_requests": False,  # pybit: logs request bodies with signatures
    "debug": False,  # several SDKs' request dumps
}

ClientT = TypeVar("ClientT")


class VendorVerbosityError(RuntimeError):
    """A vendor client is still verbose after it was quieted."""


def quiet_vendor_sdks(
    client: ClientT | None = None, *, loggers: Iterable[str] = VENDOR_LOGGERS
) -> ClientT | None:
    """Turn ``client``'s verbose/debug flags off and vendor loggers up to WARNING.

    Also installs the redaction filter (idempotent). Returns ``client``, checked with
    :func:`assert_quiet`.
    """
    for name in loggers:
        logger = logging.getLogger(name)
        if logger.getEffectiveLevel() < logging.WARNING:
            logger.setLevel(logging.WARNING)
    install_redaction(loggers)
    if client is not None:
        for attr, quiet in VENDOR_FLAGS.items():
            # only flags: a method of the same name is none of our business
            if isinstance(getattr(client, attr, None), bool):
                setattr(client, attr, quiet)
        assert_quiet(client)
    return client


def assert_quiet(client: object) -> None:
    """Raise :class:`VendorVerbosityError` if a verbose/debug flag of ``client`` is on."""
    loud = [
        attr
        for attr, quiet in VENDOR_FLAGS.items()
        if isinstance(getattr(client, attr, None), bool) and getattr(client, attr) != quiet
    ]
    if loud:
        raise VendorVerbosityError(
            f"{type(client).__name__} still has {', '.join(loud)} switched on in live mode"
        )
