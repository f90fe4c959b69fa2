"""Every name of ``zipline.api`` is importable from ``rbt.api``; unsupported ones are loud."""

from __future__ import annotations

import types

import pytest

import rbt.api
from rbt.api import UnsupportedZiplineAPI, run_backtest
from rbt.api.algorithm import FunctionStrategy
from rbt.api.unsupported import ALTERNATIVES, _StandIn

zipline_api = pytest.importorskip("zipline.api")
ZIPLINE_NAMES = sorted(zipline_api.__all__)


@pytest.mark.parametrize("name", ZIPLINE_NAMES)
def test_every_zipline_api_name_is_importable(name: str) -> None:
    assert hasattr(rbt.api, name), f"rbt.api lacks Zipline's {name}"


UNSUPPORTED = sorted(n for n in ZIPLINE_NAMES if isinstance(getattr(rbt.api, n), _StandIn))


def test_the_unsupported_set_is_what_the_migration_guide_lists() -> None:
    from pathlib import Path

    guide = (Path(__file__).parents[2] / "docs" / "migrating-from-zipline.md").read_text()
    for name in UNSUPPORTED:
        assert f"`{name}`" in guide, f"docs/migrating-from-zipline.md does not mention {name}"
    assert "fetch_csv" in UNSUPPORTED
    assert "set_symbol_lookup_date" in UNSUPPORTED
    assert "continuous_future" in UNSUPPORTED


@pytest.mark.parametrize("name", UNSUPPORTED)
def test_an_unsupported_call_raises_naming_the_alternative(name: str) -> None:
    stand_in = getattr(rbt.api, name)
    with pytest.raises(UnsupportedZiplineAPI, match=name) as info:
        stand_in("anything")
    assert ALTERNATIVES[name] in str(info.value)
    assert isinstance(info.value, NotImplementedError)
    with pytest.raises(UnsupportedZiplineAPI):
        stand_in.some_attribute  # noqa: B018 - a module/constant stand-in is loud too


def test_zipline_finance_names_map_to_rbt_finance() -> None:
    from rbt.finance import commission, slippage

    assert rbt.api.commission is commission
    assert rbt.api.slippage is slippage
    assert isinstance(rbt.api.execution, types.ModuleType)
    assert rbt.api.FixedBasisPointsSlippage is slippage.FixedBasisPointsSlippage
    assert rbt.api.VolumeShareSlippage is slippage.VolumeShareSlippage


def test_an_unsupported_call_inside_a_run_stops_it(tmp_path, run_bars) -> None:  # type: ignore[no-untyped-def]
    def initialize(context):  # type: ignore[no-untyped-def]
        rbt.api.fetch_csv("https://example.com/data.csv", symbol="X")

    strategy = FunctionStrategy(initialize, None, None, None)
    with pytest.raises(UnsupportedZiplineAPI, match=r"fetch_csv.*rbt ingest csv"):
        run_backtest(
            strategy, start=run_bars[1][0], end=run_bars[1][-1], bars=run_bars[0], write=False
        )
