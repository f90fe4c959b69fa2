"""Launcher: ``python -m rbt_venue_sim --port 0 --symbols BTC/USDT,ETH/USDT --path scripted.json``.

Binds 127.0.0.1 (loopback only), prints one JSON line to stdout once it listens::

    {"event": "ready", "port": 50123, "base_url": "http://127.0.0.1:50123",
     "ws_url": "ws://127.0.0.1:50123", "pid": 4242}

and stops gracefully on SIGTERM or SIGINT (open WebSockets are closed with 1001,
then the process exits 0).
"""

from __future__ import annotations

import argparse
import asyncio
import ipaddress
import json
import logging
import os
import signal
import sys
import time
from collections.abc import Sequence
from decimal import Decimal
from typing import Any

from aiohttp import web

from rbt_venue_sim.engine import LiquidityModel
from rbt_venue_sim.markets import load_symbol_specs
from rbt_venue_sim.pricepath import default_path, load_path_file, path_from_bundle
from rbt_venue_sim.server import Account, SimConfig, Venue, build_app

DEFAULT_API_KEY = "rbt-sim-api-key"
DEFAULT_SECRET = "rbt-sim-secret"
DEFAULT_BALANCES = {"USDT": "100000", "BTC": "2", "ETH": "20"}


def _parser() -> argparse.ArgumentParser:
    p = argparse.ArgumentParser(
        prog="python -m rbt_venue_sim", description="Local Binance-spot-shaped venue simulator."
    )
    p.add_argument("--host", default="127.0.0.1", help="loopback address to bind")
    p.add_argument("--port", type=int, default=0, help="0 picks a free port (printed)")
    p.add_argument("--symbols", default="BTC/USDT,ETH/USDT", help="comma-separated BASE/QUOTE")
    p.add_argument("--path", help="scenario JSON: price path, liquidity, fees, accounts")
    p.add_argument("--bundle", help="feed the bars of this rbt bundle instead of a path")
    p.add_argument("--home", help="RBT_HOME holding --bundle (default: rbt's default)")
    p.add_argument("--history", type=int, default=None, help="bars revealed at start-up")
    p.add_argument("--api-key", default=DEFAULT_API_KEY)
    p.add_argument("--secret", default=DEFAULT_SECRET)
    p.add_argument(
        "--balance",
        action="append",
        default=[],
        metavar="ASSET=AMOUNT",
        help="starting balance of the default account (repeatable)",
    )
    p.add_argument("--maker-fee", default=None, help="maker rate, e.g. 0.001")
    p.add_argument("--taker-fee", default=None, help="taker rate, e.g. 0.001")
    p.add_argument("--weight-limit", type=int, default=6000)
    p.add_argument("--weight-window", type=float, default=60.0, help="seconds")
    p.add_argument(
        "--ban-after",
        type=int,
        default=3,
        help="requests sent during a 429 back-off before the 418 ban",
    )
    p.add_argument("--ban-seconds", type=float, default=120.0)
    p.add_argument(
        "--auto-advance",
        type=float,
        default=None,
        help="reveal one bar every this many seconds (default: only on /_sim/advance)",
    )
    p.add_argument("--log-level", default="WARNING")
    return p


def build_config(args: argparse.Namespace) -> SimConfig:
    specs = load_symbol_specs(s for s in args.symbols.split(",") if s.strip())
    if not specs:
        raise SystemExit("--symbols is empty")
    now = time.time_ns() // 1_000_000
    doc: dict[str, Any] = {}
    if args.bundle:
        path = path_from_bundle(args.home, args.bundle, specs, history=args.history or 1)
    elif args.path:
        path, doc = load_path_file(args.path, specs, now)
        if args.history is not None:
            raise SystemExit(
                "--history applies to --bundle and the default path; set 'history' in the path file"
            )
    else:
        path = default_path(specs, now, history=args.history or 100)
    liq_doc = doc.get("liquidity", {})
    liquidity = LiquidityModel(
        half_spread_bps=Decimal(str(liq_doc.get("half_spread_bps", "1"))),
        levels=int(liq_doc.get("levels", 10)),
        level_step_ticks=int(liq_doc.get("level_step_ticks", 1)),
        level_qty=Decimal(str(liq_doc["level_qty"])) if "level_qty" in liq_doc else None,
        depth_notional=Decimal(str(liq_doc.get("depth_notional", "1000000"))),
        participation=Decimal(str(liq_doc["participation"]))
        if "participation" in liq_doc
        else None,
    )
    fees = doc.get("fees", {})
    maker = Decimal(str(args.maker_fee or fees.get("maker", "0.001")))
    taker = Decimal(str(args.taker_fee or fees.get("taker", "0.001")))
    balances = dict(DEFAULT_BALANCES)
    for item in args.balance:
        asset, _, amount = item.partition("=")
        balances[asset.strip().upper()] = amount.strip()
    accounts = [
        Account(
            name="main",
            api_key=args.api_key,
            secret=args.secret,
            balances={k: Decimal(str(v)) for k, v in balances.items()},
        )
    ]
    for extra in doc.get("accounts", []):
        accounts.append(
            Account(
                name=extra["name"],
                api_key=extra["api_key"],
                secret=extra["secret"],
                balances={k: Decimal(str(v)) for k, v in extra.get("balances", {}).items()},
            )
        )
    return SimConfig(
        specs=specs,
        path=path,
        accounts=accounts,
        liquidity=liquidity,
        maker_rate=maker,
        taker_rate=taker,
        weight_limit=args.weight_limit,
        weight_window_s=args.weight_window,
        ban_after=args.ban_after,
        ban_seconds=args.ban_seconds,
        auto_advance_s=args.auto_advance,
    )


async def serve(config: SimConfig, host: str, port: int) -> None:
    venue = Venue(config)
    app = build_app(venue)
    runner = web.AppRunner(app, handle_signals=False, access_log=None)
    await runner.setup()
    site = web.TCPSite(runner, host, port, shutdown_timeout=2.0)
    await site.start()
    server = site._server
    assert server is not None
    bound = server.sockets[0].getsockname()[1]  # type: ignore[attr-defined]
    stop = asyncio.Event()
    loop = asyncio.get_running_loop()
    for sig in (signal.SIGTERM, signal.SIGINT):
        loop.add_signal_handler(sig, stop.set)
    print(
        json.dumps(
            {
                "event": "ready",
                "port": bound,
                "base_url": f"http://{host}:{bound}",
                "ws_url": f"ws://{host}:{bound}",
                "pid": os.getpid(),
                "symbols": [s.unified for s in config.specs],
            }
        ),
        flush=True,
    )
    await stop.wait()
    await venue.close_sockets("all")  # close frames (1001) before the server goes away
    await runner.cleanup()
    print(json.dumps({"event": "stopped"}), flush=True)


def main(argv: Sequence[str] | None = None) -> int:
    args = _parser().parse_args(argv)
    logging.basicConfig(level=args.log_level.upper(), stream=sys.stderr)
    if not ipaddress.ip_address(args.host).is_loopback:
        raise SystemExit(f"--host {args.host}: rbt-venue-sim binds loopback addresses only")
    config = build_config(args)
    asyncio.run(serve(config, args.host, args.port))
    return 0


if __name__ == "__main__":
    sys.exit(main())
