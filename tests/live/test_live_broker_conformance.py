"""The kit's live-broker cases (TC-L01..L06) against the paper broker and its store."""

from __future__ import annotations

from pathlib import Path

from rbt.kernel.registry import Provider
from rbt.testing.live_broker import LiveBrokerConformance, LiveVenueHarness, PaperVenueHarness


class TestPaperBrokerLive(LiveBrokerConformance):
    builtins = ("rbt.plugins.live",)
    provider = "paper"

    def venue_harness(self, record: Provider, tmp_path: Path) -> LiveVenueHarness:
        return PaperVenueHarness(record, tmp_path)
