"""``JournalWriter``: record everything the engine sees and does, without slowing it down.

The record methods (``record_frame``, ``record_event``, ``record_intent``, ``record_verdict``,
``record_request``) are synchronous and cost the trio thread one tuple and one ``deque.append``:
no encoding, no I/O, never a wait. Everything else — JSON encoding, SQLite, retention — happens
in a worker thread (``trio.to_thread.run_sync``), one transaction per batch.

Trade-offs, on purpose:

* The buffer is bounded (``max_buffer``). When it is full (the disk is slower than the feed, or
  the database keeps failing) new records are **dropped and counted**, logged once per 1000: the
  journal must never stall trading.
* A batch that fails to commit (disk full, I/O error) is logged with the path, counted, and put
  back at the front of the buffer; it is retried on the next tick. The engine is never crashed by
  the journal once it has started.
* A crash loses at most what was buffered (≤ ``flush_interval`` plus one batch's write time);
  what was committed is a consistent prefix of what was recorded (one transaction per batch, rows
  written in recording order).
"""

from __future__ import annotations

import contextlib
import math
import os
import sqlite3
import time
from collections import deque
from collections.abc import Callable
from datetime import timedelta
from pathlib import Path
from typing import Any, NoReturn

import attrs
import structlog
import trio

from engine.errors import EngineError
from engine.journal.codec import JournalCodec, JournalGap, dumps
from engine.journal.schema import TIME_COLUMNS, connect
from engine.model.events import AccountEvent, Event
from engine.model.orders import CancelIntent, OrderIntent, RiskVerdict

__all__ = ["JournalError", "JournalStatistics", "JournalWriter"]

log = structlog.get_logger(__name__)

RETENTION_INTERVAL = 3600.0  # seconds between retention passes
SHUTDOWN_FLUSH_TIMEOUT = 5.0  # seconds the final flush may take on cancellation
_DROP_LOG_EVERY = 1000
_ERROR_LOG_EVERY = 100

# A buffered record: (table, fields...) — plain tuples, built on the trio thread.
_Record = tuple[Any, ...]


class JournalError(EngineError):
    """Raised by ``JournalWriter.run`` before ``started()`` when the journal cannot be opened.

    After start-up the writer never raises for I/O: failures are logged and counted.
    """


@attrs.frozen(kw_only=True)
class JournalStatistics:
    """Counters of one ``JournalWriter``.

    ``written`` rows committed; ``dropped`` records refused because the buffer was full;
    ``encode_errors`` records that could not be encoded (skipped, logged); ``batches``
    transactions committed; ``write_errors`` failed transactions (their rows are retried);
    ``pruned`` rows deleted by retention; ``pending`` records buffered or being written now;
    ``db_bytes`` the size of the database and its WAL after the last write; ``last_flush_at`` the
    ``trio.current_time()`` at which the last batch was taken from the buffer.
    """

    written: int
    dropped: int
    encode_errors: int
    batches: int
    write_errors: int
    pruned: int
    pending: int
    db_bytes: int
    last_error: str | None
    last_flush_at: float | None


@attrs.define(eq=False)
class _Database:
    """The worker-thread side: one connection, used by one thread at a time."""

    path: Path
    conn: sqlite3.Connection
    codec: JournalCodec = attrs.field(factory=JournalCodec)
    next_seq: int = 1

    @classmethod
    def open(cls, path: Path) -> _Database:
        conn = connect(path)
        parts = " UNION ALL ".join(f"SELECT max(seq) AS m FROM {table}" for table in TIME_COLUMNS)
        last = conn.execute(f"SELECT max(m) FROM ({parts})").fetchone()[0]
        return cls(path=path, conn=conn, next_seq=(last or 0) + 1)

    def write(self, batch: list[_Record]) -> tuple[int, int, int]:
        """Insert ``batch`` in one transaction, in order.

        Returns:
            (rows written, records skipped as unencodable, file size in bytes afterwards)
        """
        skipped = 0
        rows: dict[str, list[tuple[Any, ...]]] = {table: [] for table in TIME_COLUMNS}
        seq = self.next_seq
        for record in batch:
            try:
                table, row = self._row(record, seq)
            except Exception:  # isolation boundary: one bad object must not block the journal
                skipped += 1
                log.error("journal.encode_failed", record=repr(record)[:200], exc_info=True)
                continue
            rows[table].append(row)
            seq += 1
        self.conn.execute("BEGIN IMMEDIATE")
        try:
            for table, table_rows in rows.items():
                if table_rows:
                    marks = ",".join("?" * len(table_rows[0]))
                    self.conn.executemany(f"INSERT INTO {table} VALUES (NULL,{marks})", table_rows)
            self.conn.execute("COMMIT")
        except BaseException:
            if self.conn.in_transaction:
                self.conn.execute("ROLLBACK")
            raise
        self.next_seq = seq
        return sum(map(len, rows.values())), skipped, self.size()

    def _row(self, record: _Record, seq: int) -> tuple[str, tuple[Any, ...]]:
        kind = record[0]
        if kind == "events":
            event: Event = record[1]
            name, payload = self.codec.encode(event)
            ts_event = None if event.ts_event is None else event.ts_event.isoformat()
            account_id = event.account_id if isinstance(event, AccountEvent) else None
            return kind, (seq, event.ts_recv, ts_event, name, account_id, payload)
        if kind == "frames":
            _, endpoint, raw, ts_recv = record
            text = raw.decode("utf-8", "replace") if isinstance(raw, bytes) else str(raw)
            return kind, (seq, ts_recv, str(endpoint), text)
        if kind == "intents":
            _, intent, ts_ns = record
            name, payload = self.codec.encode(intent)
            return kind, (
                seq,
                ts_ns,
                name,
                intent.account_id,
                intent.client_order_id,
                intent.strategy,
                payload,
            )
        if kind == "verdicts":
            _, client_order_id, verdict, ts_ns = record
            return kind, (
                seq,
                ts_ns,
                client_order_id,
                int(verdict.approved),
                verdict.code,
                verdict.reason,
                verdict.plugin,
            )
        if kind == "requests":
            _, ts_ns, account_id, method, path, body, status, response, outcome = record
            return kind, (
                seq,
                ts_ns,
                account_id,
                method,
                path,
                None if body is None else dumps(body),
                status,
                None if response is None else dumps(response),
                outcome,
            )
        raise ValueError(f"unknown journal record {kind!r}")

    def prune(self, cutoff_ns: int) -> int:
        """Delete rows older than ``cutoff_ns`` from every table; return how many."""
        deleted = 0
        self.conn.execute("BEGIN IMMEDIATE")
        try:
            for table, column in TIME_COLUMNS.items():
                cursor = self.conn.execute(f"DELETE FROM {table} WHERE {column} < ?", (cutoff_ns,))
                deleted += cursor.rowcount
            self.conn.execute("COMMIT")
        except BaseException:
            if self.conn.in_transaction:
                self.conn.execute("ROLLBACK")
            raise
        if deleted:
            self.conn.execute("PRAGMA incremental_vacuum")
        return deleted

    def size(self) -> int:
        total = 0
        for suffix in ("", "-wal"):
            with contextlib.suppress(OSError):
                total += os.stat(f"{self.path}{suffix}").st_size
        return total

    def close(self) -> None:
        self.conn.close()


@attrs.define(eq=False)
class JournalWriter:
    """Actor that owns the journal file and writes what the engine records, in batches.

    Owns: the SQLite connection (opened and used only in worker threads) and a bounded buffer.
    Consumes: calls to the ``record_*`` methods, from the trio thread. Publishes nothing.

    ``run`` opens (creating and migrating) the database, applies retention once, then calls
    ``task_status.started()``: from then on the journal is writable. It then loops forever: every
    ``flush_interval`` seconds (drift-free ticks), or as soon as ``batch_size`` records are
    buffered, it writes up to ``batch_size`` records in one transaction; once per hour it applies
    retention.

    Error handling: failing to open the database raises ``JournalError`` before ``started()``
    (start-up fails fast on a bad path). After that, write and retention errors are logged with the
    path and counted (``statistics()``); the failed batch is retried on the next tick.

    Cancellation: on cancellation (shutdown) whatever is buffered is written in a shielded scope
    limited to ``SHUTDOWN_FLUSH_TIMEOUT`` seconds, then the database is closed.

    Args:
        path: The database file (see ``engine.journal.schema``).
        batch_size: Most records per transaction; reaching it triggers a write before the tick.
        flush_interval: Seconds between ticks: the longest a record waits in the buffer when idle.
        max_buffer: Most records held in memory; beyond it records are dropped and counted.
        retention: Rows older than this are deleted; ``None`` keeps everything.
        clock: Wall-clock epoch nanoseconds, for record timestamps and retention (injectable).
    """

    path: Path
    batch_size: int = 500
    flush_interval: float = 0.2
    max_buffer: int = 100_000
    retention: timedelta | None = timedelta(days=7)
    clock: Callable[[], int] = time.time_ns
    _buffer: deque[_Record] = attrs.field(factory=deque, init=False, repr=False)
    _wakeup: trio.Event | None = attrs.field(default=None, init=False, repr=False)
    _db: _Database | None = attrs.field(default=None, init=False, repr=False)
    _written: int = attrs.field(default=0, init=False, repr=False)
    _dropped: int = attrs.field(default=0, init=False, repr=False)
    _gap: int = attrs.field(default=0, init=False, repr=False)  # dropped since the last marker
    _encode_errors: int = attrs.field(default=0, init=False, repr=False)
    _in_flight: int = attrs.field(default=0, init=False, repr=False)
    _batches: int = attrs.field(default=0, init=False, repr=False)
    _write_errors: int = attrs.field(default=0, init=False, repr=False)
    _failing: int = attrs.field(default=0, init=False, repr=False)
    _pruned: int = attrs.field(default=0, init=False, repr=False)
    _db_bytes: int = attrs.field(default=0, init=False, repr=False)
    _last_error: str | None = attrs.field(default=None, init=False, repr=False)
    _last_flush_at: float | None = attrs.field(default=None, init=False, repr=False)

    def __attrs_post_init__(self) -> None:
        if self.batch_size < 1 or self.max_buffer < 1 or self.flush_interval <= 0:
            raise ValueError("batch_size and max_buffer must be ≥ 1, flush_interval > 0")

    # --- recording: sync, O(1), never blocks ------------------------------------------------

    def record_frame(self, endpoint: str, raw: str | bytes, ts_recv: int) -> None:
        """Record one raw inbound frame, received at ``ts_recv`` (epoch ns)."""
        self._append(("frames", endpoint, raw, ts_recv))

    def record_event(self, event: Event) -> None:
        """Record one event published on the bus."""
        self._append(("events", event))

    def record_intent(self, intent: OrderIntent | CancelIntent) -> None:
        """Record a strategy's intent, as it is accepted (before risk)."""
        self._append(("intents", intent, self.clock()))

    def record_verdict(self, client_order_id: str, verdict: RiskVerdict) -> None:
        """Record the risk verdict on the order intent ``client_order_id``."""
        self._append(("verdicts", client_order_id, verdict, self.clock()))

    def record_request(
        self,
        *,
        method: str,
        path: str,
        outcome: str,
        body: object = None,
        status: int | None = None,
        response: object = None,
        account_id: str | None = None,
        ts_ns: int | None = None,
    ) -> None:
        """Record one outbound REST request and what came of it.

        ``body`` and ``response`` are JSON-able values (encoded later, in the worker thread: do
        not mutate them afterwards). ``ts_ns`` is when the request was sent (default: now).
        """
        ts = self.clock() if ts_ns is None else ts_ns
        self._append(("requests", ts, account_id, method, path, body, status, response, outcome))

    def _append(self, record: _Record) -> None:
        buffer = self._buffer
        if len(buffer) >= self.max_buffer:
            self._dropped += 1
            self._gap += 1
            if self._dropped % _DROP_LOG_EVERY == 1:
                log.warning(
                    "journal.buffer_full",
                    path=str(self.path),
                    dropped=self._dropped,
                    max_buffer=self.max_buffer,
                )
            return
        if self._gap:  # mark where records were lost, before anything recorded after them
            buffer.append(("events", JournalGap(dropped=self._gap)))
            self._gap = 0
        buffer.append(record)
        if len(buffer) >= self.batch_size and self._wakeup is not None:
            self._wakeup.set()

    # --- the actor -----------------------------------------------------------------------------

    async def run(
        self, *, task_status: trio.TaskStatus[None] = trio.TASK_STATUS_IGNORED
    ) -> NoReturn:
        """Open the journal, signal ``started()``, then write batches until cancelled."""
        structlog.contextvars.bind_contextvars(actor="journal")
        try:
            self._db = await trio.to_thread.run_sync(_Database.open, self.path)
        except (sqlite3.Error, OSError) as exc:
            raise JournalError(f"cannot open the journal at {self.path}: {exc}") from exc
        try:
            await self._apply_retention()
            log.info("journal.opened", path=str(self.path), next_seq=self._db.next_seq)
            task_status.started()
            await self._serve()
        finally:
            with trio.move_on_after(SHUTDOWN_FLUSH_TIMEOUT, shield=True) as scope:
                await self._drain()
            if scope.cancelled_caught:
                log.warning("journal.shutdown_flush_timeout", pending=len(self._buffer))
            db, self._db = self._db, None
            with trio.CancelScope(shield=True):
                await trio.to_thread.run_sync(db.close)

    async def _serve(self) -> NoReturn:
        start = trio.current_time()
        tick = 1
        next_retention = start + RETENTION_INTERVAL
        while True:
            # Drift-free ticks at start + n·flush_interval; skip those a slow write overran.
            tick = max(tick, math.floor((trio.current_time() - start) / self.flush_interval) + 1)
            deadline = start + tick * self.flush_interval
            if len(self._buffer) < self.batch_size:
                self._wakeup = trio.Event()
                with trio.move_on_at(deadline):
                    await self._wakeup.wait()
                self._wakeup = None
            now = trio.current_time()
            if now >= deadline:
                # This tick is done: never wait on its deadline again. (The floor above can
                # round to this same tick when the clock lands exactly on it, and waiting on a
                # past deadline would spin without ever yielding time, e.g. under MockClock.)
                tick += 1
            if self._buffer:
                await self._write_batch()
            if now >= next_retention:
                next_retention += RETENTION_INTERVAL * math.ceil(
                    (now - next_retention + 1e-9) / RETENTION_INTERVAL
                )
                await self._apply_retention()

    async def _write_batch(self) -> bool:
        """Write up to ``batch_size`` buffered records; return whether it committed."""
        assert self._db is not None
        count = min(self.batch_size, len(self._buffer))
        batch = [self._buffer.popleft() for _ in range(count)]
        self._last_flush_at = trio.current_time()
        self._in_flight = count
        try:
            # A transaction in a thread cannot be interrupted anyway; the shield makes sure its
            # outcome is accounted for. A pending cancellation is delivered at the next checkpoint.
            with trio.CancelScope(shield=True):
                written, skipped, size = await trio.to_thread.run_sync(self._db.write, batch)
        except (sqlite3.Error, OSError) as exc:
            self._buffer.extendleft(reversed(batch))
            self._write_errors += 1
            self._failing += 1
            self._last_error = repr(exc)
            if self._failing % _ERROR_LOG_EVERY == 1:
                log.error(
                    "journal.write_failed",
                    path=str(self.path),
                    pending=len(self._buffer),
                    failures=self._failing,
                    exc_info=True,
                )
            return False
        finally:
            self._in_flight = 0
        if self._failing:
            log.info("journal.write_recovered", path=str(self.path), failures=self._failing)
            self._failing = 0
        self._written += written
        self._encode_errors += skipped
        self._batches += 1
        self._db_bytes = size
        log.debug("journal.batch_written", records=written, total=self._written)
        return True

    async def _drain(self) -> None:
        while self._buffer and self._db is not None:
            if not await self._write_batch():
                log.error("journal.shutdown_flush_failed", lost=len(self._buffer))
                return

    async def _apply_retention(self) -> None:
        if self.retention is None or self._db is None:
            return
        cutoff = self.clock() - self.retention // timedelta(microseconds=1) * 1000
        try:
            deleted = await trio.to_thread.run_sync(self._db.prune, cutoff)
        except (sqlite3.Error, OSError) as exc:
            self._write_errors += 1
            self._last_error = repr(exc)
            log.error("journal.retention_failed", path=str(self.path), exc_info=True)
            return
        self._pruned += deleted
        if deleted:
            log.info("journal.pruned", path=str(self.path), rows=deleted)

    def statistics(self) -> JournalStatistics:
        """A snapshot of the counters (no I/O)."""
        return JournalStatistics(
            written=self._written,
            dropped=self._dropped,
            encode_errors=self._encode_errors,
            batches=self._batches,
            write_errors=self._write_errors,
            pruned=self._pruned,
            pending=len(self._buffer) + self._in_flight,
            db_bytes=self._db_bytes,
            last_error=self._last_error,
            last_flush_at=self._last_flush_at,
        )
