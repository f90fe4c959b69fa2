"""Hook implementations of rbt-venue-sim: the ``rbt sandbox`` command.

This module is the ``rbt.plugins`` entry point ``sandbox``: rbt finds it like any
third-party plugin's. It imports only the kernel; :mod:`rbt_venue_sim.cli` (Typer, the
launcher) is imported when ``rbt sandbox`` runs.
"""

from __future__ import annotations

from collections.abc import Iterator

from rbt.kernel import hookimpl
from rbt.kernel.registry import Provider, ProviderKind

__all__ = ["rbt_register_commands"]


@hookimpl
def rbt_register_commands() -> Iterator[Provider]:
    """Register ``rbt sandbox``."""
    yield Provider(
        kind=ProviderKind.COMMAND,
        name="sandbox",
        factory="rbt_venue_sim.cli:app",
        summary="run the local venue simulator for `rbt live --sandbox` until Ctrl-C",
    )
