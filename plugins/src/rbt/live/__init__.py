"""Live and paper trading on the same kernel session (design.md §2.5).

* :mod:`rbt.live.feed` — the streaming feed protocol and the bundle replay feed;
* :mod:`rbt.live.paper` — the paper broker (the backtest's fill, slippage and
  commission models, its own venue-side SQLite store, configurable latency);
* :mod:`rbt.live.journal` — the engine's persistence (orders, fills, hash-chained
  audit log, positions, strategy state, kill switch), save-before-send;
* :mod:`rbt.live.risk` — kill switch states and breakers (a plain registry);
* :mod:`rbt.live.engine` — the asyncio engine driving :class:`rbt.kernel.session.Session`
  and :class:`rbt.api.engine.Engine` from a :class:`rbt.kernel.realtime.RealtimeClock`.
"""
