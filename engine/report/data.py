"""What the report shows, read from a journal in one pass: plain attrs data, no HTML.

``extract(reader)`` reads the events table in recording order and returns a ``ReportData``:

* **curves** — per account, the P&L curve from P&L candles: one point per candle bucket, its
  close. ``PnlCandleClosed`` gives a bucket's final value; a bucket with no closed candle (the
  one still open when the journal ends, or candles recorded before the engine published closed
  ones) takes the last ``PnlCandleReceived`` for it (the venue repeats the open bucket: upsert
  by ``time``). An account with no candles gets its ``BalanceChanged.total_equity`` instead.
* **fills** and **rejections** — every ``OrderFilled`` and ``OrderRejected``.
* **symbols** — realized P&L per account and symbol by average cost (``engine.report.pnl``),
  seeded with the positions of the account's first snapshot when it precedes the account's
  first fill, and the last ``PositionChanged`` the venue reported (quantity, unrealized P&L,
  today's realized P&L).
* **incidents** — per socket, each spell from ``DISCONNECTED`` / ``FAILED`` until the socket
  is ``SUBSCRIBED`` again (reconnect attempts that fail before that belong to the same spell).

Times are aware UTC: a fill's or rejection's time is the venue's (``ts_event``) when it sent
one, else when the engine received it; everything else uses the receive time.
"""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from decimal import Decimal

import attrs

from engine.journal.codec import JournalGap
from engine.journal.reader import JournalReader
from engine.model.account import Position
from engine.model.enums import ConnectionState, Side
from engine.model.events import (
    AccountSnapshotReceived,
    BalanceChanged,
    ConnectionStateChanged,
    Event,
    OrderFilled,
    OrderRejected,
    PositionChanged,
)
from engine.model.streams import PnlCandleClosed, PnlCandleReceived
from engine.report.pnl import CostBasis

__all__ = [
    "Curve",
    "CurvePoint",
    "FillRow",
    "Incident",
    "RejectionRow",
    "ReportData",
    "SymbolPnl",
    "extract",
]

CANDLES = "pnl_candles"
BALANCE = "balance"

_KINDS: tuple[type[Event], ...] = (
    PnlCandleClosed,
    PnlCandleReceived,
    BalanceChanged,
    OrderFilled,
    OrderRejected,
    PositionChanged,
    AccountSnapshotReceived,
    ConnectionStateChanged,
    JournalGap,
)
_DOWN = (ConnectionState.DISCONNECTED, ConnectionState.FAILED)


def _utc(value: datetime) -> datetime:
    """``value`` as aware UTC (a naive time is taken to be UTC already)."""
    return value.replace(tzinfo=UTC) if value.tzinfo is None else value.astimezone(UTC)


def _event_time(event: Event) -> datetime:
    """The venue's time of ``event`` if it sent one, else when the engine received it."""
    return _utc(event.ts_event) if event.ts_event is not None else event.recv_time


@attrs.frozen(kw_only=True)
class CurvePoint:
    """One point of a curve: ``value`` at ``time``; a candle's range in ``low``/``high``."""

    time: datetime
    value: Decimal
    low: Decimal | None = None
    high: Decimal | None = None


@attrs.frozen(kw_only=True)
class Curve:
    """One account's curve. ``source`` is ``"pnl_candles"`` (P&L) or ``"balance"`` (equity)."""

    account_id: str
    source: str
    label: str
    points: tuple[CurvePoint, ...]


@attrs.frozen(kw_only=True)
class FillRow:
    """One ``OrderFilled``: this fill's ``qty`` at ``price``."""

    time: datetime
    account_id: str
    symbol: str
    side: Side
    qty: Decimal
    price: Decimal
    strategy: str | None


@attrs.frozen(kw_only=True)
class RejectionRow:
    """One ``OrderRejected`` (``source``: risk plugin, engine, dispatcher or venue)."""

    time: datetime
    account_id: str
    symbol: str
    code: str
    source: str
    reason: str
    strategy: str | None


@attrs.frozen(kw_only=True)
class SymbolPnl:
    """P&L of one symbol in one account.

    ``opening``, ``bought``, ``sold``, ``position``, ``average`` and ``realized`` come from the
    journal's fills (average cost, see ``engine.report.pnl``); ``venue_quantity``,
    ``unrealized`` and ``venue_realized`` are the last ``PositionChanged`` (``None`` if none,
    or if the venue did not report the figure).
    """

    account_id: str
    symbol: str
    fills: int
    opening: Decimal
    bought: Decimal
    sold: Decimal
    position: Decimal
    average: Decimal
    realized: Decimal
    venue_quantity: Decimal | None
    unrealized: Decimal | None
    venue_realized: Decimal | None

    @property
    def total(self) -> Decimal:
        """Realized from fills plus the last known unrealized (zero when unknown)."""
        return self.realized + (self.unrealized if self.unrealized is not None else Decimal(0))


@attrs.frozen(kw_only=True)
class Incident:
    """One socket outage: from the first ``DISCONNECTED``/``FAILED`` to ``SUBSCRIBED`` again.

    ``disconnects`` counts the ``DISCONNECTED`` (or ``FAILED``) states of the spell: 1 when the
    first reconnect worked. ``recovered_at`` is ``None`` when the journal ends before recovery.
    """

    endpoint: str
    started: datetime
    state: ConnectionState
    reasons: tuple[str, ...]
    disconnects: int
    recovered_at: datetime | None

    @property
    def duration(self) -> timedelta | None:
        """How long the socket was down, or ``None`` if it did not recover in the journal."""
        return None if self.recovered_at is None else self.recovered_at - self.started


@attrs.frozen(kw_only=True)
class ReportData:
    """Everything the report renders (see the module docstring)."""

    journal: str
    first_time: datetime | None
    last_time: datetime | None
    curves: tuple[Curve, ...]
    fills: tuple[FillRow, ...]
    rejections: tuple[RejectionRow, ...]
    symbols: tuple[SymbolPnl, ...]
    incidents: tuple[Incident, ...]
    dropped_records: int = 0
    skipped_rows: int = 0

    @property
    def equity_source(self) -> str:
        """``"pnl_candles"`` if any curve is from candles, else ``"balance"``, else ``"none"``."""
        sources = {curve.source for curve in self.curves}
        for source in (CANDLES, BALANCE):
            if source in sources:
                return source
        return "none"


@attrs.define
class _Incidents:
    """Folds ``ConnectionStateChanged`` events into ``Incident`` spells, per endpoint."""

    done: list[Incident] = attrs.field(factory=list)
    open: dict[str, Incident] = attrs.field(factory=dict)

    def add(self, event: ConnectionStateChanged) -> None:
        endpoint = str(event.endpoint)
        current = self.open.get(endpoint)
        if event.state in _DOWN:
            if current is None:
                self.open[endpoint] = Incident(
                    endpoint=endpoint,
                    started=event.recv_time,
                    state=event.state,
                    reasons=(event.reason,) if event.reason else (),
                    disconnects=1,
                    recovered_at=None,
                )
                return
            reasons = current.reasons
            if event.reason and event.reason not in reasons:
                reasons = (*reasons, event.reason)
            self.open[endpoint] = attrs.evolve(
                current,
                state=ConnectionState.FAILED
                if event.state is ConnectionState.FAILED
                else current.state,
                reasons=reasons,
                disconnects=current.disconnects + 1,
            )
        elif event.state is ConnectionState.SUBSCRIBED and current is not None:
            self.done.append(attrs.evolve(current, recovered_at=event.recv_time))
            del self.open[endpoint]

    def result(self) -> tuple[Incident, ...]:
        return tuple(sorted((*self.done, *self.open.values()), key=lambda i: i.started))


@attrs.define
class _Positions:
    """Average-cost bases and last venue positions, per (account, symbol)."""

    bases: dict[tuple[str, str], CostBasis] = attrs.field(factory=dict)
    openings: dict[tuple[str, str], Decimal] = attrs.field(factory=dict)
    last: dict[tuple[str, str], Position] = attrs.field(factory=dict)
    snapshot_seen: set[str] = attrs.field(factory=set)
    traded: set[str] = attrs.field(factory=set)

    def snapshot(self, event: AccountSnapshotReceived) -> None:
        """Seed the bases with the first snapshot of an account, if no fill came before it."""
        if event.account_id in self.snapshot_seen:
            return
        self.snapshot_seen.add(event.account_id)
        if event.account_id in self.traded:
            return
        for position in event.positions:
            if position.quantity != 0:
                key = (event.account_id, position.symbol)
                self.bases[key] = CostBasis.opened(position.quantity, position.avg_price)
                self.openings[key] = position.quantity

    def fill(self, event: OrderFilled) -> None:
        self.traded.add(event.account_id)
        key = (event.account_id, event.symbol)
        self.bases.setdefault(key, CostBasis()).apply(event.side, event.qty, event.price)

    def position(self, event: PositionChanged) -> None:
        self.last[(event.account_id, event.position.symbol)] = event.position

    def result(self) -> tuple[SymbolPnl, ...]:
        rows = []
        for key in sorted(self.bases.keys() | self.last.keys()):
            basis = self.bases.get(key, CostBasis())
            last = self.last.get(key)
            rows.append(
                SymbolPnl(
                    account_id=key[0],
                    symbol=key[1],
                    fills=basis.fills,
                    opening=self.openings.get(key, Decimal(0)),
                    bought=basis.bought,
                    sold=basis.sold,
                    position=basis.position,
                    average=basis.average,
                    realized=basis.realized,
                    venue_quantity=None if last is None else last.quantity,
                    unrealized=None if last is None else last.unrealized_pnl,
                    venue_realized=None if last is None else last.today_realized_pnl,
                )
            )
        return tuple(rows)


def _curves(
    closed: dict[tuple[str, str], dict[datetime, CurvePoint]],
    received: dict[tuple[str, str], dict[datetime, CurvePoint]],
    equity: dict[str, list[CurvePoint]],
) -> tuple[Curve, ...]:
    curves: list[Curve] = []
    with_candles: set[str] = set()
    for account_id, interval in sorted(closed.keys() | received.keys()):
        buckets = dict(received.get((account_id, interval), {}))
        buckets.update(closed.get((account_id, interval), {}))  # final values win
        points = tuple(point for _, point in sorted(buckets.items()))
        label = f"{account_id} — P&L, {interval} candles"
        curves.append(Curve(account_id=account_id, source=CANDLES, label=label, points=points))
        with_candles.add(account_id)
    for account_id in sorted(equity.keys() - with_candles):
        label = f"{account_id} — total equity (from balance updates)"
        points = tuple(equity[account_id])
        curves.append(Curve(account_id=account_id, source=BALANCE, label=label, points=points))
    return tuple(curves)


@attrs.define
class _Collector:
    """Folds the journal's events, in recording order, into what ``ReportData`` holds."""

    closed: dict[tuple[str, str], dict[datetime, CurvePoint]] = attrs.field(factory=dict)
    received: dict[tuple[str, str], dict[datetime, CurvePoint]] = attrs.field(factory=dict)
    equity: dict[str, list[CurvePoint]] = attrs.field(factory=dict)
    fills: list[FillRow] = attrs.field(factory=list)
    rejections: list[RejectionRow] = attrs.field(factory=list)
    positions: _Positions = attrs.field(factory=_Positions)
    incidents: _Incidents = attrs.field(factory=_Incidents)
    first: datetime | None = None
    last: datetime | None = None
    dropped: int = 0

    def add(self, event: Event) -> None:
        when = event.recv_time
        self.first = when if self.first is None else min(self.first, when)
        self.last = when if self.last is None else max(self.last, when)
        if isinstance(event, PnlCandleClosed | PnlCandleReceived):
            table = self.closed if isinstance(event, PnlCandleClosed) else self.received
            bucket = _utc(event.time)
            table.setdefault((event.account_id, event.interval), {})[bucket] = CurvePoint(
                time=bucket, value=event.close, low=event.low, high=event.high
            )
        elif isinstance(event, BalanceChanged):
            point = CurvePoint(time=when, value=event.balance.total_equity)
            self.equity.setdefault(event.account_id, []).append(point)
        elif isinstance(event, OrderFilled):
            self.positions.fill(event)
            self.fills.append(
                FillRow(
                    time=_event_time(event),
                    account_id=event.account_id,
                    symbol=event.symbol,
                    side=event.side,
                    qty=event.qty,
                    price=event.price,
                    strategy=event.strategy,
                )
            )
        elif isinstance(event, OrderRejected):
            self.rejections.append(
                RejectionRow(
                    time=_event_time(event),
                    account_id=event.account_id,
                    symbol=event.symbol,
                    code=event.code,
                    source=event.source,
                    reason=event.reason,
                    strategy=event.strategy,
                )
            )
        elif isinstance(event, PositionChanged):
            self.positions.position(event)
        elif isinstance(event, AccountSnapshotReceived):
            self.positions.snapshot(event)
        elif isinstance(event, ConnectionStateChanged):
            self.incidents.add(event)
        elif isinstance(event, JournalGap):
            self.dropped += event.dropped


def extract(reader: JournalReader) -> ReportData:
    """Read everything the report needs from ``reader``, in one pass over its events."""
    collector = _Collector()
    for event in reader.events(kinds=_KINDS):
        collector.add(event)
    return ReportData(
        journal=reader.path.name,
        first_time=collector.first,
        last_time=collector.last,
        curves=_curves(collector.closed, collector.received, collector.equity),
        fills=tuple(collector.fills),
        rejections=tuple(collector.rejections),
        symbols=collector.positions.result(),
        incidents=collector.incidents.result(),
        dropped_records=collector.dropped,
        skipped_rows=sum(reader.skipped.values()),
    )
