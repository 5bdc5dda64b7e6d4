"""JournalWriter: batching, WAL, the buffer bound, shutdown flush, retention, write errors."""

from __future__ import annotations

import math
import os
import sqlite3
import stat
from collections.abc import Iterator
from datetime import timedelta
from pathlib import Path

import pytest
import trio
from structlog.testing import capture_logs

from engine.journal import SCHEMA_VERSION, JournalError, JournalReader, JournalWriter
from engine.journal.schema import SchemaTooNewError, connect, default_journal_path
from engine.model import Endpoint, RiskVerdict
from tests.conftest import make_intent
from tests.journal.conftest import fill, journal_path, wait_until, wait_written

DAY_NS = 86_400 * 10**9
NOW_NS = 1_800_000_000 * 10**9


async def test_wal_mode_schema_version_and_synchronous_normal(
    tmp_path: Path, nursery: trio.Nursery
) -> None:
    writer = JournalWriter(path=journal_path(tmp_path))
    await nursery.start(writer.run)
    assert writer._db is not None
    assert writer._db.conn.execute("PRAGMA synchronous").fetchone()[0] == 1  # NORMAL
    other = sqlite3.connect(writer.path)
    assert other.execute("PRAGMA journal_mode").fetchone()[0] == "wal"
    assert other.execute("PRAGMA user_version").fetchone()[0] == SCHEMA_VERSION
    assert other.execute("PRAGMA auto_vacuum").fetchone()[0] == 2  # INCREMENTAL
    other.close()


async def test_batches_are_one_transaction_each_at_exact_virtual_times(
    tmp_path: Path, autojump_clock: trio.testing.MockClock
) -> None:
    writer = JournalWriter(path=journal_path(tmp_path), batch_size=500, flush_interval=0.2)
    async with trio.open_nursery() as nursery:
        await nursery.start(writer.run)
        t0 = trio.current_time()
        # Below batch_size: written at the next tick, not before.
        await trio.sleep(0.05)
        for n in range(3):
            writer.record_event(fill(n))
        await trio.sleep(0.14)
        assert writer.statistics().pending == 3
        assert writer.statistics().batches == 0
        await wait_written(writer, 3)
        assert writer.statistics().last_flush_at == pytest.approx(t0 + 0.2, abs=1e-9)
        assert writer.statistics().batches == 1
        # N records at once: ceil(N / batch_size) transactions, the full ones at once.
        n_records = 1234
        t1 = trio.current_time()
        for n in range(n_records):
            writer.record_event(fill(100 + n))
        await wait_written(writer, 3 + n_records)
        stats = writer.statistics()
        assert stats.batches == 1 + math.ceil(n_records / 500)
        assert stats.pending == 0
        assert stats.dropped == 0
        assert stats.db_bytes > 0
        # The two full batches went at once; the remainder waited for a tick.
        assert stats.last_flush_at is not None
        assert stats.last_flush_at > t1
        assert (stats.last_flush_at - t0) / 0.2 == pytest.approx(
            round((stats.last_flush_at - t0) / 0.2), abs=1e-6
        )
        nursery.cancel_scope.cancel()
    with JournalReader(writer.path) as reader:
        assert len(list(reader.events())) == 3 + n_records


async def test_recording_never_blocks_and_drops_beyond_max_buffer(tmp_path: Path) -> None:
    writer = JournalWriter(path=journal_path(tmp_path), max_buffer=10)
    with capture_logs() as logs:
        for n in range(2025):
            writer.record_event(fill(n))  # sync: no trio, no I/O
    stats = writer.statistics()
    assert (stats.pending, stats.dropped) == (10, 2015)
    assert [e["dropped"] for e in logs if e["event"] == "journal.buffer_full"] == [1, 1001, 2001]
    async with trio.open_nursery() as nursery:
        await nursery.start(writer.run)
        await wait_written(writer, 10)
        nursery.cancel_scope.cancel()
    with JournalReader(writer.path) as reader:
        assert [e.cum_qty for e in reader.events()] == list(range(10))  # type: ignore[attr-defined]


async def test_cancellation_flushes_everything_buffered(tmp_path: Path) -> None:
    writer = JournalWriter(path=journal_path(tmp_path), batch_size=1000, flush_interval=3600)
    intent = make_intent(client_order_id="c-1")
    async with trio.open_nursery() as nursery:
        await nursery.start(writer.run)
        for n in range(2345):
            writer.record_event(fill(n))
        writer.record_frame(Endpoint.ACCOUNTS, b'{"type":"x"}', 5)
        writer.record_intent(intent)
        writer.record_verdict("c-1", RiskVerdict.approve(plugin="p"))
        writer.record_request(
            method="POST",
            path="/v2/orders",
            body={"qty": "1"},
            status=200,
            response={"clOrdId": "cl-1"},
            outcome="ok",
            account_id="ACC-1",
        )
        nursery.cancel_scope.cancel()
    assert writer.statistics().written == 2349
    with JournalReader(writer.path) as reader:
        assert len(list(reader.events())) == 2345
        assert [f.raw for f in reader.frames()] == ['{"type":"x"}']
        assert list(reader.intents()) == [intent]
        assert [v.verdict.approved for v in reader.verdicts()] == [True]
        (request,) = reader.requests()
        assert (request.body, request.status, request.response) == (
            {"qty": "1"},
            200,
            {"clOrdId": "cl-1"},
        )


async def test_retention_at_start_and_every_hour(
    tmp_path: Path, autojump_clock: trio.testing.MockClock
) -> None:
    path = journal_path(tmp_path)
    now = [NOW_NS]
    old, new = fill(1, ts_recv=NOW_NS - 8 * DAY_NS), fill(2, ts_recv=NOW_NS - DAY_NS)
    keeper = JournalWriter(path=path, retention=None, clock=lambda: now[0] - 8 * DAY_NS)
    async with trio.open_nursery() as nursery:
        await nursery.start(keeper.run)
        keeper.record_event(old)
        keeper.record_event(new)
        keeper.record_intent(make_intent())  # recorded "8 days ago" by its clock
        nursery.cancel_scope.cancel()

    writer = JournalWriter(
        path=path, retention=timedelta(days=7), clock=lambda: now[0], flush_interval=100
    )
    async with trio.open_nursery() as nursery:
        await nursery.start(writer.run)
        assert writer.statistics().pruned == 2  # at start: the old event and the old intent
        with JournalReader(path) as reader:
            assert list(reader.events()) == [new]
            assert list(reader.intents()) == []
        now[0] += 7 * DAY_NS  # the wall clock moves on; `new` is now 8 days old
        await trio.sleep(3599)
        assert writer.statistics().pruned == 2
        await trio.sleep(2)
        await wait_until(lambda: writer.statistics().pruned >= 3)
        nursery.cancel_scope.cancel()
    with JournalReader(path) as reader:
        assert list(reader.events()) == []


async def test_a_write_error_is_logged_counted_and_retried(tmp_path: Path) -> None:
    writer = JournalWriter(path=journal_path(tmp_path), batch_size=50, flush_interval=0.01)
    async with trio.open_nursery() as nursery:
        await nursery.start(writer.run)
        db = writer._db
        assert db is not None
        pages = db.conn.execute("PRAGMA page_count").fetchone()[0]
        # "Disk full": the file may not grow by a single page.
        await trio.to_thread.run_sync(db.conn.execute, f"PRAGMA max_page_count = {pages}")
        with capture_logs() as logs:
            for n in range(200):
                writer.record_event(fill(n))
            await wait_until(lambda: writer.statistics().write_errors >= 3)
        stats = writer.statistics()
        assert stats.written == 0
        assert stats.pending == 200
        assert stats.last_error is not None
        assert "full" in stats.last_error
        failures = [e for e in logs if e["event"] == "journal.write_failed"]
        assert failures[0]["path"] == str(writer.path)
        assert len(failures) == 1  # a failing streak is logged once per 100 failures
        await trio.to_thread.run_sync(db.conn.execute, "PRAGMA max_page_count = 1073741823")
        await wait_written(writer, 200)
        nursery.cancel_scope.cancel()
    with JournalReader(writer.path) as reader:
        assert [e.cum_qty for e in reader.events()] == list(range(200))  # type: ignore[attr-defined]


async def test_a_journal_that_cannot_be_opened_fails_start_up(
    tmp_path: Path, nursery: trio.Nursery
) -> None:
    writer = JournalWriter(path=tmp_path)  # a directory
    with pytest.raises(JournalError, match=str(tmp_path)):
        await nursery.start(writer.run)


async def test_sequence_continues_across_restarts(tmp_path: Path) -> None:
    path = journal_path(tmp_path)
    for run in range(2):
        writer = JournalWriter(path=path, retention=None)
        async with trio.open_nursery() as nursery:
            await nursery.start(writer.run)
            writer.record_event(fill(run))
            writer.record_frame("market", "{}", 1)
            nursery.cancel_scope.cancel()
    with JournalReader(path) as reader:
        seqs = [f.seq for f in reader.frames()]
        assert seqs == [2, 4]


def test_migrations_and_a_newer_file_is_refused(tmp_path: Path) -> None:
    path = tmp_path / "j.sqlite"
    conn = connect(path)
    tables = {r[0] for r in conn.execute("SELECT name FROM sqlite_master WHERE type='table'")}
    assert tables == {"frames", "events", "intents", "verdicts", "requests"}
    conn.execute(f"PRAGMA user_version = {SCHEMA_VERSION + 1}")
    conn.close()
    with pytest.raises(SchemaTooNewError):
        connect(path)
    with pytest.raises(sqlite3.OperationalError):
        JournalReader(tmp_path / "missing.sqlite")


@pytest.fixture
def umask_022() -> Iterator[None]:
    """The common umask (new files 0644, new directories 0755), whatever the runner's is."""
    previous = os.umask(0o022)
    try:
        yield
    finally:
        os.umask(previous)


def _mode(path: Path) -> int:
    return stat.S_IMODE(path.stat().st_mode)


@pytest.mark.usefixtures("umask_022")
def test_a_new_journal_and_its_directory_are_private_to_the_owner(tmp_path: Path) -> None:
    path = tmp_path / "data" / "aries-engine" / "journal.sqlite"
    conn = connect(path)
    try:
        conn.execute("BEGIN IMMEDIATE")
        conn.execute("INSERT INTO frames (seq, ts_recv_ns, endpoint, raw) VALUES (1, 1, 'a', 'x')")
        conn.execute("COMMIT")
        files = {p.name: _mode(p) for p in path.parent.iterdir()}
    finally:
        conn.close()
    assert files == dict.fromkeys(
        ["journal.sqlite", "journal.sqlite-wal", "journal.sqlite-shm"], 0o600
    )
    assert _mode(path.parent) == 0o700  # the directory the journal is in
    assert _mode(path.parent.parent) == 0o755  # parents above it: left to the umask


@pytest.mark.usefixtures("umask_022")
def test_an_existing_journal_open_to_others_is_tightened_with_a_warning(tmp_path: Path) -> None:
    path = tmp_path / "journal.sqlite"
    connect(path).close()
    wal = tmp_path / "journal.sqlite-wal"
    wal.write_bytes(b"")  # left over by a crash, as loose as the file
    path.chmod(0o644)
    wal.chmod(0o640)
    with capture_logs() as logs:
        conn = connect(path)
    try:
        assert (_mode(path), _mode(wal)) == (0o600, 0o600)
    finally:
        conn.close()  # SQLite deletes the -wal file now
    warnings = [(e["event"], e["path"], e["was"]) for e in logs if e["log_level"] == "warning"]
    assert warnings == [
        ("journal.permissions_tightened", str(path), "0644"),
        ("journal.permissions_tightened", str(wal), "0640"),
    ]
    with capture_logs() as again:
        connect(path).close()
    assert again == []  # nothing left to tighten


def test_default_path_is_a_data_directory(monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> None:
    monkeypatch.setenv("XDG_DATA_HOME", str(tmp_path))
    assert default_journal_path() == tmp_path / "aries-engine" / "journal.sqlite"
    monkeypatch.delenv("XDG_DATA_HOME")
    assert default_journal_path() == Path.home() / ".local/share/aries-engine/journal.sqlite"


async def test_an_idle_writer_lets_virtual_time_pass(
    tmp_path: Path, autojump_clock: trio.testing.MockClock
) -> None:
    # When the clock landed exactly on a tick, the writer used to wait on that past deadline
    # again and again, never yielding time: anything journaling under MockClock hung.
    writer = JournalWriter(tmp_path / "journal.sqlite")
    async with trio.open_nursery() as nursery:
        await nursery.start(writer.run)
        await trio.sleep(60)
        nursery.cancel_scope.cancel()
    assert trio.current_time() >= 60
