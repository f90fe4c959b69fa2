"""The kit's broker cases (TC-B00..B08) run against the paper broker.

New live-broker cases (unknown outcome, reconnect, reconciliation) are not in the kit yet.
"""

from __future__ import annotations

import os
import tempfile
from pathlib import Path
from typing import Any

from rbt.finance.commission import PerShare
from rbt.finance.slippage import FixedBasisPointsSlippage
from rbt.kernel.registry import Provider
from rbt.live.paper import VenueStore
from rbt.testing import BrokerConformance


class TestPaperBroker(BrokerConformance):
    builtins = ("rbt.plugins.live",)
    provider = "paper"

    def make_broker(self, record: Provider, portal: Any) -> Any:
        store = VenueStore(
            Path(tempfile.mkdtemp(prefix="rbt-venue-", dir=os.environ.get("RBT_HOME")))
            / "venue.sqlite"
        )
        return record.create(
            portal,
            commission=PerShare(),
            slippage=FixedBasisPointsSlippage(),
            store=store,
            latency_ns=0,
        )
