"""Scenario 12 (reliability.md §E): an order for a symbol the broker does not trade is
refused before the network; the venue's order counter stays 0."""

from __future__ import annotations

from rbt_ccxt.testing import EventLog, broker_for

from rbt.kernel.model import Asset, AssetClass, OrderStatus


def test_unknown_symbol_is_refused_before_the_network(venue_sim_factory):
    sim = venue_sim_factory(symbols=["BTC/USDT", "ETH/USDT"])
    broker = broker_for(sim, symbols=("BTC/USDT",))
    log = EventLog()
    broker.connect(log)
    sim.clear_requests()
    for symbol in ("DOGE/USDT", "ETH/USDT"):  # unknown at the venue / not traded here
        asset = Asset(sid=77, symbol=symbol, asset_class=AssetClass.CRYPTO)
        order = log.new_order(asset, "1")
        broker.submit(order)
        assert log.order(order.id).status is OrderStatus.REJECTED
        assert log.order(order.id).reason_code == "INSTRUMENT_NOT_FOUND"
    assert [r for r in sim.requests() if r["path"].startswith("/api/v3/order")] == []


def test_a_configured_symbol_the_venue_does_not_list_is_a_clear_error(venue_sim_factory):
    import pytest

    from rbt.kernel.errors import ConfigError

    sim = venue_sim_factory(symbols=["BTC/USDT"])
    broker = broker_for(sim, symbols=("BTC/USDT", "NOPE/USDT"))
    with pytest.raises(ConfigError, match="unknown symbols \\['NOPE/USDT'\\]"):
        broker.instruments()
