"""Frames to the terminal without ever blocking the event loop.

Writing a frame (10-15 kB of text and cursor movements) straight to a terminal is a blocking
``write``: measured under tmux, 10-18 ms of a frozen event loop per frame, and a terminal paused
with Ctrl-S would freeze the engine outright. So rich draws into memory (a ``Console`` whose file
is a ``StringIO``, told it is a terminal of the real one's size), and ``flush`` hands the bytes to
a ``trio.lowlevel.FdStream`` on a duplicate of the terminal's descriptor, which waits for the
terminal to take them the way trio waits on a socket.

``FdStream`` puts the descriptor in non-blocking mode, and that mode belongs to the open terminal,
which stdout and stderr usually share: while the view is up, nothing else may write to them
directly (rich's ``Live`` redirects ``sys.stdout``/``sys.stderr`` into its console, and the CLI's
``DashboardLog`` stops echoing). ``aclose`` restores the original mode.
"""

from __future__ import annotations

import io
import os

import trio
from rich.console import Console

WRITE_TIMEOUT = 1.0
"""Seconds one frame may wait for the terminal before it is given up (e.g. output paused)."""


class TerminalOutput:
    """A rich ``Console`` that renders into memory, shipped to terminal ``fd`` by ``flush``."""

    def __init__(self, fd: int, *, encoding: str = "utf-8") -> None:
        self._fd = fd
        self._encoding = encoding
        self._buffer = io.StringIO()
        self._stream: trio.lowlevel.FdStream | None = None
        width, height = self._terminal_size() or (80, 25)
        self.console = Console(file=self._buffer, force_terminal=True, width=width, height=height)
        self.dropped_frames = 0
        """Frames (or their ends) given up after ``WRITE_TIMEOUT``."""

    def _terminal_size(self) -> tuple[int, int] | None:
        try:
            size = os.get_terminal_size(self._fd)
        except OSError:
            return None
        return size.columns, size.lines

    def follow_resize(self) -> bool:
        """Take the terminal's current size (call before rendering a frame); True if changed."""
        size = self._terminal_size()
        if size is None or size == tuple(self.console.size):
            return False
        self.console.size = size
        return True

    async def flush(self) -> None:
        """Write what the console rendered since the last flush.

        The write is shielded from cancellation (a frame cut in the middle of an escape sequence
        would garble the screen) but bounded by ``WRITE_TIMEOUT``.
        """
        data = self._buffer.getvalue()
        if not data:
            return
        self._buffer.seek(0)
        self._buffer.truncate()
        if self._stream is None:
            self._stream = trio.lowlevel.FdStream(os.dup(self._fd))
        with trio.CancelScope(shield=True), trio.move_on_after(WRITE_TIMEOUT) as waited:
            await self._stream.send_all(data.encode(self._encoding, errors="replace"))
        if waited.cancelled_caught:
            self.dropped_frames += 1

    async def aclose(self) -> None:
        """Write what is left (the last frame, the cursor shown again) and restore the terminal's
        blocking mode. Shielded and bounded: call it on the way out, even when cancelled."""
        with trio.CancelScope(shield=True):
            try:
                await self.flush()
            finally:
                if self._stream is not None:
                    stream, self._stream = self._stream, None
                    stream.close()
