"""The refresh loop and the terminal output: what keeps the dashboard from slowing the engine."""

from __future__ import annotations

import io
import os
from collections.abc import Iterator

import attrs
import pytest
import trio
import trio.testing
from rich.console import Console
from rich.live import Live

from engine.dashboard import DashboardSnapshot
from engine.dashboard.live import _Frames
from engine.dashboard.output import TerminalOutput
from tests.dashboard.samples import two_accounts


@pytest.fixture
def autojump_clock() -> trio.testing.MockClock:
    return trio.testing.MockClock(autojump_threshold=0)


def feed(snapshots: list[DashboardSnapshot]) -> Iterator[DashboardSnapshot]:
    yield from snapshots
    raise RuntimeError("no more snapshots")  # ends the loop: a failure is returned


async def test_only_frames_that_changed_are_drawn_and_a_failure_ends_the_loop(
    autojump_clock: trio.testing.MockClock,
) -> None:
    base = two_accounts()
    later = attrs.evolve(base, fills_total=3)
    snapshots = feed([base, base, base, later, later])
    drawn: list[DashboardSnapshot] = []
    out = io.StringIO()
    console = Console(file=out, force_terminal=True, color_system=None, width=120, height=80)
    with Live(console=console, auto_refresh=False, redirect_stdout=False) as live:
        frames = _Frames(
            live,
            None,
            # The cost of the last frame changes each time: it alone must not cause a redraw.
            lambda frame_ms, stall_ms: attrs.evolve(
                next(snapshots), frame_ms=frame_ms, stall_ms=stall_ms
            ),
            drawn.append,
        )
        failure = await frames.run(0.25)

    assert isinstance(failure, RuntimeError)
    assert [s.fills_total for s in drawn] == [2, 3]
    # The second frame reports what the first one cost: in total and its longest slice.
    assert drawn[0].frame_ms is None
    assert drawn[1].frame_ms is not None
    assert drawn[1].stall_ms is not None
    assert 0 < drawn[1].stall_ms <= drawn[1].frame_ms
    assert out.getvalue().count("Last fills (") == 3  # 2 frames, then the last as Live closes


async def test_a_terminal_that_does_not_read_never_blocks_the_event_loop() -> None:
    read_end, write_end = os.pipe()
    output = TerminalOutput(write_end)
    output.console.file.write("x" * 300_000)  # several times what a pipe holds
    async with trio.open_nursery() as nursery:
        nursery.start_soon(output.flush)
        # The pipe is full and nobody reads it: the flush must be parked in trio, not in write().
        await trio.testing.wait_all_tasks_blocked()
        received = bytearray()
        with trio.fail_after(5):
            async with trio.lowlevel.FdStream(read_end) as terminal:
                while len(received) < 300_000:
                    received += await terminal.receive_some()
    assert received.count(b"x") == 300_000
    assert output.dropped_frames == 0
    await output.aclose()
    assert os.get_blocking(write_end)  # restored for whoever writes next
    os.close(write_end)
