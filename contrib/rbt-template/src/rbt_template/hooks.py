"""Hook implementations: everything the kernel imports at discovery time.

This module is the entry point (``[project.entry-points."rbt.plugins"] template =
"rbt_template.hooks"``). It must stay cheap to import: it imports only the kernel
and names its classes as lazy ``"module:attr"`` factories, so listing plugins
(``rbt plugins``) never imports :mod:`rbt_template.commission` — or, in a real
adapter, a vendor SDK. The kit's packaging check TC-P02 measures it.

Provider names start with the entry-point name and a dot (``template.``); the
manager refuses anything else.
"""

from __future__ import annotations

from collections.abc import Iterator

from rbt.kernel import hookimpl
from rbt.kernel.registry import Provider, ProviderKind

__all__ = ["rbt_register_commission_models"]


@hookimpl
def rbt_register_commission_models() -> Iterator[Provider]:
    """Register ``template.bps_with_minimum``."""
    yield Provider(
        kind=ProviderKind.COMMISSION_MODEL,
        name="template.bps_with_minimum",
        factory="rbt_template.commission:BpsWithMinimum",
        summary="basis points of notional, rounded half-up to the cent, with a per-order minimum",
    )
