"""Market data: RBT home, asset database, Parquet bundles, in-memory bar arrays."""
