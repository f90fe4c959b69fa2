"""Run a strategy live through ``ccxt.binance`` against a sandbox venue (the end-to-end
and kill tests start it as a subprocess and may SIGKILL it).

    RBT_SIM_API_KEY=... RBT_SIM_SECRET=... python -m rbt_ccxt.liverun HOME STRATEGY \\
        --rest URL --symbols BTC/USDT --start 2026-01-01 --until NS [--policy halt]

It composes what ``rbt live --broker ccxt.binance --sandbox`` composes: the ccxt bar
stream as the feed, the ``ccxt.binance`` provider as the broker, a sandbox endpoint with
the credentials as :class:`~rbt.kernel.secrets.Secret`. Prints one JSON line at the end.
"""

from __future__ import annotations

import argparse
import asyncio
import json
import os
import sys
from pathlib import Path

from rbt.kernel.broker import VenueEndpoint
from rbt.kernel.secrets import Secret
from rbt.live.engine import LiveRun
from rbt_ccxt.feed import CcxtBarStream


def main(argv: list[str]) -> int:
    p = argparse.ArgumentParser()
    p.add_argument("home")
    p.add_argument("strategy")
    p.add_argument("--rest", required=True)
    p.add_argument("--symbols", default="BTC/USDT")
    p.add_argument("--start", required=True)
    p.add_argument("--until", type=int, required=True)
    p.add_argument("--capital", default="100000")
    p.add_argument("--policy", default="halt")
    p.add_argument("--grace", type=float, default=0.5)
    args = p.parse_args(argv)
    endpoint = VenueEndpoint(
        mode="sandbox",
        urls={"rest": args.rest},
        credentials={
            "apiKey": Secret(os.environ["RBT_SIM_API_KEY"]),
            "secret": Secret(os.environ["RBT_SIM_SECRET"]),
        },
    )
    symbols = args.symbols.split(",")
    feed = CcxtBarStream(
        endpoint, symbols=symbols, interval="1m", grace=args.grace, until=args.until
    )
    run = LiveRun(
        Path(args.strategy),
        feed=feed,
        broker="ccxt.binance",
        endpoint=endpoint,
        home=args.home,
        capital_base=args.capital,
        commission="none",
        slippage="none",
        start=args.start,
        policy=args.policy,
    )
    result_error = ""
    try:
        asyncio.run(run.run())
    except ValueError as exc:  # building the result frames (not the trading) failed
        result_error = f"{type(exc).__name__}: {exc}"
    finally:
        run.close()
    print(
        json.dumps(
            {
                "event": "done",
                "run_id": run.run_id,
                "final_value": str(run.value()),
                "trading_state": run.session.trading_state,
                "reason": run.session.state_reason,
                "result_error": result_error,
                "fills": [
                    {
                        "id": f.id,
                        "order": f.order_id,
                        "amount": str(f.amount),
                        "price": str(f.price),
                        "commission": str(f.commission),
                    }
                    for f in run.session.fills
                ],
                "positions": {
                    a.symbol: str(run.ledger.position_amount(a)) for a in run.assets.values()
                },
                "cash": str(run.ledger.cash),
            }
        ),
        flush=True,
    )
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
