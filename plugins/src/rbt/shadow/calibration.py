"""Calibration: slippage and fee parameters that would have matched the live fills.

Input: the run's paired fills (``execution`` rows of ``alignment_metrics``). For each
live execution with a known reference price ``r`` (the fill model's base price on the
bar it filled: the close for ``next_close``, the open for ``next_open``), volume share
``s`` (filled quantity / the bar's volume), side ``d`` (+1 buy, −1 sell), average price
``p``, quantity ``q`` and commission ``c``:

* observed slippage ``y = d (p − r) / r``;
* slippage models fitted by weighted least squares (weights: notional ``q p``), each in
  closed form for its one parameter:

  - ``fixed_bps``: ``y = b``  →  ``b = Σ w y / Σ w``  (``basis_points``);
  - ``volume_share``: ``y = k s²``  →  ``k = Σ w s² y / Σ w s⁴``  (``price_impact``);
  - ``volume_impact``: ``y = k √s``  →  ``k = Σ w s y / Σ w s``  (``coefficient``);

* fee models, the same way on ``c``: ``per_dollar`` (``c = f q p``), ``per_share``
  (``c = f q``), ``per_trade`` (``c = f``).

Each candidate reports its parameter, its weighted RMS error (bps of notional) and the
error the shadow's current model makes on the same fills; the suggestion is the
candidate with the smallest error. The fit needs at least ``min_fills`` live executions.
"""

from __future__ import annotations

import math
from collections.abc import Iterable, Mapping
from decimal import Decimal
from typing import Any

import attrs

from rbt.kernel.errors import RbtError

__all__ = ["Calibration", "CalibrationError", "Candidate", "calibrate", "calibrate_run"]


class CalibrationError(RbtError):
    """Not enough usable live fills to fit anything."""


@attrs.frozen(kw_only=True)
class Candidate:
    """One fitted model: provider name, parameters, weighted RMS error in bps."""

    kind: str
    provider: str
    params: Mapping[str, str]
    rmse_bps: float

    def to_json(self) -> dict[str, Any]:
        return {
            "kind": self.kind,
            "provider": self.provider,
            "params": dict(self.params),
            "rmse_bps": self.rmse_bps,
        }


@attrs.frozen(kw_only=True)
class Calibration:
    """Fitted candidates and the best of each kind."""

    fills: int
    slippage: tuple[Candidate, ...]
    fees: tuple[Candidate, ...]
    current_slippage_rmse_bps: float
    current_fee_rmse_bps: float

    @property
    def best_slippage(self) -> Candidate:
        return min(self.slippage, key=lambda c: c.rmse_bps)

    @property
    def best_fee(self) -> Candidate:
        return min(self.fees, key=lambda c: c.rmse_bps)

    def to_json(self) -> dict[str, Any]:
        return {
            "fills": self.fills,
            "suggested": {"slippage": self.best_slippage.to_json(), "fee": self.best_fee.to_json()},
            "slippage": [c.to_json() for c in self.slippage],
            "fees": [c.to_json() for c in self.fees],
            "current": {
                "slippage_rmse_bps": self.current_slippage_rmse_bps,
                "fee_rmse_bps": self.current_fee_rmse_bps,
            },
        }


@attrs.frozen
class _Obs:
    y: float  # observed slippage, fraction
    y_shadow: float | None  # the shadow's slippage on the same bar, fraction
    share: float
    qty: float
    notional: float
    commission: float
    shadow_fee_rate: float | None  # shadow commission / notional


def _observations(samples: Iterable[Mapping[str, Any]]) -> list[_Obs]:
    out = []
    for sample in samples:
        live, shadow = sample.get("live") or {}, sample.get("shadow") or {}
        filled, avg, ref = live.get("filled"), live.get("avg_price"), live.get("ref_price")
        if not filled or avg is None or ref is None or Decimal(filled) == 0:
            continue
        price, reference = Decimal(avg), Decimal(ref)
        if reference <= 0:
            continue
        direction = 1 if Decimal(filled) > 0 else -1
        qty = abs(Decimal(filled))
        y_shadow = None
        s_avg, s_ref, s_qty = shadow.get("avg_price"), shadow.get("ref_price"), shadow.get("filled")
        fee_rate = None
        if s_avg is not None and s_ref is not None and s_qty and Decimal(s_qty) != 0:
            y_shadow = float(direction * (Decimal(s_avg) - Decimal(s_ref)) / Decimal(s_ref))
            s_notional = abs(Decimal(s_qty)) * Decimal(s_avg)
            if s_notional:
                fee_rate = float(Decimal(shadow.get("commission", "0")) / s_notional)
        out.append(
            _Obs(
                y=float(direction * (price - reference) / reference),
                y_shadow=y_shadow,
                share=float(live.get("volume_share") or 0.0),
                qty=float(qty),
                notional=float(qty * price),
                commission=float(Decimal(live.get("commission", "0"))),
                shadow_fee_rate=fee_rate,
            )
        )
    return out


def _fit(obs: list[_Obs], x_of: Any) -> tuple[float, float]:
    """Weighted least squares of y = k·x through the origin; (k, RMS error in bps)."""
    sxx = sum(o.notional * x_of(o) ** 2 for o in obs)
    sxy = sum(o.notional * x_of(o) * o.y for o in obs)
    k = sxy / sxx if sxx > 0 else 0.0
    return k, _rmse(obs, [k * x_of(o) for o in obs], lambda o: o.y)


def _rmse(obs: list[_Obs], predicted: list[float], target: Any) -> float:
    weight = sum(o.notional for o in obs)
    if weight <= 0:
        return math.inf
    sse = sum(o.notional * (target(o) - p) ** 2 for o, p in zip(obs, predicted, strict=True))
    return math.sqrt(sse / weight) * 1e4


def _num(value: float, digits: int = 6) -> str:
    return f"{value:.{digits}g}"


def calibrate(samples: Iterable[Mapping[str, Any]], min_fills: int = 5) -> Calibration:
    """Fit slippage and fee models to paired fills (``ExecutionSample.to_json()`` dicts).

    :raises CalibrationError: fewer than ``min_fills`` live executions with a reference
        price.
    """
    obs = _observations(samples)
    if len(obs) < min_fills:
        raise CalibrationError(
            f"calibration needs at least {min_fills} live fills with a reference price; "
            f"found {len(obs)}"
        )
    slippage = []
    b, err = _fit(obs, lambda o: 1.0)
    slippage.append(
        Candidate(kind="slippage", provider="fixed_bps",
                  params={"basis_points": _num(b * 1e4)}, rmse_bps=err)
    )  # fmt: skip
    if any(o.share > 0 for o in obs):
        k, err = _fit(obs, lambda o: o.share**2)
        slippage.append(
            Candidate(kind="slippage", provider="volume_share",
                      params={"price_impact": _num(k)}, rmse_bps=err)
        )  # fmt: skip
        k, err = _fit(obs, lambda o: math.sqrt(o.share))
        slippage.append(
            Candidate(kind="slippage", provider="volume_impact",
                      params={"coefficient": _num(k), "exponent": "0.5"}, rmse_bps=err)
        )  # fmt: skip
    fees = []
    weight = sum(o.notional for o in obs)
    rate = sum(o.commission for o in obs) / weight if weight else 0.0
    fees.append(_fee(obs, "per_dollar", {"cost": _num(rate)}, [rate * o.notional for o in obs]))
    shares = sum(o.qty for o in obs)
    per_share = sum(o.commission for o in obs) / shares if shares else 0.0
    fees.append(_fee(obs, "per_share", {"cost": _num(per_share)}, [per_share * o.qty for o in obs]))
    flat = sum(o.commission for o in obs) / len(obs)
    fees.append(_fee(obs, "per_trade", {"cost": _num(flat)}, [flat for _ in obs]))
    with_shadow = [o for o in obs if o.y_shadow is not None]
    current = (
        _rmse(with_shadow, [o.y_shadow or 0.0 for o in with_shadow], lambda o: o.y)
        if with_shadow
        else math.nan
    )
    with_fee = [o for o in obs if o.shadow_fee_rate is not None]
    current_fee = (
        _fee(
            with_fee, "current", {}, [(o.shadow_fee_rate or 0.0) * o.notional for o in with_fee]
        ).rmse_bps
        if with_fee
        else math.nan
    )
    return Calibration(
        fills=len(obs),
        slippage=tuple(slippage),
        fees=tuple(fees),
        current_slippage_rmse_bps=current,
        current_fee_rmse_bps=current_fee,
    )


def _fee(obs: list[_Obs], provider: str, params: dict[str, str], fitted: list[float]) -> Candidate:
    """Fee error in bps of notional, weighted by notional."""
    weight = sum(o.notional for o in obs)
    sse = sum(
        (o.commission - f) ** 2 / o.notional for o, f in zip(obs, fitted, strict=True) if o.notional
    )
    return Candidate(
        kind="fee",
        provider=provider,
        params=params,
        rmse_bps=math.sqrt(sse / weight) * 1e4 if weight else math.inf,
    )


def calibrate_run(db: Any, run_id: str, min_fills: int = 5) -> Calibration:
    """:func:`calibrate` on the paired fills stored for ``run_id``."""
    from rbt.shadow.store import load_rows

    rows = load_rows(db, run_id, "execution")
    if not rows:
        raise CalibrationError(f"run {run_id!r} has no paired fills (was the shadow on?)")
    return calibrate([row["details"] for row in rows], min_fills)
