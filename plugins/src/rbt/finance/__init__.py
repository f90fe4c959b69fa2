"""Zipline-compatible finance models: ``rbt.finance.commission`` and ``rbt.finance.slippage``."""
