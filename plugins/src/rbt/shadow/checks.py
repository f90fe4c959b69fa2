"""Shadow checks: signal alignment and execution quality (design.md §2.6).

A check is any object with a ``name`` and ``observe(observation) -> measurements``
(:class:`ShadowCheck`). The shadow engine calls every check, in order, after each
clock event that both runs have stepped; an :class:`Observation` carries what changed on
either side since the previous one. Checks run in order and share the observation:
:class:`SignalAlignment` appends the order pairs it found to ``observation.matches``,
:class:`ExecutionQuality` reads them; every check's measurements are appended to
``observation.measurements`` before the next check runs, so a breaker placed last sees
them all. A measurement named ``trip`` asks the engine to halt trading.

Signal alignment — the strategy's *decisions*, whatever became of them:

* live and shadow orders are matched by asset, side (buy/sell) and time: their bars
  may differ by at most ``window_bars`` (default 0: the same bar); the earliest
  unmatched orders pair first;
* a pair is ``exact`` when amount, order type and limit/stop prices are equal,
  ``direction`` when only the amount differs by at most ``magnitude_tolerance`` of the
  shadow's amount (default 10 %) or only the style differs, ``magnitude`` beyond that;
  an order still unpaired once its window has passed is ``live_only`` or ``shadow_only``;
* ``match_rate`` = (exact + direction) / all classified signals, over the last
  ``rolling`` classifications (default 100).

Execution quality — what the venue made of matched orders, one *paired fill* per pair
of orders, taken once both stopped working (or ``grace_bars`` after the first one did,
default 2 bars: a live order still working then is a **missing live fill**):

* ``slippage_error_bps`` = side × (live average price − shadow average price) / shadow
  average price × 10 000 (positive: live paid more on a buy or got less on a sell);
* ``fill_rate_error`` = \\|1 − live filled / shadow filled\\| (1 when the shadow filled
  something and live nothing: a rejected or missing live fill);
* ``commission_error_bps`` = live commission / live notional − shadow commission /
  shadow notional, in bps;
* each the mean over the last ``rolling`` paired fills (default 20). Pairs where either
  side was *denied* before reaching a venue (kill switch, risk checks) or where neither
  side filled are reported but not counted.
"""

from __future__ import annotations

import enum
from collections import deque
from collections.abc import Callable, Mapping, Sequence
from decimal import Decimal
from typing import Any, Protocol, runtime_checkable

import attrs

from rbt.kernel.errors import ConfigError
from rbt.kernel.model import OrderStatus
from rbt.shadow.records import OrderRecord, Side

__all__ = [
    "ExecutionQuality",
    "ExecutionSample",
    "MatchKind",
    "Measurement",
    "Observation",
    "ShadowCheck",
    "SignalAlignment",
    "SignalMatch",
]


class MatchKind(enum.Enum):
    """How a live decision compares with the shadow's."""

    EXACT = "exact"
    DIRECTION = "direction"
    MAGNITUDE = "magnitude"
    LIVE_ONLY = "live_only"
    SHADOW_ONLY = "shadow_only"

    @property
    def matched(self) -> bool:
        """Counted as a match in the match rate."""
        return self in (MatchKind.EXACT, MatchKind.DIRECTION)


@attrs.frozen(kw_only=True)
class Measurement:
    """One value a check computed at one observation.

    :param check: the check's name.
    :param metric: what was measured (``match_rate``, ``slippage_error_bps``, ``trip`` ...).
    :param value: the value (None: nothing to measure yet).
    :param samples: how many signals or paired fills it is computed from.
    :param details: JSON-ready context (counts, the orders involved, thresholds).
    """

    check: str
    metric: str
    value: float | None
    samples: int = 0
    details: Mapping[str, Any] = attrs.field(factory=dict)


@attrs.frozen(kw_only=True)
class SignalMatch:
    """A classified decision: a pair of orders, or one side's order alone."""

    kind: MatchKind
    live: OrderRecord | None
    shadow: OrderRecord | None
    bar: int

    def to_json(self) -> dict[str, Any]:
        return {
            "kind": self.kind.value,
            "bar": self.bar,
            "live": None if self.live is None else self.live.to_json(),
            "shadow": None if self.shadow is None else self.shadow.to_json(),
        }


@attrs.frozen(kw_only=True)
class ExecutionSample:
    """One paired fill: what live and the shadow executed for a matched pair of orders."""

    live: OrderRecord
    shadow: OrderRecord
    kind: str
    counted: bool
    slippage_bps: float | None
    fill_rate_error: float | None
    commission_error_bps: float | None
    bar: int

    def to_json(self) -> dict[str, Any]:
        return {
            "kind": self.kind,
            "counted": self.counted,
            "slippage_bps": self.slippage_bps,
            "fill_rate_error": self.fill_rate_error,
            "commission_error_bps": self.commission_error_bps,
            "bar": self.bar,
            "live": self.live.to_json(),
            "shadow": self.shadow.to_json(),
        }


@attrs.define(kw_only=True)
class Observation:
    """What changed on both sides since the previous observation.

    ``lookup(side, order_id)`` gives the current snapshot of any order of either side.
    ``matches``, ``samples`` and ``measurements`` are filled by the checks, in order.
    """

    ts: int
    bar: int
    live_new: tuple[OrderRecord, ...] = ()
    live_closed: tuple[OrderRecord, ...] = ()
    shadow_new: tuple[OrderRecord, ...] = ()
    shadow_closed: tuple[OrderRecord, ...] = ()
    lookup: Callable[[Side, str], OrderRecord] | None = None
    final: bool = False
    matches: list[SignalMatch] = attrs.field(factory=list)
    samples: list[ExecutionSample] = attrs.field(factory=list)
    measurements: list[Measurement] = attrs.field(factory=list)


@runtime_checkable
class ShadowCheck(Protocol):
    """A shadow-trading check (provider kind ``SHADOW_CHECK``).

    ``observe`` must be cheap (it runs after every event), must not raise on any
    well-formed observation, and returns its measurements (possibly none). A measurement
    with ``metric == "trip"`` halts trading; its ``details`` say why.
    """

    name: str

    def observe(self, observation: Observation) -> Sequence[Measurement]:
        """Measure what ``observation`` brings."""
        ...


def _positive_int(value: int, name: str, minimum: int = 0) -> int:
    if not isinstance(value, int) or isinstance(value, bool) or value < minimum:
        raise ConfigError(f"{name} must be an integer >= {minimum}, got {value!r}")
    return value


class SignalAlignment:
    """Match live and shadow orders and keep a rolling match rate (see module docs).

    :param window_bars: largest bar difference of a pair (0: same bar).
    :param magnitude_tolerance: relative amount difference still counted as a match.
    :param rolling: number of latest classifications the match rate covers.
    """

    name = "signal_alignment"

    def __init__(
        self, window_bars: int = 0, magnitude_tolerance: float = 0.1, rolling: int = 100
    ) -> None:
        self.window_bars = _positive_int(window_bars, "window_bars")
        if not 0 <= magnitude_tolerance < 1:
            raise ConfigError(f"magnitude_tolerance must be in [0, 1), got {magnitude_tolerance!r}")
        self.tolerance = Decimal(str(magnitude_tolerance))
        self.rolling = _positive_int(rolling, "rolling", 1)
        self._pending: dict[tuple[int, int], tuple[list[OrderRecord], list[OrderRecord]]] = {}
        self._window: deque[SignalMatch] = deque(maxlen=self.rolling)
        self.counts = {kind.value: 0 for kind in MatchKind}

    @classmethod
    def from_settings(cls, settings: Any) -> SignalAlignment:
        """The provider factory: the engine's signal window, options ``magnitude_tolerance``
        and ``signal_rolling``."""
        options = settings.options
        return cls(
            window_bars=settings.window_bars,
            magnitude_tolerance=options.get("magnitude_tolerance", 0.1),
            rolling=options.get("signal_rolling", 100),
        )

    def reset(self) -> None:
        """Start a fresh window (after a breaker reset); pending orders stay."""
        self._window.clear()

    def observe(self, observation: Observation) -> Sequence[Measurement]:
        for record in observation.live_new:
            self._pending.setdefault((record.sid, record.direction), ([], []))[0].append(record)
        for record in observation.shadow_new:
            self._pending.setdefault((record.sid, record.direction), ([], []))[1].append(record)
        if not self._pending:
            return ()
        found: list[SignalMatch] = []
        for key in list(self._pending):
            lives, shadows = self._pending[key]
            found.extend(self._pair(lives, shadows, observation))
            if not lives and not shadows:
                del self._pending[key]
        if not found:
            return ()
        found.sort(key=lambda m: (m.bar, _first(m).id))
        for match in found:
            self.counts[match.kind.value] += 1
            self._window.append(match)
        observation.matches.extend(found)
        matched = sum(1 for m in self._window if m.kind.matched)
        misses = [m.to_json() for m in found if m.kind is not MatchKind.EXACT]
        return (
            Measurement(
                check=self.name,
                metric="match_rate",
                value=matched / len(self._window),
                samples=len(self._window),
                details={
                    "window": self.rolling,
                    "window_bars": self.window_bars,
                    "counts": dict(self.counts),
                    "mismatches": misses[:20],
                    "mismatched_orders": [_ids(m) for m in self._window if not m.kind.matched][
                        -20:
                    ],
                },
            ),
        )

    def _pair(
        self, lives: list[OrderRecord], shadows: list[OrderRecord], observation: Observation
    ) -> list[SignalMatch]:
        bar = observation.bar
        window = self.window_bars
        out = self._pair_exact(lives, shadows, bar)
        while lives and shadows:
            live, shadow = lives[0], shadows[0]
            if abs(live.bar - shadow.bar) <= window:
                lives.pop(0)
                shadows.pop(0)
                out.append(
                    SignalMatch(kind=self._kind(live, shadow), live=live, shadow=shadow, bar=bar)
                )
            elif live.bar < shadow.bar:
                lives.pop(0)
                out.append(SignalMatch(kind=MatchKind.LIVE_ONLY, live=live, shadow=None, bar=bar))
            else:
                shadows.pop(0)
                out.append(
                    SignalMatch(kind=MatchKind.SHADOW_ONLY, live=None, shadow=shadow, bar=bar)
                )
        # a lone order is missing once no later order of the other side can pair with it
        while lives and (observation.final or lives[0].bar + window <= bar):
            out.append(
                SignalMatch(kind=MatchKind.LIVE_ONLY, live=lives.pop(0), shadow=None, bar=bar)
            )
        while shadows and (observation.final or shadows[0].bar + window <= bar):
            out.append(
                SignalMatch(kind=MatchKind.SHADOW_ONLY, live=None, shadow=shadows.pop(0), bar=bar)
            )
        return out

    def _pair_exact(
        self, lives: list[OrderRecord], shadows: list[OrderRecord], bar: int
    ) -> list[SignalMatch]:
        """Pair the orders that agree exactly first: with several orders of one asset and
        side in a window, arrival order alone can cross them (1 and 2 against 2 and 1)."""
        out = []
        for live in list(lives):
            for shadow in shadows:
                if (
                    abs(live.bar - shadow.bar) <= self.window_bars
                    and self._kind(live, shadow) is MatchKind.EXACT
                ):
                    lives.remove(live)
                    shadows.remove(shadow)
                    out.append(SignalMatch(kind=MatchKind.EXACT, live=live, shadow=shadow, bar=bar))
                    break
        return out

    def _kind(self, live: OrderRecord, shadow: OrderRecord) -> MatchKind:
        same_style = (
            live.order_type == shadow.order_type
            and live.limit_price == shadow.limit_price
            and live.stop_price == shadow.stop_price
        )
        if live.amount == shadow.amount and same_style:
            return MatchKind.EXACT
        if abs(live.amount - shadow.amount) <= self.tolerance * abs(shadow.amount):
            return MatchKind.DIRECTION
        return MatchKind.MAGNITUDE


def _ids(match: SignalMatch) -> dict[str, Any]:
    return {
        "kind": match.kind.value,
        "live": None if match.live is None else match.live.id,
        "shadow": None if match.shadow is None else match.shadow.id,
        "symbol": _first(match).symbol,
    }


def _first(match: SignalMatch) -> OrderRecord:
    record = match.live or match.shadow
    assert record is not None  # a match has at least one side
    return record


_DENIED = OrderStatus.DENIED.value


class ExecutionQuality:
    """Compare the executions of matched orders over a rolling window of paired fills.

    :param rolling: number of latest counted paired fills the means cover.
    :param grace_bars: bars to wait for the other side once one side's order is done.
    """

    name = "execution_quality"

    def __init__(self, rolling: int = 20, grace_bars: int = 2) -> None:
        self.rolling = _positive_int(rolling, "rolling", 1)
        self.grace_bars = _positive_int(grace_bars, "grace_bars")
        self._pairs: dict[str, str] = {}  # live id -> shadow id, waiting
        self._closed: dict[tuple[Side, str], OrderRecord] = {}
        self._window: deque[ExecutionSample] = deque(maxlen=self.rolling)
        self.counts: dict[str, int] = {}

    @classmethod
    def from_settings(cls, settings: Any) -> ExecutionQuality:
        """The provider factory: options ``fill_rolling`` and ``grace_bars``."""
        options = settings.options
        return cls(rolling=options.get("fill_rolling", 20), grace_bars=options.get("grace_bars", 2))

    def reset(self) -> None:
        """Start a fresh window (after a breaker reset); waiting pairs stay."""
        self._window.clear()

    def observe(self, observation: Observation) -> Sequence[Measurement]:
        for record in observation.live_closed:
            self._closed[(Side.LIVE, record.id)] = record
        for record in observation.shadow_closed:
            self._closed[(Side.SHADOW, record.id)] = record
        for match in observation.matches:
            if match.live is not None and match.shadow is not None:
                self._pairs[match.live.id] = match.shadow.id
        if not self._pairs:
            self._forget_unpaired()
            return ()
        new: list[ExecutionSample] = []
        for live_id, shadow_id in list(self._pairs.items()):
            sample = self._sample(live_id, shadow_id, observation)
            if sample is not None:
                del self._pairs[live_id]
                self._closed.pop((Side.LIVE, live_id), None)
                self._closed.pop((Side.SHADOW, shadow_id), None)
                new.append(sample)
        self._forget_unpaired()
        if not new:
            return ()
        for sample in new:
            self.counts[sample.kind] = self.counts.get(sample.kind, 0) + 1
            if sample.counted:
                self._window.append(sample)
        observation.samples.extend(new)
        return self._measure(new)

    def _forget_unpaired(self) -> None:
        # closed orders nobody paired (lone signals) are not kept forever
        if len(self._closed) > 4 * self.rolling + 64:
            waiting = set(self._pairs) | set(self._pairs.values())
            for key in [k for k in self._closed if k[1] not in waiting]:
                del self._closed[key]

    def _sample(
        self, live_id: str, shadow_id: str, observation: Observation
    ) -> ExecutionSample | None:
        live = self._closed.get((Side.LIVE, live_id))
        shadow = self._closed.get((Side.SHADOW, shadow_id))
        if live is None and shadow is None:
            return None
        done = live if live is not None else shadow
        assert done is not None
        closed_bar = done.closed_bar if done.closed_bar is not None else observation.bar
        if (live is None or shadow is None) and not (
            observation.final or observation.bar >= closed_bar + self.grace_bars
        ):
            return None
        lookup = observation.lookup
        if live is None:
            if lookup is None:
                return None
            live = lookup(Side.LIVE, live_id)
        if shadow is None:
            if lookup is None:
                return None
            shadow = lookup(Side.SHADOW, shadow_id)
        return sample_of(live, shadow, observation.bar)

    def _measure(self, new: list[ExecutionSample]) -> Sequence[Measurement]:
        window = list(self._window)
        details_common = {"window": self.rolling, "counts": dict(self.counts)}

        def mean(values: list[float]) -> float | None:
            return sum(values) / len(values) if values else None

        def worst(attr: str) -> list[dict[str, Any]]:
            ranked = sorted(
                (s for s in window if getattr(s, attr) is not None),
                key=lambda s: -abs(getattr(s, attr)),
            )
            return [
                {"live": s.live.id, "shadow": s.shadow.id, "symbol": s.live.symbol,
                 "kind": s.kind, attr: getattr(s, attr)}
                for s in ranked[:10]
            ]  # fmt: skip

        out = []
        for metric, attr in (
            ("slippage_error_bps", "slippage_bps"),
            ("fill_rate_error", "fill_rate_error"),
            ("commission_error_bps", "commission_error_bps"),
        ):
            values = [getattr(s, attr) for s in window if getattr(s, attr) is not None]
            out.append(
                Measurement(
                    check=self.name,
                    metric=metric,
                    value=mean(values),
                    samples=len(values),
                    details={
                        **details_common,
                        "worst": worst(attr),
                        "new": [s.to_json() for s in new if getattr(s, attr) is not None][:20],
                    },
                )
            )
        return out


def sample_of(live: OrderRecord, shadow: OrderRecord, bar: int) -> ExecutionSample:
    """Compare the execution of a matched pair (see the module docs for the formulas)."""
    live_qty, shadow_qty = abs(live.filled), abs(shadow.filled)
    if live.status == _DENIED or shadow.status == _DENIED:
        kind, counted = "denied", False
    elif live_qty == 0 and shadow_qty == 0:
        kind, counted = "neither_filled", False
    elif live.status == OrderStatus.REJECTED.value and live_qty == 0:
        kind, counted = "live_rejected", True
    elif live.is_open and live_qty < shadow_qty:
        kind, counted = "missing_live_fill", True
    elif live_qty < shadow_qty:
        kind, counted = "live_partial", True
    elif live_qty > shadow_qty:
        kind, counted = "live_overfill", True
    else:
        kind, counted = "ok", True
    fill_rate = None
    slippage = None
    commission = None
    if counted:
        fill_rate = abs(1.0 - float(live_qty) / float(shadow_qty)) if shadow_qty else 1.0
        if live.avg_price is not None and shadow.avg_price is not None and shadow.avg_price:
            diff = (live.avg_price - shadow.avg_price) / shadow.avg_price
            slippage = float(diff) * 1e4 * live.direction
        if live_qty and shadow_qty and live.avg_price and shadow.avg_price:
            live_rate = live.commission / (live_qty * abs(live.avg_price))
            shadow_rate = shadow.commission / (shadow_qty * abs(shadow.avg_price))
            commission = float(live_rate - shadow_rate) * 1e4
    return ExecutionSample(
        live=live,
        shadow=shadow,
        kind=kind,
        counted=counted,
        slippage_bps=slippage,
        fill_rate_error=fill_rate,
        commission_error_bps=commission,
        bar=bar,
    )
