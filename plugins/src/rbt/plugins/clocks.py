"""Built-in clocks: the simulated clock over a trading calendar."""

from __future__ import annotations

from collections.abc import Iterator

from rbt.kernel import hookimpl
from rbt.kernel.registry import Provider, ProviderKind


@hookimpl
def rbt_register_clocks() -> Iterator[Provider]:
    """Register the simulated clock."""
    yield Provider(
        kind=ProviderKind.CLOCK,
        name="sim",
        factory="rbt.kernel.clock:SimClock",
        summary="walks a trading calendar's sessions and bars (backtests)",
    )
