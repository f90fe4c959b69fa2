"""The asset database: bundles, their assets, and which symbol meant which asset when.

Tables (migration ``0001_assets``): ``bundles``, ``assets`` and
``symbol_history``. Decimals (tick size, lot size, ...) are TEXT — exact,
never a float. Ingest writes a bundle's rows in one transaction after the
bundle is in place on disk; re-ingesting replaces them.

.. versionadded:: 0.1
"""

from __future__ import annotations

import datetime as dt
import difflib
import hashlib
from collections.abc import Iterable
from decimal import Decimal
from typing import TYPE_CHECKING

import sqlalchemy as sa
from sqlalchemy.orm import Mapped, Session, mapped_column

from rbt.data.db import Base, open_database
from rbt.data.home import RbtHome
from rbt.kernel.errors import DataUnavailableError
from rbt.kernel.model import Asset, AssetClass

if TYPE_CHECKING:
    import polars as pl

    from rbt.data.bundles import Manifest

__all__ = [
    "AssetRow",
    "BundleRow",
    "SymbolHistoryRow",
    "bundle_assets",
    "delete_bundle",
    "lookup_symbol",
    "record_bundle",
]


class BundleRow(Base):
    """One ingested bundle."""

    __tablename__ = "bundles"

    name: Mapped[str] = mapped_column(sa.String(200), primary_key=True)
    frequency: Mapped[str] = mapped_column(sa.String(8))
    calendar: Mapped[str] = mapped_column(sa.String(40))
    source: Mapped[str] = mapped_column(sa.String(100))
    content_hash: Mapped[str] = mapped_column(sa.String(64))
    manifest_hash: Mapped[str] = mapped_column(sa.String(64))
    first_session: Mapped[dt.date] = mapped_column(sa.Date)
    last_session: Mapped[dt.date] = mapped_column(sa.Date)
    asset_count: Mapped[int] = mapped_column(sa.Integer)
    row_count: Mapped[int] = mapped_column(sa.BigInteger)
    ingested_at: Mapped[dt.datetime] = mapped_column(sa.DateTime(timezone=True))


class AssetRow(Base):
    """One asset of a bundle, with its trading rules."""

    __tablename__ = "assets"
    __table_args__ = (sa.Index("ix_assets_bundle_symbol", "bundle", "symbol"),)

    bundle: Mapped[str] = mapped_column(
        sa.String(200), sa.ForeignKey("bundles.name", ondelete="CASCADE"), primary_key=True
    )
    sid: Mapped[int] = mapped_column(sa.Integer, primary_key=True)
    symbol: Mapped[str] = mapped_column(sa.String(64))
    asset_class: Mapped[str] = mapped_column(sa.String(16))
    exchange: Mapped[str] = mapped_column(sa.String(64))
    calendar: Mapped[str] = mapped_column(sa.String(40))
    quote_currency: Mapped[str] = mapped_column(sa.String(16))
    tick_size: Mapped[str] = mapped_column(sa.Text)
    lot_size: Mapped[str] = mapped_column(sa.Text)
    min_notional: Mapped[str] = mapped_column(sa.Text)
    multiplier: Mapped[str] = mapped_column(sa.Text)
    price_scale: Mapped[int] = mapped_column(sa.Integer)
    volume_scale: Mapped[int] = mapped_column(sa.Integer)
    start_date: Mapped[dt.date | None] = mapped_column(sa.Date)
    end_date: Mapped[dt.date | None] = mapped_column(sa.Date)
    auto_close_date: Mapped[dt.date | None] = mapped_column(sa.Date)
    note: Mapped[str] = mapped_column(sa.Text, server_default="")

    def to_asset(self) -> Asset:
        """The kernel value object."""
        return Asset(
            sid=self.sid,
            symbol=self.symbol,
            asset_class=AssetClass(self.asset_class),
            exchange=self.exchange,
            calendar=self.calendar,
            quote_currency=self.quote_currency,
            tick_size=Decimal(self.tick_size),
            lot_size=Decimal(self.lot_size),
            min_notional=Decimal(self.min_notional),
            multiplier=Decimal(self.multiplier),
            price_scale=self.price_scale,
            start_date=self.start_date,
            end_date=self.end_date,
            auto_close_date=self.auto_close_date,
        )


class SymbolHistoryRow(Base):
    """``symbol`` meant asset ``sid`` of ``bundle`` from ``start_date`` to ``end_date``."""

    __tablename__ = "symbol_history"
    __table_args__ = (
        sa.ForeignKeyConstraint(
            ["bundle", "sid"], ["assets.bundle", "assets.sid"], ondelete="CASCADE"
        ),
        sa.Index("ix_symbol_history_bundle_symbol", "bundle", "symbol"),
    )

    id: Mapped[int] = mapped_column(sa.Integer, primary_key=True, autoincrement=True)
    bundle: Mapped[str] = mapped_column(sa.String(200))
    symbol: Mapped[str] = mapped_column(sa.String(64))
    sid: Mapped[int] = mapped_column(sa.Integer)
    start_date: Mapped[dt.date] = mapped_column(sa.Date)
    end_date: Mapped[dt.date] = mapped_column(sa.Date)


def _delete(session: Session, bundle: str) -> None:
    # Children first: not every backend cascades (SQLite only with foreign_keys=ON).
    session.execute(sa.delete(SymbolHistoryRow).where(SymbolHistoryRow.bundle == bundle))
    session.execute(sa.delete(AssetRow).where(AssetRow.bundle == bundle))
    session.execute(sa.delete(BundleRow).where(BundleRow.name == bundle))


def record_bundle(home: RbtHome, manifest: Manifest, assets: pl.DataFrame) -> None:
    """Replace the rows of ``manifest.name`` with this bundle's, in one transaction.

    :param assets: the bundle's ``assets.parquet`` frame.
    """
    engine = open_database(home)
    with Session(engine) as session, session.begin():
        _delete(session, manifest.name)
        session.add(
            BundleRow(
                name=manifest.name,
                frequency=manifest.frequency,
                calendar=manifest.calendar,
                source=manifest.source,
                content_hash=manifest.content_hash,
                manifest_hash=hashlib.sha256(manifest.to_json().encode()).hexdigest(),
                first_session=dt.date.fromisoformat(manifest.first_session),
                last_session=dt.date.fromisoformat(manifest.last_session),
                asset_count=manifest.asset_count,
                row_count=manifest.row_count,
                ingested_at=dt.datetime.fromisoformat(manifest.created_at),
            )
        )
        session.flush()
        columns = [c.name for c in AssetRow.__table__.columns if c.name != "bundle"]
        rows = [
            {"bundle": manifest.name, **{c: r[c] for c in columns}}
            for r in assets.iter_rows(named=True)
        ]
        session.execute(sa.insert(AssetRow), rows)
        session.execute(
            sa.insert(SymbolHistoryRow),
            [
                {
                    "bundle": manifest.name,
                    "symbol": r["symbol"],
                    "sid": r["sid"],
                    "start_date": r["start_date"],
                    "end_date": r["end_date"],
                }
                for r in rows
            ],
        )


def delete_bundle(home: RbtHome, bundle: str) -> None:
    """Remove every row of ``bundle`` (one transaction)."""
    with Session(open_database(home)) as session, session.begin():
        _delete(session, bundle)


def bundle_assets(home: RbtHome, bundle: str) -> list[Asset]:
    """Every asset of ``bundle``, by sid."""
    with Session(open_database(home)) as session:
        rows = session.scalars(
            sa.select(AssetRow).where(AssetRow.bundle == bundle).order_by(AssetRow.sid)
        )
        return [r.to_asset() for r in rows]


def lookup_symbol(home: RbtHome, bundle: str, symbol: str, as_of: dt.date | None = None) -> Asset:
    """The asset ``symbol`` meant in ``bundle`` on ``as_of`` (default: its latest meaning).

    :raises DataUnavailableError: for an unknown bundle (listing the known ones),
        an unknown symbol (listing close matches) or a symbol not listed on ``as_of``.
    """
    with Session(open_database(home)) as session:
        if session.get(BundleRow, bundle) is None:
            known = session.scalars(sa.select(BundleRow.name).order_by(BundleRow.name)).all()
            raise DataUnavailableError(
                f"unknown bundle {bundle!r} in the asset database; bundles: "
                f"{', '.join(known) or 'none (try `rbt ingest demo`)'}"
            )
        history = session.scalars(
            sa.select(SymbolHistoryRow)
            .where(SymbolHistoryRow.bundle == bundle, SymbolHistoryRow.symbol == symbol)
            .order_by(SymbolHistoryRow.start_date.desc())
        ).all()
        if not history:
            symbols = session.scalars(
                sa.select(SymbolHistoryRow.symbol)
                .where(SymbolHistoryRow.bundle == bundle)
                .distinct()
            ).all()
            raise DataUnavailableError(_unknown(symbol, bundle, symbols))
        match = (
            history[0]
            if as_of is None
            else next((h for h in history if h.start_date <= as_of <= h.end_date), None)
        )
        if match is None:
            spans = ", ".join(f"{h.start_date}..{h.end_date}" for h in reversed(history))
            raise DataUnavailableError(
                f"symbol {symbol!r} of bundle {bundle!r} is not listed on {as_of}; "
                f"it is listed {spans}"
            )
        row = session.get(AssetRow, (bundle, match.sid))
        assert row is not None  # the foreign key guarantees it
        return row.to_asset()


def _unknown(symbol: str, bundle: str, symbols: Iterable[str]) -> str:
    choices = sorted(set(symbols))
    by_upper = {s.upper(): s for s in choices}
    close = difflib.get_close_matches(symbol.upper(), list(by_upper), n=5, cutoff=0.5)
    hint = (
        f"; did you mean {', '.join(by_upper[c] for c in close)}?"
        if close
        else f"; it has {len(choices)} symbols, e.g. {', '.join(choices[:5])}"
    )
    return f"unknown symbol {symbol!r} in bundle {bundle!r}{hint}"
