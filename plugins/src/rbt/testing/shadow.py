"""Conformance cases for shadow-trading checks (TC-SC..).

Subclass and name your provider::

    from rbt.testing.shadow import ShadowCheckConformance

    class TestMyCheck(ShadowCheckConformance):
        provider = "mine.latency_gap"

The contract (:class:`rbt.shadow.checks.ShadowCheck`): the factory takes the shadow
engine's :class:`~rbt.shadow.engine.ShadowSettings` and builds an object with a ``name``
and ``observe(observation) -> measurements`` where

* TC-SC00: the factory builds a check with a non-empty ``name``;
* TC-SC01: an empty observation is measured without an error;
* TC-SC02: any well-formed stream of observations is measured without an error, into
  :class:`~rbt.shadow.checks.Measurement` objects with a finite value or None, a
  non-negative sample count and JSON-serializable details;
* TC-SC03: deterministic: fresh instances fed the same stream measure the same;
* TC-SC04: when live does exactly what the shadow does, no measurement asks for a
  ``trip``;
* TC-SC05 (capability ``breaker``): measurements far beyond every threshold, on many
  samples, make it return one ``trip`` with a ``reason`` — once, not at every
  observation.
"""

from __future__ import annotations

import json
import math
from collections.abc import Sequence
from decimal import Decimal
from typing import Any, ClassVar

import attrs
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from rbt.kernel.registry import Provider, ProviderKind
from rbt.shadow.breaker import default_thresholds
from rbt.shadow.checks import Measurement, Observation, ShadowCheck
from rbt.shadow.engine import ShadowSettings
from rbt.shadow.records import OrderRecord, Side
from rbt.testing._base import ProviderConformance
from rbt.testing.capabilities import requires

__all__ = ["BREAKER", "ShadowCheckConformance", "mirrored_stream"]

#: Capability of checks that halt trading (run last, after the others).
BREAKER = "breaker"

_SETTINGS = settings(
    max_examples=30,
    deadline=None,
    suppress_health_check=[HealthCheck.function_scoped_fixture, HealthCheck.differing_executors],
)


@attrs.frozen
class _Decision:
    sid: int
    amount: int
    price_ticks: int
    fills: bool


_decisions = st.lists(
    st.lists(
        st.builds(
            _Decision,
            sid=st.integers(1, 4),
            amount=st.integers(-500, 500).filter(lambda a: a != 0),
            price_ticks=st.integers(100, 100_000),
            fills=st.booleans(),
        ),
        max_size=4,
    ),
    min_size=1,
    max_size=30,
)


def _record(side: Side, n: int, bar: int, d: _Decision, closed: bool) -> OrderRecord:
    price = Decimal(d.price_ticks) / 100
    filled = Decimal(d.amount) if closed and d.fills else Decimal(0)
    return OrderRecord(
        side=side,
        id=f"{side.value}-{n}",
        sid=d.sid,
        symbol=f"S{d.sid}",
        amount=Decimal(d.amount),
        created=bar * 1_000,
        bar=bar,
        order_type="market",
        status=("filled" if d.fills else "cancelled") if closed else "accepted",
        filled=filled,
        avg_price=price if filled else None,
        commission=Decimal("0.01") * abs(filled),
        ref_price=price if filled else None,
        volume_share=0.01 if filled else None,
        closed_bar=bar + 1 if closed else None,
    )


def mirrored_stream(bars: Sequence[Sequence[_Decision]]) -> list[Observation]:
    """Observations where live and the shadow decide and execute exactly alike: the
    orders decided on bar *b* are done (filled, or cancelled unfilled) on bar *b + 1*."""
    observations = []
    previous: list[tuple[int, _Decision]] = []
    n = 0
    records: dict[tuple[Side, str], OrderRecord] = {}
    for bar, decisions in enumerate([*bars, []]):
        new_live: list[OrderRecord] = []
        new_shadow: list[OrderRecord] = []
        closed_live: list[OrderRecord] = []
        closed_shadow: list[OrderRecord] = []
        for k, d in previous:
            for side, out in ((Side.LIVE, closed_live), (Side.SHADOW, closed_shadow)):
                record = _record(side, k, bar - 1, d, closed=True)
                records[(side, record.id)] = record
                out.append(record)
        previous = []
        for d in decisions:
            n += 1
            for side, out in ((Side.LIVE, new_live), (Side.SHADOW, new_shadow)):
                record = _record(side, n, bar, d, closed=False)
                records.setdefault((side, record.id), record)
                out.append(record)
            previous.append((n, d))

        def lookup(side: Side, order_id: str) -> OrderRecord:
            return records[(side, order_id)]

        observations.append(
            Observation(
                ts=(bar + 1) * 1_000,
                bar=bar + 1,
                live_new=tuple(new_live),
                live_closed=tuple(closed_live),
                shadow_new=tuple(new_shadow),
                shadow_closed=tuple(closed_shadow),
                lookup=lookup,
            )
        )
    return observations


def _run(check: ShadowCheck, observations: Sequence[Observation]) -> list[Measurement]:
    out: list[Measurement] = []
    for observation in observations:
        found = check.observe(observation)
        for measurement in found:
            assert isinstance(measurement, Measurement), (
                f"observe must return Measurement objects, got {measurement!r}"
            )
            if measurement.value is not None:
                assert math.isfinite(measurement.value), f"value of {measurement!r} is not finite"
            assert measurement.samples >= 0, f"negative sample count in {measurement!r}"
            json.dumps(dict(measurement.details), default=str)
        observation.measurements.extend(found)
        out.extend(found)
    return out


def _fresh(bars: Sequence[Sequence[_Decision]]) -> list[Observation]:
    return mirrored_stream(bars)


class ShadowCheckConformance(ProviderConformance):
    """Conformance cases every shadow check passes (TC-SC..)."""

    kind: ClassVar[ProviderKind] = ProviderKind.SHADOW_CHECK
    #: the run mode whose default thresholds the settings carry
    mode: ClassVar[str] = "paper"

    @classmethod
    def settings(cls) -> ShadowSettings:
        """The settings handed to the factory."""
        return ShadowSettings(cls.mode, default_thresholds(cls.mode), 0, cls.provider_kwargs)

    @classmethod
    def make(cls, record: Provider) -> Any:
        return record.create(cls.settings())

    def test_tc_sc00_builds_a_named_check(self, rbt_provider_record: Provider) -> None:
        """TC-SC00: an object with a non-empty ``name`` and ``observe``."""
        check = self.make(rbt_provider_record)
        assert isinstance(check, ShadowCheck), f"{check!r} has no name/observe"
        assert isinstance(check.name, str), f"name must be text, got {check.name!r}"
        assert check.name, "name must not be empty"

    def test_tc_sc01_empty_observation(self, rbt_provider_record: Provider) -> None:
        """TC-SC01: nothing new is measured without an error."""
        _run(self.make(rbt_provider_record), [Observation(ts=1, bar=1)])

    @_SETTINGS
    @given(bars=_decisions)
    def test_tc_sc02_well_formed_measurements(
        self, rbt_provider_record: Provider, bars: list[list[_Decision]]
    ) -> None:
        """TC-SC02: finite values or None, samples >= 0, JSON details."""
        _run(self.make(rbt_provider_record), _fresh(bars))

    @_SETTINGS
    @given(bars=_decisions)
    def test_tc_sc03_deterministic(
        self, rbt_provider_record: Provider, bars: list[list[_Decision]]
    ) -> None:
        """TC-SC03: equal streams, equal measurements, from fresh instances."""
        first = _run(self.make(rbt_provider_record), _fresh(bars))
        second = _run(self.make(rbt_provider_record), _fresh(bars))
        assert [(m.metric, m.value, m.samples) for m in first] == [
            (m.metric, m.value, m.samples) for m in second
        ]

    @_SETTINGS
    @given(bars=_decisions)
    def test_tc_sc04_no_trip_when_live_mirrors_the_shadow(
        self, rbt_provider_record: Provider, bars: list[list[_Decision]]
    ) -> None:
        """TC-SC04: identical decisions and executions never trip."""
        found = _run(self.make(rbt_provider_record), _fresh(bars))
        assert not [m for m in found if m.metric == "trip"], "tripped on identical streams"

    @requires(BREAKER)
    def test_tc_sc05_breaker_trips_once(self, rbt_provider_record: Provider) -> None:
        """TC-SC05: far beyond every threshold → one ``trip`` with a reason."""
        check = self.make(rbt_provider_record)
        bad = [
            Measurement(check="kit", metric="match_rate", value=0.0, samples=10_000),
            Measurement(check="kit", metric="slippage_error_bps", value=1e6, samples=10_000),
            Measurement(check="kit", metric="fill_rate_error", value=1.0, samples=10_000),
        ]
        trips: list[Measurement] = []
        for bar in range(1, 4):
            observation = Observation(ts=bar, bar=bar)
            observation.measurements.extend(bad)
            trips.extend(m for m in _run(check, [observation]) if m.metric == "trip")
        assert len(trips) == 1, f"expected one trip, got {len(trips)}"
        assert str(trips[0].details.get("reason", "")), "a trip must say why (details.reason)"
