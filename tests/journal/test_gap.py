"""A full buffer drops records; the journal then says so, and a restart will not trust it."""

from __future__ import annotations

from pathlib import Path

import pytest
import trio
import trio.testing

from engine.journal import JournalGap, JournalGapError, JournalReader, JournalWriter
from engine.model import OrderFilled
from tests.journal.conftest import fill, wait_written


async def test_dropped_records_leave_a_gap_marker_before_what_follows(
    tmp_path: Path, autojump_clock: trio.testing.MockClock
) -> None:
    path = tmp_path / "journal.sqlite"
    writer = JournalWriter(path, max_buffer=2, batch_size=100, flush_interval=1.0)
    async with trio.open_nursery() as nursery:
        await nursery.start(writer.run)
        for n in range(5):  # no checkpoint: the writer cannot drain, so 3 are dropped
            writer.record_event(fill(n))
        await wait_written(writer, 2)
        writer.record_event(fill(99))
        await wait_written(writer, 4)  # the marker and the record after it
        nursery.cancel_scope.cancel()
    with JournalReader(path) as reader:
        events = list(reader.events())
    kinds = [(type(e).__name__, getattr(e, "dropped", None)) for e in events]
    assert kinds == [("OrderFilled", None), ("OrderFilled", None), ("JournalGap", 3),
                     ("OrderFilled", None)]  # fmt: skip
    assert isinstance(events[3], OrderFilled)
    assert isinstance(events[2], JournalGap)
    assert writer.statistics().dropped == 3


async def test_restore_refuses_a_journal_with_a_gap(
    tmp_path: Path, autojump_clock: trio.testing.MockClock
) -> None:
    path = tmp_path / "journal.sqlite"
    writer = JournalWriter(path)
    async with trio.open_nursery() as nursery:
        await nursery.start(writer.run)
        writer.record_event(fill(1))
        writer.record_event(JournalGap(dropped=2))
        await wait_written(writer, 2)
        nursery.cancel_scope.cancel()
    with JournalReader(path) as reader, pytest.raises(JournalGapError, match=r"1 gap\(s\) \(2"):
        reader.restore("ACC-1")
