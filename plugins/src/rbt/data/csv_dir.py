"""The ``csv`` data source: a directory with one ``<SYMBOL>.csv`` file per symbol.

Input rules (design.md §2.1a.5):

* headers match case-insensitively; ``open, high, low, close, volume`` are
  required, other columns are ignored;
* the timestamp is the column named ``date``, ``timestamp``, ``time``,
  ``datetime`` or ``ts`` — or an unnamed first column (pandas writes its index
  that way, e.g. the ``backtesting`` package's ``GOOG.csv``);
* date-only values (``2024-01-02``) are session labels: a daily bundle;
* intraday values with an offset (``...+02:00``, ``...Z``) are converted to
  UTC; without one the ``tz`` option names their time zone (an error
  otherwise, never a guess). They are taken as bar *end* times;
* prices and volumes are parsed exactly, never rounded: each file's decimal
  places are those of its most precise value. Short values (up to 15
  characters, the usual case) go through float64, where that is provably
  exact (:mod:`rbt.data.exact_fast`); anything else is read from the text.

Options (``rbt ingest csv --option key=value``): ``path`` (required),
``calendar`` (``XNYS``), ``tz``, ``frequency`` (``1d``/``1m``; inferred from
the first file), ``asset_class`` (``equity``), ``tick_size``, ``lot_size``,
``min_notional``, ``multiplier``, ``exchange``, ``quote_currency`` (``USD``):
defaults for every symbol.

Optional files with reserved lower-case names (never read as symbols; headers
match case-insensitively; values are exact decimals, never floats):

``metadata.csv``
    per-symbol reference data overriding the options: a ``symbol`` column and
    any of ``asset_class``, ``exchange``, ``quote_currency``, ``tick_size``,
    ``lot_size``, ``min_notional``, ``multiplier``, ``auto_close_date`` and
    ``expiration_date`` (futures; ``auto_close_date`` defaults to it). Empty
    cells keep the defaults. Example::

        symbol,asset_class,tick_size,lot_size,min_notional,multiplier,expiration_date
        ESZ4,future,0.25,1,,50,2024-12-20
        BTCUSD,crypto,0.01,0.0001,10,,

``splits.csv``
    ``symbol,ex_date,ratio`` — ``ratio`` new shares per old share (``2`` for a
    2-for-1 split, ``0.1`` for a 1-for-10 reverse split).
``dividends.csv``
    ``symbol,ex_date,pay_date,amount`` — cash per share in the quote currency;
    an empty ``pay_date`` (or no such column) means the ex-date.
``funding.csv``
    ``symbol,timestamp,rate`` — perpetual funding rate per period exchanged at
    ``timestamp`` (with an offset, or in the ``tz`` option's zone); positive:
    longs pay shorts.

Bar prices in the symbol files are as traded (unadjusted); the backtest
applies the actions point-in-time (:mod:`rbt.data.actions`).

.. versionadded:: 0.1
"""

from __future__ import annotations

import datetime as dt
import os
import re
from collections.abc import Callable, Mapping, Sequence
from pathlib import Path
from typing import Any

import numpy as np
import polars as pl

from rbt.data.exact import from_mantissas, text_to_mantissas
from rbt.data.exact_fast import MAX_TEXT, float_mantissas
from rbt.data.runs import run_starts
from rbt.data.source import LINE_COLUMN, PRICE_FIELDS, AssetInfo, BarBatch
from rbt.data.validate import row_error
from rbt.kernel.clock import Frequency
from rbt.kernel.errors import ConfigError, DataUnavailableError, SchemaError
from rbt.kernel.model import AssetClass

__all__ = ["CsvDirectorySource"]

_TS_NAMES = ("date", "timestamp", "time", "datetime", "ts")
#: Files of a CSV directory that hold reference data, not a symbol's bars.
RESERVED = ("metadata.csv", "splits.csv", "dividends.csv", "funding.csv")
_META_FIELDS = (
    "asset_class",
    "exchange",
    "quote_currency",
    "tick_size",
    "lot_size",
    "min_notional",
    "multiplier",
    "auto_close_date",
    "expiration_date",
)
_VALUE_NAMES = (*PRICE_FIELDS, "volume")
#: Columns sharing one decimal scale per file.
_SCALE_GROUPS = {"price": PRICE_FIELDS, "volume": ("volume",)}
_DATE = r"^\d{4}-\d{2}-\d{2}$"
_NEWLINE = ord("\n")
_COMMA = ord(",")
_WINDOW = 1 << 22  # bytes of CSV text scanned at a time for long fields
# What may follow the date of a daily row: nothing, or midnight (with an offset).
_MIDNIGHT = r"^(?:[ T]00:00(?::00(?:\.0+)?)?(?:Z|[+-]\d{2}:?\d{2})?)?$"


class CsvDirectorySource:
    """Read ``<dir>/<SYMBOL>.csv`` files (see the module doc for the rules).

    :param path: the directory.
    :param calendar: trading calendar of the bundle.
    :param tz: IANA time zone of intraday timestamps written without an offset.
    :param frequency: ``1d`` or ``1m``; inferred from the first file when omitted.
    :param asset_class: asset class of every symbol.
    :param tick_size: price increment (default: one unit of the price's decimals).
    :param lot_size: quantity increment.
    :param exchange: listing exchange recorded for every symbol.
    :param quote_currency: currency of the prices.
    :raises ConfigError: for a missing directory, no CSV files or bad options.
    """

    #: read_batch may run in several threads at once (ingest reads two batches at a time).
    thread_safe_batches = True

    def __init__(
        self,
        path: str | Path,
        calendar: str = "XNYS",
        tz: str | None = None,
        frequency: str | None = None,
        asset_class: str = "equity",
        tick_size: str | None = None,
        lot_size: str = "1",
        exchange: str = "",
        quote_currency: str = "USD",
        min_notional: str = "0",
        multiplier: str = "1",
    ) -> None:
        self.path = Path(path).expanduser().resolve()
        if not self.path.is_dir():
            raise ConfigError(
                f"csv source: {self.path} is not a directory; expected a "
                "directory of <SYMBOL>.csv files (option path=...)"
            )
        with os.scandir(self.path) as entries:  # (no stat per file; sorted by name)
            names = sorted(
                e.name
                for e in entries
                if _is_csv_name(e.name) and e.name not in RESERVED and e.is_file()
            )
        files = [self.path / name for name in names]
        if not files:
            raise ConfigError(f"csv source: no *.csv files in {self.path}")
        self._files = {p.stem: p for p in files}
        self.calendar = calendar
        self.tz = tz
        try:
            self._asset_class = AssetClass(asset_class.strip().lower())
        except ValueError:
            choices = ", ".join(c.value for c in AssetClass)
            raise ConfigError(
                f"csv source: unknown asset_class {asset_class!r}; choose one of: {choices}"
            ) from None
        try:
            self.frequency = (
                Frequency.parse(frequency) if frequency else self._infer_frequency(files[0])
            )
            self._info: dict[str, Any] = {
                "exchange": exchange,
                "quote_currency": quote_currency,
                "tick_size": tick_size,
                "lot_size": lot_size,
                "min_notional": min_notional,
                "multiplier": multiplier,
            }
        except (ValueError, TypeError) as exc:
            raise ConfigError(f"csv source: {exc}") from exc
        self._metadata = self._read_metadata()
        self._infos: dict[str, AssetInfo] = {}  # (immutable: built once, read many times)
        for symbol in self._files:  # validates tick and lot sizes now
            try:
                self.asset_info(symbol)
            except (ValueError, TypeError) as exc:
                if symbol in self._metadata:
                    raise SchemaError(
                        f"{self.path / 'metadata.csv'}, symbol {symbol}: {exc}"
                    ) from exc
                raise ConfigError(f"csv source: {exc}") from exc

    @property
    def options(self) -> Mapping[str, Any]:
        """Effective options, as recorded in the bundle manifest."""
        return {
            "path": str(self.path),
            "calendar": self.calendar,
            "tz": self.tz,
            "frequency": self.frequency.value,
            "asset_class": self._asset_class.value,
            **self._info,
        }

    def symbols(self) -> Sequence[str]:
        """Symbols, one per ``*.csv`` file, sorted."""
        return list(self._files)

    def origin(self, symbol: str) -> str:
        """The file ``symbol`` is read from."""
        return str(self._files[symbol])

    def asset_info(self, symbol: str) -> AssetInfo:
        """Reference data: the options, overridden by ``metadata.csv``'s row of ``symbol``."""
        info = self._infos.get(symbol)
        if info is None:
            info = self._infos[symbol] = self._asset_info(symbol)
        return info

    def _asset_info(self, symbol: str) -> AssetInfo:
        fields: dict[str, Any] = {"asset_class": self._asset_class, **self._info}
        meta = self._metadata.get(symbol, {})
        for key, value in meta.items():
            if key == "asset_class":
                fields[key] = AssetClass(value.lower())
            elif not key.endswith("_date"):
                fields[key] = value
        closes = meta.get("auto_close_date") or meta.get("expiration_date")
        if closes:
            fields["auto_close_date"] = dt.date.fromisoformat(closes)
        return AssetInfo(symbol=symbol, calendar=self.calendar, **fields)

    # -- reference files ------------------------------------------------------------------
    def _reserved(self, name: str) -> pl.DataFrame | None:
        """A reserved file as all-text columns with lower-case names and a ``line`` column."""
        path = self.path / name
        if not path.is_file():
            return None
        try:
            frame = pl.read_csv(path, infer_schema=False)
        except pl.exceptions.PolarsError as exc:
            raise SchemaError(f"{path}: not a readable CSV file: {exc}") from exc
        frame.columns = [c.strip().strip('"').lower() for c in frame.columns]
        frame = frame.with_columns(pl.col(c).str.strip_chars() for c in frame.columns)
        return frame.with_columns(
            pl.Series(LINE_COLUMN, np.arange(2, frame.height + 2), dtype=pl.UInt32),
            pl.lit(str(path)).alias("origin"),
        )

    @staticmethod
    def _require(frame: pl.DataFrame, columns: Sequence[str], name: str, origin: str) -> None:
        missing = [c for c in columns if c not in frame.columns]
        if missing:
            raise SchemaError(
                f"{origin}, line 1 (header): missing column(s) {', '.join(missing)}"
                f"; {name} needs {', '.join(columns)}"
            )

    def _read_metadata(self) -> dict[str, dict[str, str]]:
        frame = self._reserved("metadata.csv")
        if frame is None:
            return {}
        origin = str(self.path / "metadata.csv")
        self._require(frame, ("symbol",), "metadata.csv", origin)
        out: dict[str, dict[str, str]] = {}
        for row in frame.iter_rows(named=True):
            where = f"{origin}, line {row[LINE_COLUMN]}"
            symbol = row["symbol"]
            if symbol not in self._files:
                raise SchemaError(f"{where}, field 'symbol': no {symbol}.csv in {self.path}")
            values = {k: row[k] for k in _META_FIELDS if row.get(k)}
            for key, value in values.items():
                try:
                    if key == "asset_class":
                        AssetClass(value.lower())
                    elif key.endswith("_date"):
                        dt.date.fromisoformat(value)
                except ValueError:
                    raise SchemaError(f"{where}, field {key!r}: bad value {value!r}") from None
            out[symbol] = values
        return out

    def corporate_actions(self) -> pl.DataFrame | None:
        """``splits.csv`` and ``dividends.csv`` as one frame (see :mod:`rbt.data.actions`)."""
        parts = []
        for name, value, columns in (
            ("splits.csv", "ratio", ("symbol", "ex_date", "ratio")),
            ("dividends.csv", "amount", ("symbol", "ex_date", "amount")),
        ):
            frame = self._reserved(name)
            if frame is None:
                continue
            self._require(frame, columns, name, str(self.path / name))
            pay = pl.col("pay_date") if "pay_date" in frame.columns else pl.lit(None, pl.String)
            parts.append(
                frame.select(
                    "symbol",
                    pl.lit(name.removesuffix("s.csv")).alias("kind"),
                    _date_col(frame, "ex_date", name),
                    pay.alias("pay_date"),
                    pl.col(value).alias("value"),
                    LINE_COLUMN,
                    "origin",
                )
            )
        if not parts:
            return None
        frame = pl.concat(parts, how="diagonal_relaxed")
        return frame.with_columns(_date_col(frame, "pay_date", "dividends.csv", optional=True))

    def funding_rates(self) -> pl.DataFrame | None:
        """``funding.csv`` (timestamps converted to UTC like intraday bars)."""
        frame = self._reserved("funding.csv")
        if frame is None:
            return None
        origin = str(self.path / "funding.csv")
        ts_name = next((n for n in _TS_NAMES if n in frame.columns), None)
        self._require(frame, ("symbol", ts_name or "timestamp", "rate"), "funding.csv", origin)
        assert ts_name is not None
        text = frame[ts_name]
        parsed = text.str.to_datetime(time_unit="ns", strict=False)
        if parsed.has_nulls():
            row = int(np.argmax(parsed.is_null().to_numpy()))
            raise SchemaError(
                f"{origin}, line {row + 2}, field {ts_name!r}: bad timestamp "
                f"{text[row]!r}; expected an ISO date-time"
            )
        dtype = parsed.dtype
        assert isinstance(dtype, pl.Datetime)
        if dtype.time_zone is None:
            if not self.tz:
                raise SchemaError(
                    f"{origin}, line 2, field {ts_name!r}: timestamp {text[0]!r} "
                    "has no UTC offset; pass the tz option"
                )
            parsed = parsed.dt.replace_time_zone(self.tz)
        return frame.select(
            "symbol", parsed.dt.convert_time_zone("UTC").alias("ts"), "rate", LINE_COLUMN, "origin"
        )

    def read(self, symbol: str) -> pl.DataFrame:
        """Parse ``<symbol>.csv`` into the canonical columns plus ``line``.

        :raises SchemaError: naming file, line and field of the first problem.
        """
        batch = self.read_batch([symbol])
        frame = batch.frame
        return pl.DataFrame(
            [
                frame["ts"],
                *(from_mantissas(frame[n], batch.price_scales[0], n) for n in PRICE_FIELDS),
                from_mantissas(frame["volume"], batch.volume_scales[0], "volume"),
                frame[LINE_COLUMN],
            ]
        )

    def read_batch(self, symbols: Sequence[str]) -> BarBatch:
        """Parse several files in one vectorized pass (see :class:`BarBatch`).

        Files with the same header are concatenated and parsed by one
        ``pl.read_csv`` call; per-file line numbers are rebuilt from row counts.

        :raises SchemaError: naming file, line and field of the first problem.
        """
        return self._read_batch(symbols, floats=True)

    def _read_batch(self, symbols: Sequence[str], *, floats: bool) -> BarBatch:
        """:meth:`read_batch`; *floats*: read short values as float64 where that is exact."""
        unknown = [s for s in symbols if s not in self._files]
        if unknown:
            known = ", ".join(list(self._files)[:10]) + (" ..." if len(self._files) > 10 else "")
            raise DataUnavailableError(
                f"csv source: no file for {', '.join(unknown)} in {self.path}; symbols: {known}"
            )
        origins = tuple(str(self._files[s]) for s in symbols)
        groups: dict[tuple[int, ...], list[tuple[int, bytes | memoryview, int]]] = {}
        exponent = False
        for index, symbol in enumerate(symbols):
            path = self._files[symbol]
            data = path.read_bytes()
            # a UTF-8 byte-order mark (Excel exports) precedes the header
            start = 3 if data.startswith(b"\xef\xbb\xbf") else 0
            end = data.find(b"\n", start)
            end = len(data) if end < 0 else end
            header_line = data[start:end]
            indices = _column_indices(_header(header_line, str(path)), str(path))
            # the body as a view: no copy of the file until the group's rows are joined
            body: bytes | memoryview = memoryview(data)[end + 1 :]
            if not body or (data[end + 1] in b" \t\r\n\v\f" and data[end + 1 :].isspace()):
                raise SchemaError(
                    f"{path}, line 2: no data rows after the header; expected at least one bar"
                )
            if not data.endswith(b"\n"):
                body = bytes(body) + b"\n"
            # "e" in the data may be an exponent, which pl.Decimal would accept and round.
            exponent = exponent or data.find(b"e", end) >= 0 or data.find(b"E", end) >= 0
            key = (*indices.values(), header_line.count(b","))
            lines = int(np.count_nonzero(np.frombuffer(body, np.uint8) == _NEWLINE))
            groups.setdefault(key, []).append((index, body, lines))
        floats = floats and not exponent
        parts = [
            self._parse_group(key, members, origins, floats=floats)
            for key, members in groups.items()
        ]
        if len({part["close"].dtype for part in parts}) > 1:  # some groups are text
            return self._read_batch(symbols, floats=False)
        raw = pl.concat(parts) if len(parts) > 1 else parts[0]
        # Blank lines: polars keeps them as all-null rows, so line numbers stay physical.
        raw = raw.filter(~pl.all_horizontal(pl.col(("ts", *_VALUE_NAMES)).is_null()))
        ts = self._parse_ts(raw, origins)
        fast = float_mantissas(raw, _SCALE_GROUPS, len(symbols), check_exponents=exponent)
        if fast is None and raw.schema["close"] == pl.Float64:
            # the exact path reads (and words its errors from) the text itself
            return self._read_batch(symbols, floats=False)
        values, scales = fast or text_to_mantissas(
            raw, _SCALE_GROUPS, origins, check_exponents=exponent
        )
        frame = values.with_columns(ts.alias("ts")).select(
            "symbol_index", "ts", *_VALUE_NAMES, LINE_COLUMN
        )
        return BarBatch(
            symbols=tuple(symbols),
            frame=frame,
            price_scales=tuple(int(x) for x in scales["price"]),
            volume_scales=tuple(int(x) for x in scales["volume"]),
            origins=origins,
        )

    def _parse_group(
        self,
        key: tuple[int, ...],
        members: list[tuple[int, bytes | memoryview, int]],
        origins: Sequence[str],
        *,
        floats: bool = False,
    ) -> pl.DataFrame:
        """The rows of ``members`` (files with one header): ``ts`` text, the values as text —
        or, with *floats* and no field longer than :data:`MAX_TEXT`, as float64 (see
        :mod:`rbt.data.exact_fast`) — ``symbol_index`` and ``line``."""
        positions = key[:-1]
        names = ("ts", *_VALUE_NAMES)
        order = sorted(range(len(positions)), key=lambda k: positions[k])
        data = b"".join(body for _, body, _ in members)
        # Parsing floats in the reader saves casting the text afterwards (the costliest step
        # of an ingest's reading); polars' reader rounds correctly, as its cast does.
        dtypes = {f"column_{p}": pl.Float64 for p in positions[1:]}
        typed = floats and _fields_at_most(data, MAX_TEXT)
        try:
            raw = pl.read_csv(
                data,
                has_header=False,
                columns=sorted(positions),
                infer_schema=False,
                schema_overrides=dtypes if typed else None,
            )
        except pl.exceptions.PolarsError as exc:
            if typed:  # a value that is no float: the text path reports it (or reads it)
                return self._parse_group(key, members, origins)
            if len(members) > 1:  # find the file that fails, for the message
                for member in members:
                    self._parse_group(key, [member], origins)
            raise SchemaError(f"{origins[members[0][0]]}: not a readable CSV file: {exc}") from exc
        # polars returns the selected columns in file order; name them by position
        raw.columns = [names[k] for k in order]
        counts = np.array([count for _, _, count in members], dtype=np.int64)
        if raw.height != counts.sum():
            if len(members) > 1:  # e.g. a quoted field spanning lines: parse file by file
                return pl.concat([self._parse_group(key, [m], origins) for m in members])
            counts = np.array([raw.height])  # line numbers become approximate
        starts = np.cumsum(counts) - counts
        row = np.arange(raw.height, dtype=np.int64)
        symbol_index = np.repeat([index for index, _, _ in members], counts)
        return raw.select(
            pl.Series("symbol_index", symbol_index, dtype=pl.UInt32),
            *names,
            pl.Series(LINE_COLUMN, row - np.repeat(starts, counts) + 2, dtype=pl.UInt32),
        )

    def _infer_frequency(self, path: Path) -> Frequency:
        # Only a guess from the first data row; read() then checks every row against it.
        with path.open("rb") as fh:
            header_line = fh.readline().removeprefix(b"\xef\xbb\xbf")
            first = fh.readline().decode("utf-8", "replace").split(",")
        try:
            column = _column_indices(_header(header_line, str(path)), str(path))["ts"]
        except SchemaError:
            return Frequency.DAILY  # read() reports the bad header with its line number
        value = first[column].strip().strip('"') if column < len(first) else ""
        is_date = bool(re.match(r"^\d{4}-\d{2}-\d{2}(?:[ T]00:00(?::00)?)?$", value))
        return Frequency.DAILY if is_date else Frequency.MINUTE

    def _parse_ts(self, raw: pl.DataFrame, origins: Sequence[str]) -> pl.Series:
        text = raw["ts"]
        if (text.str.starts_with(" ") | text.str.ends_with(" ")).any():
            text = text.str.strip_chars()

        def fail(row: int, problem: str) -> SchemaError:
            return row_error(origins[raw["symbol_index"][row]], raw, row, "ts", problem)

        if self.frequency is Frequency.DAILY:
            timed = bool((text.str.len_bytes() > 10).any())
            # cache=False: polars' per-value cache costs more than parsing a date here
            parsed = (text.str.slice(0, 10) if timed else text).str.to_date(
                "%Y-%m-%d", strict=False, cache=False
            )
            bad = parsed.is_null()
            if timed:  # a time part: allowed only if midnight
                bad = bad | ~text.str.slice(10).str.contains(_MIDNIGHT).fill_null(False)
            if bad.any():
                row = int(np.argmax(bad.to_numpy()))
                raise fail(
                    row,
                    f"bad timestamp {text[row]!r}; expected a date like 2024-01-02 "
                    "(a daily file: one bar per session)",
                )
            return parsed
        # Intraday: polars infers the format from the first value; on a mismatch
        # retry file by file, so each file may use its own (consistent) format.
        stamps = self._to_utc(text, raw, 0, fail)
        if stamps is None:
            sym = raw["symbol_index"].to_numpy()
            starts = run_starts(sym)
            pieces = []
            for lo, hi in zip(starts, [*starts[1:], len(sym)], strict=True):
                piece = self._to_utc(text[lo:hi], raw, int(lo), fail)
                if piece is None:
                    row = int(lo) + int(
                        np.argmax(
                            text[lo:hi]
                            .str.to_datetime(time_unit="ns", strict=False, cache=False)
                            .is_null()
                            .to_numpy()
                        )
                    )
                    raise fail(
                        row,
                        f"bad timestamp {text[row]!r}; expected an ISO date-time "
                        "like 2024-01-02 14:31:00, formatted as the first row",
                    )
                pieces.append(piece)
            stamps = pl.concat(pieces)
        return stamps

    def _to_utc(
        self,
        text: pl.Series,
        raw: pl.DataFrame,
        offset: int,
        fail: Callable[[int, str], SchemaError],
    ) -> pl.Series | None:
        parsed = text.str.to_datetime(time_unit="ns", strict=False, cache=False)
        if parsed.has_nulls():
            return None
        dtype = parsed.dtype
        assert isinstance(dtype, pl.Datetime)
        if dtype.time_zone is not None:
            return parsed.dt.convert_time_zone("UTC")
        if not self.tz:
            raise fail(
                offset,
                f"intraday timestamp {text[0]!r} has no UTC offset; pass the "
                "time zone it is written in with the tz option (e.g. "
                "tz=America/New_York or tz=UTC)",
            )
        try:
            local = parsed.dt.replace_time_zone(self.tz, ambiguous="null", non_existent="null")
        except pl.exceptions.PolarsError as exc:
            raise ConfigError(f"csv source: unknown time zone tz={self.tz!r}: {exc}") from exc
        if local.has_nulls():
            row = offset + int(np.argmax(local.is_null().to_numpy()))
            raise fail(
                row,
                f"{text[row - offset]!r} is ambiguous or does not exist in {self.tz} "
                "(a daylight-saving change); expected timestamps with an offset",
            )
        return local.dt.convert_time_zone("UTC")


def _date_col(frame: pl.DataFrame, name: str, file: str, optional: bool = False) -> pl.Series:
    text = frame[name]
    parsed = text.str.to_date("%Y-%m-%d", strict=False)
    bad = parsed.is_null() & (text.is_not_null() if optional else pl.Series([True] * len(text)))
    if bad.any():
        row = int(np.argmax(bad.to_numpy()))
        origin = frame["origin"][row] if "origin" in frame.columns else file
        line = frame[LINE_COLUMN][row] if LINE_COLUMN in frame.columns else row + 2
        raise SchemaError(
            f"{origin}, line {line}, field {name!r}: bad date {text[row]!r}; "
            "expected a date like 2024-01-02"
        )
    return parsed.alias(name)


def _is_csv_name(name: str) -> bool:
    """Whether ``name``'s suffix (as :attr:`pathlib.PurePath.suffix` reads it) is ``.csv``."""
    dot = name.rfind(".")
    return 0 < dot < len(name) - 1 and name[dot:].lower() == ".csv"


def _fields_at_most(data: bytes, width: int, window: int = _WINDOW) -> bool:
    """Whether no run of more than ``width`` bytes above ``,`` is in ``data``.

    Every character of a number (``-``, ``.``, digits) is above ``,`` and a separator,
    quote, blank or ``+`` is not, so a field's number has at most ``width`` characters.
    Looked at in overlapping windows of ``window`` bytes: a few masks of one window's
    size, whatever the size of ``data``.
    """
    for start in range(0, max(len(data) - width, 1), window):
        run = np.frombuffer(data, np.uint8)[start : start + window + width] > _COMMA
        length = 1
        while length * 2 <= width:  # runs of length >= 2, 4, 8, ...: shift and AND
            run = run[:-length] & run[length:]
            length *= 2
        rest = width + 1 - length  # then runs of length >= width + 1
        if rest < len(run) and (run[:-rest] & run[rest:]).any():
            return False
    return True


def _header(line: bytes, origin: str) -> list[str]:
    if not line.strip():
        raise SchemaError(
            f"{origin}, line 1: empty file; expected a header line with columns "
            f"{', '.join(('date', *_VALUE_NAMES))}"
        )
    try:
        text = line.decode("utf-8")
    except UnicodeDecodeError as exc:
        raise SchemaError(f"{origin}, line 1: header is not UTF-8 text ({exc})") from None
    return [h.strip().strip('"').strip().lower() for h in text.split(",")]


def _column_indices(header: list[str], origin: str) -> dict[str, int]:
    position = {name: i for i, name in reversed(list(enumerate(header)))}
    indices: dict[str, int] = {}
    ts = next((position[n] for n in _TS_NAMES if n in position), None)
    if ts is None and header and header[0] == "":
        ts = 0
    if ts is None:
        raise SchemaError(
            f"{origin}, line 1 (header), field 'ts': no timestamp column; expected one named "
            f"{', '.join(_TS_NAMES)} or an unnamed first column (found: {', '.join(header)})"
        )
    indices["ts"] = ts
    missing = [n for n in _VALUE_NAMES if n not in position]
    if missing:
        raise SchemaError(
            f"{origin}, line 1 (header), field {missing[0]!r}: missing column(s) "
            f"{', '.join(missing)}; expected columns {', '.join(_VALUE_NAMES)} "
            f"(any case; found: {', '.join(header)})"
        )
    indices.update({n: position[n] for n in _VALUE_NAMES})
    return indices
