"""Live and paper trading on the same kernel session (design.md §2.5).

* :mod:`rbt.live.feed` — the streaming feed protocol and the bundle replay feed;
* :mod:`rbt.live.stream` — a streaming feed's bars grow the portal and drive the clock;
* :mod:`rbt.live.paper` — the paper broker (the backtest's fill, slippage and
  commission models, its own venue-side SQLite store, configurable latency);
* :mod:`rbt.live.journal` — the engine's persistence (orders, fills, hash-chained
  audit log, positions, strategy state, kill switch), save-before-send;
* :mod:`rbt.live.risk` — kill switch states and breakers (a plain registry);
* :mod:`rbt.live.engine` — :class:`~rbt.live.engine.LiveRun`, the asyncio engine driving
  :class:`rbt.kernel.session.Session` and :class:`rbt.api.engine.Engine` with the feed and
  broker injected (:class:`~rbt.live.engine.PaperRun`: paper over a replay);
* :mod:`rbt.live.reconcile` — journal restore and reconciliation with the venue
  (policies halt, adopt, flatten);
* :mod:`rbt.live.observers` — observers of a live run (shadow trading builds on them);
* :mod:`rbt.live.compose` — ``rbt live``'s composition from plugin names and an endpoint.
"""
