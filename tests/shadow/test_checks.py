"""The checks as pure logic over order streams: classification, windows, formulas."""

from __future__ import annotations

from decimal import Decimal

import pytest
from hypothesis import example, given, settings
from hypothesis import strategies as st

from rbt.kernel.errors import ConfigError
from rbt.shadow.breaker import AlignmentBreaker, Thresholds, default_thresholds
from rbt.shadow.checks import (
    ExecutionQuality,
    MatchKind,
    Measurement,
    Observation,
    SignalAlignment,
    sample_of,
)
from rbt.shadow.records import OrderRecord, Side
from rbt.testing.shadow import ShadowCheckConformance, mirrored_stream


def rec(side: Side, oid: str, sid: int, amount: str, bar: int, **kw: object) -> OrderRecord:
    return OrderRecord(
        side=side,
        id=oid,
        sid=sid,
        symbol=f"S{sid}",
        amount=Decimal(amount),
        created=bar,
        bar=bar,
        order_type=str(kw.pop("order_type", "market")),
        **kw,  # type: ignore[arg-type]
    )


def L(oid: str, sid: int, amount: str, bar: int, **kw: object) -> OrderRecord:
    return rec(Side.LIVE, oid, sid, amount, bar, **kw)


def S(oid: str, sid: int, amount: str, bar: int, **kw: object) -> OrderRecord:
    return rec(Side.SHADOW, oid, sid, amount, bar, **kw)


def classify(check: SignalAlignment, *steps: Observation) -> list[MatchKind]:
    out = []
    for obs in steps:
        check.observe(obs)
        out.extend(m.kind for m in obs.matches)
    return out


def test_classification_of_pairs_and_lone_orders() -> None:
    check = SignalAlignment(magnitude_tolerance=0.1)
    obs = Observation(
        ts=1,
        bar=1,
        live_new=(
            L("l1", 1, "100", 1),  # exact
            L("l2", 2, "105", 1),  # direction: 5 % off
            L("l3", 3, "300", 1),  # magnitude
            L("l4", 4, "50", 1, order_type="limit", limit_price=Decimal("9.9")),  # direction
            L("l5", 5, "10", 1),  # live only
            L("l6", 6, "-10", 1),  # opposite side: live only + shadow only
        ),
        shadow_new=(
            S("s1", 1, "100", 1),
            S("s2", 2, "100", 1),
            S("s3", 3, "100", 1),
            S("s4", 4, "50", 1),
            S("s6", 6, "10", 1),
            S("s7", 7, "-20", 1),  # shadow only
        ),
    )
    kinds = classify(check, obs)
    assert sorted(k.value for k in kinds) == sorted(
        ["exact", "direction", "magnitude", "direction", "live_only", "live_only",
         "shadow_only", "shadow_only"]
    )  # fmt: skip
    assert check.counts == {
        "exact": 1,
        "direction": 2,
        "magnitude": 1,
        "live_only": 2,
        "shadow_only": 2,
    }
    assert check.observe(Observation(ts=2, bar=2)) == ()  # nothing new: no measurement


def test_match_rate_value_and_mismatched_orders() -> None:
    check = SignalAlignment()
    obs = Observation(
        ts=1,
        bar=1,
        live_new=(L("a", 1, "1", 1), L("b", 2, "1", 1)),
        shadow_new=(S("x", 1, "1", 1),),
    )
    (m,) = check.observe(obs)
    assert m.metric == "match_rate"
    assert m.value == 0.5
    assert m.samples == 2
    assert m.details["mismatched_orders"] == [
        {"kind": "live_only", "live": "b", "shadow": None, "symbol": "S2"}
    ]


def test_time_window_pairs_across_bars() -> None:
    same_bar = SignalAlignment(window_bars=0)
    wide = SignalAlignment(window_bars=1)
    for check, expected in ((same_bar, ["live_only", "shadow_only"]), (wide, ["exact"])):
        kinds = classify(
            check,
            Observation(ts=1, bar=1, live_new=(L("a", 1, "5", 1),)),
            Observation(ts=2, bar=2, shadow_new=(S("x", 1, "5", 2),)),
            Observation(ts=3, bar=3),
        )
        assert sorted(k.value for k in kinds) == expected


def test_lone_order_waits_for_its_window() -> None:
    check = SignalAlignment(window_bars=2)
    assert classify(check, Observation(ts=1, bar=1, live_new=(L("a", 1, "5", 1),))) == []
    assert classify(check, Observation(ts=2, bar=2)) == []
    assert classify(check, Observation(ts=3, bar=3)) == [MatchKind.LIVE_ONLY]


@settings(max_examples=60, deadline=None)
@given(
    live=st.lists(st.tuples(st.integers(1, 3), st.integers(-3, 3).filter(bool)), max_size=12),
    shadow=st.lists(st.tuples(st.integers(1, 3), st.integers(-3, 3).filter(bool)), max_size=12),
)
@example(live=[(2, 1), (2, 2)], shadow=[(2, 2), (2, 1)])  # arrival order alone crossed them
def test_every_order_is_classified_exactly_once(
    live: list[tuple[int, int]], shadow: list[tuple[int, int]]
) -> None:
    check = SignalAlignment()
    obs = Observation(
        ts=1,
        bar=1,
        live_new=tuple(L(f"l{i}", sid, str(a), 1) for i, (sid, a) in enumerate(live)),
        shadow_new=tuple(S(f"s{i}", sid, str(a), 1) for i, (sid, a) in enumerate(shadow)),
    )
    check.observe(obs)
    live_ids = [m.live.id for m in obs.matches if m.live is not None]
    shadow_ids = [m.shadow.id for m in obs.matches if m.shadow is not None]
    assert sorted(live_ids) == sorted(f"l{i}" for i in range(len(live)))
    assert sorted(shadow_ids) == sorted(f"s{i}" for i in range(len(shadow)))
    for m in obs.matches:  # pairs share asset and side
        if m.live is not None and m.shadow is not None:
            assert (m.live.sid, m.live.direction) == (m.shadow.sid, m.shadow.direction)
    if sorted(live) == sorted(shadow):
        assert all(m.kind is MatchKind.EXACT for m in obs.matches)


def done(record: OrderRecord, price: str, filled: str | None = None, **kw: object) -> OrderRecord:
    import attrs

    qty = Decimal(filled) if filled is not None else record.amount
    fields: dict[str, object] = {
        "status": "filled" if qty == record.amount else "cancelled",
        "filled": qty,
        "avg_price": Decimal(price) if qty else None,
        "closed_bar": record.bar + 1,
    }
    fields.update(kw)
    return attrs.evolve(record, **fields)  # type: ignore[arg-type]


def test_slippage_error_is_signed_by_side() -> None:
    buy = sample_of(done(L("a", 1, "10", 1), "101"), done(S("x", 1, "10", 1), "100"), 2)
    sell = sample_of(done(L("b", 1, "-10", 1), "99"), done(S("y", 1, "-10", 1), "100"), 2)
    better = sample_of(done(L("c", 1, "-10", 1), "101"), done(S("z", 1, "-10", 1), "100"), 2)
    assert buy.slippage_bps == pytest.approx(100)  # paid 1 % more
    assert sell.slippage_bps == pytest.approx(100)  # got 1 % less
    assert better.slippage_bps == pytest.approx(-100)
    assert buy.kind == sell.kind == "ok"
    assert buy.fill_rate_error == 0


@settings(max_examples=80, deadline=None)
@given(
    live=st.integers(1, 10**6),
    shadow=st.integers(1, 10**6),
    qty=st.integers(1, 1000),
    side=st.sampled_from([1, -1]),
)
def test_slippage_sign_and_size(live: int, shadow: int, qty: int, side: int) -> None:
    amount = str(qty * side)
    sample = sample_of(
        done(L("a", 1, amount, 1), str(Decimal(live) / 100)),
        done(S("x", 1, amount, 1), str(Decimal(shadow) / 100)),
        2,
    )
    assert sample.slippage_bps is not None
    worse = (live - shadow) * side  # > 0: live paid more on a buy / got less on a sell
    assert (sample.slippage_bps > 0) == (worse > 0)
    assert sample.slippage_bps == pytest.approx(worse / shadow * 1e4)
    assert sample.fill_rate_error == 0


def test_fill_rate_and_commission_errors() -> None:
    partial = sample_of(
        done(L("a", 1, "10", 1), "100", "8", commission=Decimal("0.8")),
        done(S("x", 1, "10", 1), "100", commission=Decimal("0.5")),
        2,
    )
    assert partial.kind == "live_partial"
    assert partial.fill_rate_error == pytest.approx(0.2)
    # 0.8 / 800 - 0.5 / 1000 = 5 bps
    assert partial.commission_error_bps == pytest.approx(5)
    denied = sample_of(
        done(L("b", 1, "5", 1), "1", "0", status="denied"), done(S("y", 1, "5", 1), "1"), 2
    )
    assert denied.kind == "denied"
    assert not denied.counted
    assert denied.fill_rate_error is None


def test_execution_waits_for_both_sides_then_the_grace_period() -> None:
    check = ExecutionQuality(rolling=5, grace_bars=2)
    live, shadow = L("a", 1, "10", 1), S("x", 1, "10", 1)
    signals = SignalAlignment()
    first = Observation(ts=1, bar=1, live_new=(live,), shadow_new=(shadow,))
    signals.observe(first)
    assert check.observe(first) == ()
    filled = done(shadow, "100")

    def lookup(side: Side, oid: str) -> OrderRecord:
        return live if side is Side.LIVE else filled

    assert check.observe(Observation(ts=2, bar=2, shadow_closed=(filled,), lookup=lookup)) == ()
    assert check.observe(Observation(ts=3, bar=3, lookup=lookup)) == ()
    found = check.observe(Observation(ts=4, bar=4, lookup=lookup))
    by_metric = {m.metric: m for m in found}
    assert by_metric["fill_rate_error"].value == 1.0
    assert by_metric["slippage_error_bps"].value is None
    assert check.counts == {"missing_live_fill": 1}


def _measure(metric: str, value: float, samples: int) -> Observation:
    obs = Observation(ts=samples, bar=samples)
    obs.measurements.append(Measurement(check="t", metric=metric, value=value, samples=samples))
    return obs


@pytest.mark.parametrize(
    ("mode", "metric", "ok", "bad"),
    [
        ("paper", "match_rate", 0.99, 0.989),
        ("live", "match_rate", 0.95, 0.949),
        ("paper", "slippage_error_bps", 10.0, 10.01),
        ("live", "slippage_error_bps", -50.0, -50.01),
        ("sandbox", "fill_rate_error", 0.2, 0.2001),
    ],
)
def test_breaker_thresholds_by_mode(mode: str, metric: str, ok: float, bad: float) -> None:
    breaker = AlignmentBreaker(mode=mode)
    assert breaker.observe(_measure(metric, ok, 1000)) == ()
    (trip,) = breaker.observe(_measure(metric, bad, 1000))
    assert trip.metric == "trip"
    assert trip.details["crossed"][0]["metric"] == metric
    assert breaker.observe(_measure(metric, bad, 1001)) == ()  # once
    breaker.reset()
    assert breaker.observe(_measure(metric, bad, 1002)) != ()


def test_breaker_needs_a_minimum_sample() -> None:
    breaker = AlignmentBreaker(Thresholds(min_signals=20, min_fills=5))
    assert breaker.observe(_measure("match_rate", 0.0, 19)) == ()
    assert breaker.observe(_measure("slippage_error_bps", 500.0, 4)) == ()
    assert breaker.observe(_measure("slippage_error_bps", 500.0, 5)) != ()


def test_bad_settings_are_refused_clearly() -> None:
    with pytest.raises(ConfigError, match="match_rate threshold"):
        Thresholds(match_rate=1.5)
    with pytest.raises(ConfigError, match="unknown run mode 'demo'"):
        default_thresholds("demo")
    with pytest.raises(ConfigError, match="window_bars must be an integer >= 0"):
        SignalAlignment(window_bars=-1)
    with pytest.raises(ConfigError, match="magnitude_tolerance"):
        SignalAlignment(magnitude_tolerance=1.5)


def test_mirrored_stream_gives_perfect_metrics() -> None:
    from rbt.testing.shadow import _Decision

    bars = [[_Decision(1, 10, 1000, True), _Decision(2, -5, 2000, True)]] * 12
    checks = [SignalAlignment(), ExecutionQuality()]
    last: dict[str, Measurement] = {}
    for obs in mirrored_stream(bars):
        for check in checks:
            found = check.observe(obs)
            obs.measurements.extend(found)
            last.update({m.metric: m for m in found})
    assert last["match_rate"].value == 1.0
    assert last["slippage_error_bps"].value == 0.0
    assert last["fill_rate_error"].value == 0.0
    assert last["fill_rate_error"].samples == 20


class TestSignalAlignmentConformance(ShadowCheckConformance):
    provider = "signal_alignment"


class TestExecutionQualityConformance(ShadowCheckConformance):
    provider = "execution_quality"


class TestAlignmentBreakerConformance(ShadowCheckConformance):
    provider = "alignment_breaker"
