"""ccxt exceptions → short, secret-free reasons.

ccxt puts the request URL (with the signed query string) into some exception messages;
nothing here ever returns ``str(exc)``. A reason names the exception class and, when
the venue answered with a JSON error, its ``code`` and ``msg``.
"""

from __future__ import annotations

import json
import re

__all__ = ["describe"]

_VENUE_JSON = re.compile(r"\{[^{}]*\"code\"\s*:\s*-?\d+[^{}]*\}")


def describe(exc: BaseException) -> str:
    """``"<ExceptionClass> <code> <msg>"`` without URLs, keys or signatures."""
    name = type(exc).__name__
    match = _VENUE_JSON.search(str(exc))
    if match is None:
        return name
    try:
        body = json.loads(match.group(0))
    except ValueError:
        return name
    code, msg = body.get("code"), str(body.get("msg", ""))
    msg = re.sub(r"(signature|apiKey|X-MBX-APIKEY)\S*", "[redacted]", msg)[:200]
    return f"{name} {code} {msg}".strip()
