"""Composing a live run from names: a broker plugin, its bar feed and an endpoint.

``rbt live`` calls :func:`venue_endpoint` (sandbox URLs from ``--sandbox-url`` or
``$RBT_HOME/sandbox.json``, loopback only; credentials by name) and :func:`compose_live`
(the FEED provider of the broker's name builds the :class:`~rbt.live.feed.BarStream`, the
BROKER provider the :class:`~rbt.kernel.broker.LiveBroker`).
"""

from __future__ import annotations

import json
from collections.abc import Sequence
from pathlib import Path
from typing import Any
from urllib.parse import urlsplit

from rbt.data.home import RbtHome
from rbt.kernel.broker import VenueEndpoint
from rbt.kernel.registry import ProviderKind
from rbt.kernel.secrets import Secret

__all__ = ["LOOPBACK_HOSTS", "MODES", "compose_live", "sandbox_endpoint", "venue_endpoint"]

LOOPBACK_HOSTS = ("127.0.0.1", "localhost", "::1")
MODES = ("sandbox", "testnet", "live")


def _loopback_urls(urls: dict[str, str], where: str) -> dict[str, str]:
    """Refuse a sandbox URL that is not on this machine (the sandbox is the local simulator)."""
    for role, url in urls.items():
        host = urlsplit(url).hostname or ""
        if host not in LOOPBACK_HOSTS:
            raise ValueError(
                f"--sandbox is the local venue simulator: the {role} URL {url!r} ({where}) is "
                f"not a loopback address ({', '.join(LOOPBACK_HOSTS)}); use --testnet for a "
                "venue's testnet"
            )
    return urls


def sandbox_endpoint(
    home: RbtHome, sandbox_url: str | None = None
) -> tuple[dict[str, str], dict[str, Secret]]:
    """The simulator's URLs (``rest``, ``ws``) and its own sandbox keys (never real ones).

    :raises ValueError: a non-loopback URL, or no ``sandbox.json`` (naming ``rbt sandbox``).
    """
    if sandbox_url:
        ws = "ws" + sandbox_url[4:] if sandbox_url.startswith("http") else sandbox_url
        return _loopback_urls({"rest": sandbox_url, "ws": ws}, "--sandbox-url"), {}
    path = Path(home.root) / "sandbox.json"
    try:
        doc = json.loads(path.read_text(encoding="utf-8"))
    except FileNotFoundError:
        raise ValueError(
            f"--sandbox without --sandbox-url reads {path}, which does not exist: start the "
            "local venue simulator with `rbt sandbox` (it writes that file), or pass "
            "--sandbox-url http://127.0.0.1:PORT"
        ) from None
    except json.JSONDecodeError as exc:
        raise ValueError(f"{path}: not JSON ({exc.msg} at line {exc.lineno})") from None
    if not isinstance(doc, dict) or not isinstance(doc.get("rest"), str):
        raise ValueError(f'{path}: expected an object with "rest" (and "ws") URLs')
    urls = {k: doc[k] for k in ("rest", "ws") if isinstance(doc.get(k), str)}
    keys = {
        name: Secret(doc[field])
        for name, field in (("apiKey", "api_key"), ("secret", "secret"))
        if isinstance(doc.get(field), str)
    }
    return _loopback_urls(urls, str(path)), keys


def venue_endpoint(
    home: RbtHome,
    mode: str,
    *,
    sandbox_url: str | None = None,
    credentials: str | None = None,
) -> VenueEndpoint:
    """The endpoint of a live run: where it connects and with which secrets.

    A sandbox uses the simulator's own keys (or ``{}``) unless ``credentials`` names some;
    a testnet or live run needs ``credentials`` (resolved by
    :func:`rbt.security.credentials.resolve`).
    """
    if mode not in MODES:
        raise ValueError(f"unknown mode {mode!r}; choose: {', '.join(MODES)}")
    urls: dict[str, str] = {}
    secrets: dict[str, Secret] = {}
    if mode == "sandbox":
        urls, secrets = sandbox_endpoint(home, sandbox_url)
    if credentials:
        try:
            from rbt.security.credentials import resolve
        except ImportError:  # pragma: no cover - the store ships with the framework
            raise ValueError(
                "credentials are not available in this installation "
                "(rbt.security.credentials is missing)"
            ) from None
        secrets = dict(resolve(home, credentials))
    elif mode != "sandbox":
        raise ValueError(f"{mode} trading needs --credentials NAME (see rbt credentials)")
    return VenueEndpoint(mode=mode, urls=urls, credentials=secrets)


def compose_live(
    strategy: Any,
    *,
    broker: str,
    endpoint: VenueEndpoint,
    symbols: Sequence[str],
    interval: str = "1m",
    manager: Any = None,
    **options: Any,
) -> Any:
    """A :class:`~rbt.live.engine.LiveRun` on the ``broker`` plugin's feed and broker.

    :param manager: the plugin manager to resolve providers in (default: the installed
        plugins).
    :param options: further :class:`~rbt.live.engine.LiveRun` keyword arguments.
    """
    from rbt.live.engine import LiveRun

    if not symbols:
        raise ValueError("--symbols names no symbol")
    if manager is None:
        from rbt.plugins import plugin_manager

        manager = plugin_manager()
    manager.get_provider(ProviderKind.BROKER, broker)  # an unknown name lists the brokers
    feed = manager.get_provider(ProviderKind.FEED, broker).create(
        endpoint, symbols=list(symbols), interval=interval
    )
    return LiveRun(
        strategy,
        feed=feed,
        broker=broker,
        endpoint=endpoint,
        mode=endpoint.mode,
        manager=manager,
        **options,
    )
