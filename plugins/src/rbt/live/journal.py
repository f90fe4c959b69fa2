"""The engine's persistence for paper and live runs (tables of migration ``0004_live``).

* **Save before send**: :meth:`Journal.record_intent` commits the order row with its
  client order id and the persisted sequence counter *before* the broker is called;
  if that commit fails, nothing is sent.
* **Exactly once**: fills are unique on ``(venue, account, trade_id)``; a duplicate or
  late copy is not inserted again (:meth:`Journal.record_fill` returns False).
* **Audit**: ``order_audit_log`` is append-only and hash-chained; :func:`verify_audit`
  recomputes the chain.
* **Strategy state**: :func:`dump_state` / :func:`load_state` (design.md §2.1a.9).

SQLite files get ``journal_mode=WAL`` (from :func:`rbt.data.db.open_database`) and
``synchronous=FULL`` on the journal's connection.
"""

from __future__ import annotations

import datetime as dt
import hashlib
import json
from collections.abc import Mapping
from decimal import Decimal
from typing import Any

import sqlalchemy as sa
from sqlalchemy.engine import Connection, Engine

from rbt.kernel.errors import RbtError
from rbt.kernel.model import Asset, Fill, Order
from rbt.security.redaction import redact

__all__ = [
    "GENESIS",
    "Journal",
    "StateError",
    "dump_state",
    "load_state",
    "verify_audit",
]

GENESIS = "0" * 64


class StateError(RbtError):
    """The strategy's context holds an attribute that cannot be persisted."""


# -- strategy state -------------------------------------------------------------------
_RESERVED = {"portfolio", "params"}


def _encode(value: Any, path: str) -> Any:
    if value is None or isinstance(value, bool | int | str):
        return value
    if isinstance(value, float):
        return value
    if isinstance(value, Decimal):
        return {"__decimal__": str(value)}
    if isinstance(value, dt.datetime):
        return {"__datetime__": value.isoformat()}
    if isinstance(value, dt.date):
        return {"__date__": value.isoformat()}
    if isinstance(value, Asset):
        return {"__asset__": value.sid, "symbol": value.symbol}
    if isinstance(value, list | tuple):
        return [_encode(v, f"{path}[{i}]") for i, v in enumerate(value)]
    if isinstance(value, dict):
        out = {}
        for key, item in value.items():
            if not isinstance(key, str):
                raise StateError(
                    f"context.{path}: dict key {key!r} is not a string; define "
                    "get_state/set_state on the strategy to persist it"
                )
            out[key] = _encode(item, f"{path}[{key!r}]")
        return out
    raise StateError(
        f"context.{path} is a {type(value).__name__}, which cannot be persisted (JSON, "
        "Decimal, datetime and Asset can); define get_state/set_state on the strategy"
    )


def _decode(value: Any, assets: Mapping[int, Asset]) -> Any:
    if isinstance(value, list):
        return [_decode(v, assets) for v in value]
    if isinstance(value, dict):
        if "__decimal__" in value:
            return Decimal(value["__decimal__"])
        if "__datetime__" in value:
            return dt.datetime.fromisoformat(value["__datetime__"])
        if "__date__" in value:
            return dt.date.fromisoformat(value["__date__"])
        if "__asset__" in value:
            return assets[value["__asset__"]]
        return {k: _decode(v, assets) for k, v in value.items()}
    return value


def dump_state(strategy: Any, context: Any) -> str:
    """The strategy's state as canonical JSON.

    Uses ``strategy.get_state(context)`` when defined, else the user attributes of
    ``context``.

    :raises StateError: naming the first attribute that cannot be persisted.
    """
    getter = getattr(strategy, "get_state", None)
    if getter is not None:
        payload = {"custom": _encode(getter(context), "get_state()")}
    else:
        attrs_ = {k: v for k, v in vars(context).items() if k not in _RESERVED}
        payload = {"attrs": {k: _encode(v, k) for k, v in sorted(attrs_.items())}}
    return json.dumps(payload, sort_keys=True, separators=(",", ":"))


def load_state(strategy: Any, context: Any, text: str, assets: Mapping[int, Asset]) -> None:
    """Restore what :func:`dump_state` saved."""
    payload = json.loads(text)
    if "custom" in payload:
        setter = getattr(strategy, "set_state", None)
        if setter is None:
            raise StateError("saved state came from get_state, but the strategy has no set_state")
        setter(context, _decode(payload["custom"], assets))
        return
    for key, value in payload["attrs"].items():
        setattr(context, key, _decode(value, assets))


# -- audit chain ----------------------------------------------------------------------
def _chain_hash(prev: str, ts: int, event: str, client_id: str | None, payload: str) -> str:
    text = json.dumps([prev, ts, event, client_id, payload], separators=(",", ":"))
    return hashlib.sha256(text.encode()).hexdigest()


def verify_audit(engine: Engine, run_id: str) -> int:
    """Recompute the audit chain of ``run_id``; return its length.

    :raises RbtError: at the first row whose link or hash does not match.
    """
    prev = GENESIS
    count = 0
    with engine.connect() as conn:
        rows = conn.execute(
            sa.text(
                "SELECT id, ts, event, client_order_id, payload, prev_hash, hash "
                "FROM order_audit_log WHERE run_id = :r ORDER BY id"
            ),
            {"r": run_id},
        )
        for row_id, ts, event, client_id, payload, prev_hash, digest in rows:
            if prev_hash != prev:
                raise RbtError(f"audit chain broken at row {row_id}: link does not match")
            if _chain_hash(prev, ts, event, client_id, payload) != digest:
                raise RbtError(f"audit chain broken at row {row_id}: hash does not match")
            prev = digest
            count += 1
    return count


def _style_json(order: Order) -> str:
    style = order.style
    out: dict[str, Any] = {}
    for field in (
        "type",
        "limit_price",
        "stop_price",
        "time_in_force",
        "trail_amount",
        "trail_percent",
        "good_till",
        "oco_group",
        "parent_id",
        "replaces",
    ):
        value = getattr(style, field, None)
        if value is not None:
            out[field] = str(getattr(value, "value", value))
    return json.dumps(out, sort_keys=True)


class Journal:
    """The engine-side records of one paper/live run."""

    def __init__(self, engine: Engine, run_id: str, *, venue: str, account: str) -> None:
        self.engine = engine
        self.run_id = run_id
        self.venue = venue
        self.account = account
        self.conn: Connection = engine.connect()
        if engine.dialect.name == "sqlite":
            self.conn.exec_driver_sql("PRAGMA synchronous=FULL")
            self.conn.commit()
        self._prev = self._last_hash()

    def close(self) -> None:
        self.conn.close()

    def _last_hash(self) -> str:
        row = self.conn.execute(
            sa.text("SELECT hash FROM order_audit_log WHERE run_id = :r ORDER BY id DESC LIMIT 1"),
            {"r": self.run_id},
        ).fetchone()
        self.conn.commit()
        return row[0] if row else GENESIS

    def _exec(self, sql: str, **params: Any) -> Any:
        return self.conn.execute(sa.text(sql), params)

    def commit(self) -> None:
        self.conn.commit()

    def audit(self, ts: int, event: str, client_id: str | None, payload: Mapping[str, Any]) -> None:
        """Append one audit row (committed with the surrounding transaction)."""
        # secrets masked: venue errors quote what they were sent (reliability.md B.2.3)
        text = redact(json.dumps(payload, sort_keys=True, separators=(",", ":"), default=str))
        digest = _chain_hash(self._prev, ts, event, client_id, text)
        self._exec(
            "INSERT INTO order_audit_log (run_id, ts, event, client_order_id, payload, "
            "prev_hash, hash) VALUES (:r, :ts, :e, :c, :p, :prev, :h)",
            r=self.run_id,
            ts=ts,
            e=event,
            c=client_id,
            p=text,
            prev=self._prev,
            h=digest,
        )
        self._prev = digest

    # -- sessions ---------------------------------------------------------------------
    def session_row(self) -> dict[str, Any] | None:
        row = (
            self._exec(
                "SELECT run_id, status, trading_state, state_reason, seq, checkpoint_seq, "
                "last_ts, cash, portfolio_value, peak_value, session_start_value "
                "FROM live_sessions "
                "WHERE run_id = :r",
                r=self.run_id,
            )
            .mappings()
            .fetchone()
        )
        self.conn.commit()
        return dict(row) if row else None

    def start_session(
        self, mode: str, strategy: str, config: Mapping[str, Any], capital: Decimal
    ) -> dict[str, Any] | None:
        """Create the run's row, or return the existing one (a restart)."""
        existing = self.session_row()
        if existing is None:
            self._exec(
                "INSERT INTO live_sessions (run_id, mode, strategy, config, status, "
                "trading_state, seq, capital, updated_at) VALUES (:r, :m, :s, :c, 'running', "
                "'ACTIVE', 0, :cap, :now)",
                r=self.run_id,
                m=mode,
                s=strategy,
                c=json.dumps(config, sort_keys=True, default=str),
                cap=str(capital),
                now=_now(),
            )
            self.commit()
        return existing

    def record_connection(self, name: str, broker: str, options: Mapping[str, Any]) -> None:
        """Describe the broker connection (never secrets: those live in the credentials
        store); one row per name."""
        exists = self._exec("SELECT 1 FROM broker_connections WHERE name = :n", n=name).fetchone()
        if exists is None:
            self._exec(
                "INSERT INTO broker_connections (name, broker, venue, account, options, "
                "created_at) VALUES (:n, :b, :v, :a, :o, :now)",
                n=name,
                b=broker,
                v=self.venue,
                a=self.account,
                o=json.dumps(dict(options), sort_keys=True, default=str),
                now=_now(),
            )
        self.commit()

    def set_status(self, status: str) -> None:
        self._exec(
            "UPDATE live_sessions SET status = :s, updated_at = :now WHERE run_id = :r",
            s=status,
            now=_now(),
            r=self.run_id,
        )
        self.commit()

    def trading_state(self) -> tuple[str, str]:
        row = self._exec(
            "SELECT trading_state, state_reason FROM live_sessions WHERE run_id = :r",
            r=self.run_id,
        ).fetchone()
        self.conn.commit()
        return (row[0], row[1]) if row else ("ACTIVE", "")

    def set_trading_state(self, state: str, reason: str, ts: int) -> None:
        self._exec(
            "UPDATE live_sessions SET trading_state = :s, state_reason = :why, updated_at = :now "
            "WHERE run_id = :r",
            s=state,
            why=redact(reason),
            now=_now(),
            r=self.run_id,
        )
        self.audit(ts, "trading_state", None, {"state": state, "reason": reason})
        self.commit()

    # -- orders and fills ---------------------------------------------------------------
    def known_order(self, client_id: str) -> bool:
        row = self._exec(
            "SELECT 1 FROM orders WHERE venue = :v AND account = :a AND client_order_id = :c",
            v=self.venue,
            a=self.account,
            c=client_id,
        ).fetchone()
        return row is not None

    def record_intent(self, order: Order, seq: int) -> bool:
        """Commit the intent and the sequence counter before the send.

        Returns False when the intent is already recorded (a restart re-deciding a bar).
        """
        if self.known_order(order.id):
            self.conn.commit()
            return False
        self._exec(
            "INSERT INTO orders (venue, account, run_id, client_order_id, seq, sid, symbol, "
            "amount, style, created, status) VALUES (:v, :a, :r, :c, :seq, :sid, :sym, :amt, "
            ":style, :created, 'submitting')",
            v=self.venue,
            a=self.account,
            r=self.run_id,
            c=order.id,
            seq=seq,
            sid=order.asset.sid,
            sym=order.asset.symbol,
            amt=str(order.amount),
            style=_style_json(order),
            created=order.created,
        )
        self._exec(
            "UPDATE live_sessions SET seq = :s WHERE run_id = :r AND seq < :s", s=seq, r=self.run_id
        )
        self.audit(
            order.created,
            "intent",
            order.id,
            {"sid": order.asset.sid, "amount": str(order.amount), "style": _style_json(order)},
        )
        self.commit()
        return True

    def record_order_state(self, order: Order, ts: int) -> None:
        self._exec(
            "UPDATE orders SET status = :s, filled = :f, reason = :why WHERE venue = :v AND "
            "account = :a AND client_order_id = :c",
            s=order.status.value,
            f=str(order.filled),
            why=redact(order.reason) if order.reason else order.reason,
            v=self.venue,
            a=self.account,
            c=order.id,
        )
        self.audit(
            ts,
            "order",
            order.id,
            {"status": order.status.value, "filled": str(order.filled), "reason": order.reason},
        )

    def record_fill(self, fill: Fill) -> bool:
        """Insert ``fill`` once; False for a duplicate trade id (nothing written)."""
        exists = self._exec(
            "SELECT 1 FROM fills WHERE venue = :v AND account = :a AND trade_id = :t",
            v=self.venue,
            a=self.account,
            t=fill.id,
        ).fetchone()
        if exists:
            return False
        self._exec(
            "INSERT INTO fills (venue, account, run_id, trade_id, client_order_id, sid, amount, "
            "price, commission, ts) VALUES (:v, :a, :r, :t, :c, :sid, :amt, :p, :com, :ts)",
            v=self.venue,
            a=self.account,
            r=self.run_id,
            t=fill.id,
            c=fill.order_id,
            sid=fill.asset.sid,
            amt=str(fill.amount),
            p=str(fill.price),
            com=str(fill.commission),
            ts=fill.ts,
        )
        self.audit(
            fill.ts,
            "fill",
            fill.order_id,
            {
                "trade_id": fill.id,
                "amount": str(fill.amount),
                "price": str(fill.price),
                "commission": str(fill.commission),
            },
        )
        return True

    def checkpoint(
        self,
        ts: int,
        *,
        cash: Decimal,
        value: Decimal,
        positions: list[tuple[Asset, Decimal, Decimal]],
        state: str | None,
        peak: Decimal,
        session_start: Decimal,
        seq: int | None = None,
    ) -> None:
        """Positions, strategy state, the watermark and the id sequence, in one
        transaction."""
        self._exec("DELETE FROM live_positions WHERE run_id = :r", r=self.run_id)
        for asset, amount, price in positions:
            self._exec(
                "INSERT INTO live_positions (run_id, sid, symbol, amount, last_price) "
                "VALUES (:r, :sid, :sym, :amt, :p)",
                r=self.run_id,
                sid=asset.sid,
                sym=asset.symbol,
                amt=str(amount),
                p=str(price),
            )
        if state is not None:
            self._exec("DELETE FROM strategy_state WHERE run_id = :r", r=self.run_id)
            self._exec(
                "INSERT INTO strategy_state (run_id, ts, state) VALUES (:r, :ts, :s)",
                r=self.run_id,
                ts=ts,
                s=state,
            )
        self._exec(
            "UPDATE live_sessions SET last_ts = :ts, cash = :cash, portfolio_value = :v, "
            "peak_value = :peak, session_start_value = :ss, checkpoint_seq = :seq, "
            "updated_at = :now WHERE run_id = :r",
            ts=ts,
            seq=seq,
            cash=str(cash),
            v=str(value),
            peak=str(peak),
            ss=str(session_start),
            now=_now(),
            r=self.run_id,
        )
        self.commit()

    def strategy_state(self) -> str | None:
        row = self._exec(
            "SELECT state FROM strategy_state WHERE run_id = :r", r=self.run_id
        ).fetchone()
        self.conn.commit()
        return row[0] if row else None

    def positions(self) -> dict[int, Decimal]:
        rows = self._exec(
            "SELECT sid, amount FROM live_positions WHERE run_id = :r", r=self.run_id
        ).fetchall()
        self.conn.commit()
        return {sid: Decimal(a) for sid, a in rows if Decimal(a) != 0}

    def last_price(self, sid: int) -> Decimal | None:
        """The price ``sid`` was last marked at in a checkpoint, or None."""
        row = self._exec(
            "SELECT last_price FROM live_positions WHERE run_id = :r AND sid = :s",
            r=self.run_id,
            s=sid,
        ).fetchone()
        self.conn.commit()
        return Decimal(row[0]) if row else None

    def fill_ids(self) -> set[str]:
        rows = self._exec("SELECT trade_id FROM fills WHERE run_id = :r", r=self.run_id)
        out = {r[0] for r in rows}
        self.conn.commit()
        return out

    def order_ids(self) -> set[str]:
        """Client ids of every order intent this run journaled."""
        rows = self._exec("SELECT client_order_id FROM orders WHERE run_id = :r", r=self.run_id)
        out = {r[0] for r in rows}
        self.conn.commit()
        return out

    def open_order_ids(self) -> set[str]:
        rows = self._exec(
            "SELECT client_order_id FROM orders WHERE run_id = :r AND status IN "
            "('submitting', 'new', 'submitted', 'accepted', 'partially_filled', 'pending_cancel')",
            r=self.run_id,
        )
        out = {r[0] for r in rows}
        self.conn.commit()
        return out


def _now() -> dt.datetime:
    return dt.datetime.now(dt.UTC)
