"""RustyBT adapter for ccxt exchanges (broker, bar feed, OHLCV data source)."""
