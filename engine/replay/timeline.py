"""Reading a journal back as one stream, in recording order, for ``aries-engine replay``.

``JournalTimeline.items()`` merges the rows of the ``events``, ``frames``, ``intents`` and
``verdicts`` tables by their ``seq`` (the journal's recording order across tables, see
``engine.journal.schema``) into typed items: ``EventItem`` (a decoded engine event),
``FrameItem`` (a raw inbound frame, of the endpoints asked for), ``IntentItem`` and
``VerdictItem`` (what the live risk gate was asked and what it answered). Rows whose kind this
engine cannot rebuild are skipped and counted (``skipped``), as ``JournalReader`` does.

Synchronous (plain ``sqlite3``, streaming): use it before ``trio.run`` or from one task.
"""

from __future__ import annotations

import heapq
import sqlite3
from collections.abc import Iterable, Iterator
from pathlib import Path
from types import TracebackType
from typing import Any

import attrs

from engine.errors import EngineError
from engine.journal.codec import JournalCodec
from engine.journal.schema import connect
from engine.model.events import Event
from engine.model.orders import CancelIntent, OrderIntent, RiskVerdict

__all__ = [
    "EventItem",
    "FrameItem",
    "IntentItem",
    "JournalTimeline",
    "ReplayError",
    "TimelineItem",
    "VerdictItem",
]


class ReplayError(EngineError):
    """The replay cannot run: the journal is missing or unreadable, or a name is unknown."""


@attrs.frozen(kw_only=True)
class EventItem:
    """One row of ``events``: an event as the live bus published it."""

    seq: int
    ts_ns: int
    event: Event


@attrs.frozen(kw_only=True)
class FrameItem:
    """One row of ``frames``: a raw frame as a socket received it."""

    seq: int
    ts_ns: int
    endpoint: str
    raw: str


@attrs.frozen(kw_only=True)
class IntentItem:
    """One row of ``intents``: an intent the live account actor put to risk."""

    seq: int
    ts_ns: int
    intent: OrderIntent | CancelIntent


@attrs.frozen(kw_only=True)
class VerdictItem:
    """One row of ``verdicts``: the live risk verdict on ``client_order_id``."""

    seq: int
    ts_ns: int
    client_order_id: str
    verdict: RiskVerdict


TimelineItem = EventItem | FrameItem | IntentItem | VerdictItem


class JournalTimeline:
    """A journal opened for replay (it must exist and be a journal).

    Raises:
        ReplayError: at construction, when the file is missing, is not a journal, or was
            written by a newer engine.
    """

    def __init__(self, path: Path) -> None:
        self.path = Path(path)
        if not self.path.is_file():
            raise ReplayError(f"{self.path}: no such journal file")
        try:
            self._conn = connect(self.path, create=False)
        except sqlite3.Error as exc:
            raise ReplayError(f"{self.path}: not a readable journal ({exc})") from None
        self._codec = JournalCodec()

    def close(self) -> None:
        """Close the connection."""
        self._conn.close()

    def __enter__(self) -> JournalTimeline:
        return self

    def __exit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        self.close()

    @property
    def skipped(self) -> dict[str, int]:
        """Rows skipped so far because their kind could not be decoded, by kind."""
        return dict(self._codec.skipped)

    # --- what the replay needs to know before it starts ------------------------------------

    def row_counts(self) -> dict[str, int]:
        """Rows per table (``events``, ``frames``, ``intents``, ``verdicts``)."""
        tables = ("events", "frames", "intents", "verdicts")
        return {
            t: int(self._conn.execute(f"SELECT count(*) FROM {t}").fetchone()[0]) for t in tables
        }

    def has_events(self, kinds: Iterable[type]) -> bool:
        """Whether the events table holds any row of these classes (exact names)."""
        names = [kind.__name__ for kind in kinds]
        marks = ",".join("?" * len(names))
        row = self._conn.execute(f"SELECT 1 FROM events WHERE kind IN ({marks}) LIMIT 1", names)
        return row.fetchone() is not None

    def event_accounts(self) -> set[str]:
        """The accounts with at least one recorded event."""
        rows = self._conn.execute(
            "SELECT DISTINCT account_id FROM events WHERE account_id IS NOT NULL"
        )
        return {row[0] for row in rows}

    def synced_accounts(self) -> set[str]:
        """The accounts with at least one recorded ``AccountSynced``."""
        rows = self._conn.execute(
            "SELECT DISTINCT account_id FROM events"
            " WHERE kind = 'AccountSynced' AND account_id IS NOT NULL"
        )
        return {row[0] for row in rows}

    def recorded_orders(self) -> list[tuple[str, str]]:
        """``(strategy, client_order_id)`` of every recorded intent, in recording order."""
        rows = self._conn.execute("SELECT strategy, client_order_id FROM intents ORDER BY seq")
        return [(row[0], row[1]) for row in rows]

    # --- the stream ------------------------------------------------------------------------

    def items(self, frame_endpoints: Iterable[str] = ()) -> Iterator[TimelineItem]:
        """Every event, intent and verdict, and the frames of ``frame_endpoints``, by ``seq``."""
        streams: list[Iterator[TimelineItem]] = [
            self._events(),
            self._intents(),
            self._verdicts(),
        ]
        endpoints = sorted(set(frame_endpoints))
        if endpoints:
            streams.append(self._frames(endpoints))
        yield from heapq.merge(*streams, key=lambda item: item.seq)

    def _rows(self, sql: str, args: Iterable[Any] = ()) -> Iterator[tuple[Any, ...]]:
        yield from self._conn.execute(sql, tuple(args))

    def _events(self) -> Iterator[TimelineItem]:
        sql = "SELECT seq, ts_recv_ns, kind, payload FROM events ORDER BY seq"
        for seq, ts, kind, payload in self._rows(sql):
            event = self._codec.decode(kind, payload)
            if isinstance(event, Event):
                yield EventItem(seq=seq, ts_ns=ts, event=event)

    def _frames(self, endpoints: list[str]) -> Iterator[TimelineItem]:
        marks = ",".join("?" * len(endpoints))
        sql = (
            "SELECT seq, ts_recv_ns, endpoint, raw FROM frames"
            f" WHERE endpoint IN ({marks}) ORDER BY seq"
        )
        for seq, ts, endpoint, raw in self._rows(sql, endpoints):
            yield FrameItem(seq=seq, ts_ns=ts, endpoint=endpoint, raw=raw)

    def _intents(self) -> Iterator[TimelineItem]:
        sql = "SELECT seq, ts_ns, kind, payload FROM intents ORDER BY seq"
        for seq, ts, kind, payload in self._rows(sql):
            intent = self._codec.decode(kind, payload)
            if isinstance(intent, OrderIntent | CancelIntent):
                yield IntentItem(seq=seq, ts_ns=ts, intent=intent)

    def _verdicts(self) -> Iterator[TimelineItem]:
        sql = (
            "SELECT seq, ts_ns, client_order_id, approved, code, reason, plugin FROM verdicts"
            " ORDER BY seq"
        )
        for seq, ts, client_order_id, approved, code, reason, plugin in self._rows(sql):
            verdict = RiskVerdict(approved=bool(approved), code=code, reason=reason, plugin=plugin)
            yield VerdictItem(seq=seq, ts_ns=ts, client_order_id=client_order_id, verdict=verdict)
