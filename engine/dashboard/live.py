"""The dashboard task: a ``rich.live.Live`` view refreshed by a trio loop, next to the engine.

Each refresh takes a ``DashboardSnapshot`` (plain reads of views and counters), lays it out in
memory in slices with a checkpoint between them, and hands the bytes to the terminal through
trio (``TerminalOutput``: never a blocking write), then sleeps. There is no refresh thread
(``auto_refresh=False``) and no call into an actor, so all the engine pays is those slices of
the event loop, shown in the header as ``frame: … ms (longest stall … ms)``. A frame where
nothing visible changed is not drawn at all. The fills and rejections come from the dashboard's
own display-only bus subscription (``ActivityFeed``), which never makes a publisher wait.

A failure inside the dashboard is logged and ends the dashboard only: the engine runs on.
"""

from __future__ import annotations

import io
import sys
import time
from collections.abc import Awaitable, Callable
from functools import partial
from typing import TYPE_CHECKING, Protocol, TextIO

import attrs
import structlog
import trio
from rich.console import Console, ConsoleOptions, RenderResult
from rich.live import Live
from rich.segment import Segment

from engine.dashboard.feed import ActivityFeed
from engine.dashboard.logs import DashboardLog
from engine.dashboard.output import TerminalOutput
from engine.dashboard.render import LOG_LINES, render
from engine.dashboard.snapshot import DashboardSnapshot, take_snapshot

if TYPE_CHECKING:
    from engine.app import EngineHandle

log = structlog.get_logger(__name__)


async def run_dashboard(
    handle: EngineHandle,
    *,
    refresh_per_second: float = 4.0,
    console: Console | None = None,
    log_sink: DashboardLog | None = None,
    metrics_host: str = "127.0.0.1",
    on_render: Callable[[DashboardSnapshot], None] | None = None,
    task_status: trio.TaskStatus[None] = trio.TASK_STATUS_IGNORED,
) -> None:
    """Show the live view of ``handle`` until cancelled.

    Args:
        handle: The running engine.
        refresh_per_second: Frames per second (4 by default).
        console: Where to draw. By default stdout: a terminal gets each frame through a
            ``TerminalOutput`` (never a blocking write); a file or a pipe gets the last frame
            once, at the end. A console given here is written to directly (tests).
        log_sink: The ``DashboardLog`` the CLI installed: its last lines are shown, and it stops
            echoing to stderr while the view is drawn on a terminal.
        metrics_host: ``[metrics] host``, for the URL in the header.
        on_render: Called with each snapshot after it was drawn (tests wait on it).
        task_status: ``started()`` once subscribed to the bus and drawing.
    """
    if refresh_per_second <= 0:
        raise ValueError(f"refresh_per_second must be positive, got {refresh_per_second}")
    output: TerminalOutput | None = None
    if console is None:
        if _is_terminal(sys.stdout):
            output = TerminalOutput(sys.stdout.fileno(), encoding=sys.stdout.encoding)
            console = output.console
        else:
            console = Console()
    feed = ActivityFeed(handle.bus)
    # Lines echoed to a terminal stderr would land on top of the view: keep them in the panel.
    quiet = log_sink is not None and console.is_terminal and log_sink.stderr_is_terminal
    failure: Exception | None = None
    async with trio.open_nursery() as nursery:
        nursery.start_soon(feed.run)
        try:
            # No refresh thread (this task refreshes); print()s are redirected above the view.
            with Live(console=console, auto_refresh=False, vertical_overflow="ellipsis") as live:
                if quiet and log_sink is not None:
                    log_sink.echo = False
                task_status.started()
                frames = _Frames(
                    live,
                    output,
                    lambda frame_ms, stall_ms: take_snapshot(
                        handle,
                        feed,
                        metrics_host=metrics_host,
                        log_lines=log_sink.tail(LOG_LINES) if log_sink is not None else (),
                        log_path=str(log_sink.path) if log_sink and log_sink.path else None,
                        frame_ms=frame_ms,
                        stall_ms=stall_ms,
                    ),
                    on_render,
                )
                failure = await frames.run(1.0 / refresh_per_second)
        finally:
            if output is not None:  # Live's last frame, and the cursor shown again
                await output.aclose()
            # The view is gone: stderr is safe again.
            if log_sink is not None:
                log_sink.echo = True
            feed.close()
            nursery.cancel_scope.cancel()
            if failure is not None:
                log.error("dashboard.failed", exc_info=failure, note="the engine runs on")
            elif quiet and log_sink is not None and log_sink.path is not None:
                log.info("dashboard.closed", log_file=str(log_sink.path))


@attrs.define(eq=False)
class _Frames:
    """The refresh loop: snapshot, render, draw; sleep; again."""

    live: Live
    output: TerminalOutput | None
    snapshot: Callable[[float | None, float | None], DashboardSnapshot]
    on_render: Callable[[DashboardSnapshot], None] | None

    async def run(self, interval: float) -> Exception | None:
        """Draw a frame every ``interval`` seconds until cancelled; a failure ends it (returned).

        A frame equal to the one on screen (nothing visible changed: snapshots are in whole
        seconds) is not drawn again. A frame is laid out block by block with a checkpoint after
        each, so the engine runs between the slices: what a frame costs the event loop is the
        sum of its slices (``frame_ms``) and what it can delay any other task by is the longest
        one (``stall_ms``); both are shown in the next frame. The wait for the terminal is a
        trio wait and costs neither.
        """
        cost: tuple[float, float] | None = None
        shown: DashboardSnapshot | None = None
        while True:
            try:
                began = time.perf_counter()
                resized = self.output is not None and self.output.follow_resize()
                current = self.snapshot(*(cost or (None, None)))
                unchanged = shown is not None and current == attrs.evolve(
                    shown, frame_ms=current.frame_ms, stall_ms=current.stall_ms
                )
                first = (time.perf_counter() - began) * 1000
                if not unchanged or resized:
                    cost = await self._draw(current, first)
            except Exception as exc:  # a display bug must not take the engine down
                return exc
            if not unchanged or resized:
                shown = current
                if self.output is not None:
                    await self.output.flush()
                if self.on_render is not None:
                    self.on_render(current)
            await trio.sleep(interval)

    async def _draw(self, snapshot: DashboardSnapshot, spent_ms: float) -> tuple[float, float]:
        """Lay out and draw one frame; its (total, longest slice) cost in ms."""
        console = self.live.console
        slices = [spent_ms]
        began = time.perf_counter()
        frame = render(snapshot)
        lines: list[list[Segment]] = []
        for block in frame.blocks:
            lines.extend(list(line.render(console)) for line in block.lines(console.width))
            slices.append((time.perf_counter() - began) * 1000)
            await trio.lowlevel.checkpoint()  # the engine's turn
            began = time.perf_counter()
        self.live.update(_Drawn(lines), refresh=True)
        slices.append((time.perf_counter() - began) * 1000)
        return sum(slices), max(slices)


class _Drawn:
    """A frame already turned into segments, one list per line (cheap for ``Live`` to draw)."""

    def __init__(self, lines: list[list[Segment]]) -> None:
        self.lines = lines

    def __rich_console__(self, console: Console, options: ConsoleOptions) -> RenderResult:
        newline = Segment.line()
        for line in self.lines:
            yield from line
            yield newline


def _is_terminal(stream: TextIO) -> bool:
    try:
        return stream.isatty() and stream.fileno() >= 0
    except (AttributeError, ValueError, io.UnsupportedOperation):
        return False


class EngineRunner(Protocol):
    """``run_engine`` with its arguments bound: reports the ``EngineHandle`` once started."""

    def __call__(self, *, task_status: trio.TaskStatus[EngineHandle]) -> Awaitable[None]: ...


@attrs.frozen
class _OnStarted:
    """A ``task_status`` that hands the started engine's handle to ``callback``."""

    callback: Callable[[EngineHandle], None]

    def started(self, value: EngineHandle | None = None) -> None:
        if value is None:
            raise TypeError("run_engine reports an EngineHandle when it has started")
        self.callback(value)


async def run_with_dashboard(
    engine: EngineRunner,
    *,
    refresh_per_second: float = 4.0,
    console: Console | None = None,
    log_sink: DashboardLog | None = None,
    metrics_host: str = "127.0.0.1",
) -> None:
    """Run ``engine`` and, once it has started, the dashboard in the same nursery.

    The dashboard starts when the engine hands over its ``EngineHandle`` (start-up logs go to
    stderr as usual until then) and is cancelled as soon as the engine returns, for whatever
    reason; the engine's outcome (return or exception) is this function's.
    """
    async with trio.open_nursery() as nursery:

        def start_dashboard(handle: EngineHandle) -> None:
            nursery.start_soon(
                partial(
                    run_dashboard,
                    handle,
                    refresh_per_second=refresh_per_second,
                    console=console,
                    log_sink=log_sink,
                    metrics_host=metrics_host,
                )
            )

        try:
            await engine(task_status=_OnStarted(start_dashboard))
        finally:
            nursery.cancel_scope.cancel()
