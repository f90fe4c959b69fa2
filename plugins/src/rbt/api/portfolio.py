"""What a strategy sees of its books: float views over the exact ledger.

``context.portfolio`` has Zipline's fields as floats; ``.exact`` returns the
Decimal :class:`~rbt.kernel.model.Account`. ``positions`` is a snapshot per bar,
built from a mirror of the ledger's positions that is updated fill by fill.
"""

from __future__ import annotations

from functools import partial
from operator import itemgetter
from typing import TYPE_CHECKING

from rbt.kernel.model import Account, Asset

if TYPE_CHECKING:
    from rbt.api.engine import Engine

__all__ = ["LazyPositions", "Portfolio", "PositionView", "Positions", "make_view"]


class PositionView(tuple):  # type: ignore[type-arg]
    """One position as floats: ``amount``, ``cost_basis`` and ``last_sale_price``
    (the latest forward-filled close when the view was taken).

    An immutable record (a tuple underneath, so the engine builds a bar's views in
    one C-level pass); fields are read by name, as in Zipline.
    """

    __slots__ = ()

    def __new__(
        cls, asset: Asset, amount: float, cost_basis: float, last_sale_price: float
    ) -> PositionView:
        return tuple.__new__(cls, (asset, amount, cost_basis, last_sale_price))

    def __getnewargs__(self) -> tuple[Asset, float, float, float]:  # type: ignore[override]
        return (self[0], self[1], self[2], self[3])

    asset = property(itemgetter(0), doc="The asset.")
    amount = property(itemgetter(1), doc="Signed amount held.")
    cost_basis = property(itemgetter(2), doc="Average cost per unit.")
    last_sale_price = property(itemgetter(3), doc="Latest close when the view was taken.")

    @property
    def sid(self) -> int:
        """The asset's sid."""
        return self[0].sid  # type: ignore[no-any-return]

    __hash__ = None  # type: ignore[assignment]

    def __repr__(self) -> str:
        return (
            f"PositionView({self.asset!r}, amount={self.amount}, cost_basis={self.cost_basis}, "
            f"last_sale_price={self.last_sale_price})"
        )


#: Builds a view from an ``(asset, amount, cost_basis, last_sale_price)`` tuple, in C.
make_view = partial(tuple.__new__, PositionView)


class Positions(dict[Asset, PositionView]):
    """Open positions by asset; a missing asset reads as a zero position (Zipline).

    A plain dict underneath, so ``asset in positions`` and iteration cost what
    they cost on a dict.
    """

    def __missing__(self, asset: Asset) -> PositionView:
        return PositionView(asset, 0.0, 0.0, 0.0)


class LazyPositions(Positions):
    """A bar's positions whose views are built on the first read of a value.

    Holds the assets (so ``asset in positions``, ``len`` and the keys cost what they
    cost on a dict) and what the views are made of as of its bar — ``_build``, a
    ``(function, arguments...)`` tuple: ``function(positions, *arguments)`` returns the
    views, from what the positions hold until then — and turns into a plain
    :class:`Positions` the first time anything reads or changes its values: a strategy
    that only tests membership builds no view.
    """

    def _materialize(self) -> None:
        build, *args = self.__dict__.pop("_build")  # (function, its arguments)
        dict.update(self, build(self, *args))
        self.__class__ = Positions  # type: ignore[assignment]  # plain dict speed from now on


def _materializing(name: str) -> object:
    method = getattr(dict, name)

    def wrapper(self: LazyPositions, /, *args: object, **kwargs: object) -> object:
        # a bound method taken before the first read outlives the class change
        if type(self) is LazyPositions:
            self._materialize()
        for other in args:  # dict's operators read the other side's storage directly
            if type(other) is LazyPositions:
                other._materialize()
        return method(self, *args, **kwargs)

    wrapper.__name__ = wrapper.__qualname__ = name
    wrapper.__doc__ = method.__doc__
    return wrapper


# every dict method that reads or writes values (membership, len and keys do not)
for _name in (
    "__getitem__", "get", "values", "items", "__iter__", "__reversed__", "__eq__", "__ne__",
    "__repr__", "copy", "__reduce__", "__reduce_ex__", "pop", "popitem", "setdefault",
    "update", "__or__", "__ror__", "__ior__", "__setitem__", "__delitem__", "clear",
    "__sizeof__",
):  # fmt: skip
    setattr(LazyPositions, _name, _materializing(_name))
del _name


class Portfolio:
    """Zipline's ``context.portfolio``: floats computed from the exact ledger."""

    def __init__(self, engine: Engine) -> None:
        self._engine = engine
        self._cash: tuple[object, float] = (None, 0.0)  # (the ledger's Decimal, as a float)

    @property
    def starting_cash(self) -> float:
        """Capital at the start."""
        return float(self._engine.ledger.starting_cash)

    @property
    def cash(self) -> float:
        """Cash now."""
        cash = self._engine.ledger.cash
        cached = self._cash
        if cached[0] is cash:  # a Decimal is immutable: the same object, the same float
            return cached[1]
        value = float(cash)
        self._cash = (cash, value)
        return value

    @property
    def positions_value(self) -> float:
        """Market value of the positions at the latest prices."""
        return self._engine.positions_value_float()

    @property
    def portfolio_value(self) -> float:
        """Cash plus positions value."""
        engine = self._engine
        cash = engine.ledger.cash
        cached = self._cash
        if cached[0] is not cash:
            cached = self._cash = (cash, float(cash))
        return cached[1] + engine.positions_value_float()

    @property
    def pnl(self) -> float:
        """Profit since the start."""
        return self.portfolio_value - self.starting_cash

    @property
    def returns(self) -> float:
        """Cumulative return since the start."""
        return self.portfolio_value / self.starting_cash - 1.0

    @property
    def capital_used(self) -> float:
        """Net cash spent on trades and costs."""
        return self.starting_cash - self.cash

    @property
    def positions(self) -> Positions:
        """Open positions by asset."""
        return self._engine.position_views()

    @property
    def exact(self) -> Account:
        """The exact books (Decimal), valued at the latest exact prices."""
        self._engine.session.mark_positions()  # value at the cursor's closes, not the last mark
        return self._engine.ledger.account()

    def __repr__(self) -> str:
        return (
            f"Portfolio(cash={self.cash:.2f}, positions={len(self.positions)}, "
            f"portfolio_value={self.portfolio_value:.2f})"
        )
