"""Where the log goes while the dashboard is on screen.

Log lines written to the terminal under a live view would scribble over it. With ``--dashboard``
the CLI installs a ``DashboardLog`` right after ``configure_logging``, before anything logs, and
every line (structlog's, and the stdlib loggers' that ``configure_logging`` sends to stderr):

* is appended to a **log file** (``$XDG_DATA_HOME/aries-engine/engine.log`` by default, ANSI
  colours stripped), so the whole run can be read or grepped afterwards;
* is kept in memory (the last ``keep`` lines), so the dashboard shows the latest few in a panel;
* is also written to stderr whenever the dashboard is *not* drawing on a terminal: before the
  engine has started, after it stopped (so a failure is still printed where the person looks),
  and all along when stdout or stderr is not a terminal (piped, or stderr redirected to a file).

Line format and level are unchanged (``--log-format``/``--log-level`` as without a dashboard).
"""

from __future__ import annotations

import logging
import re
import sys
from collections import deque
from pathlib import Path
from typing import TextIO

import structlog

from engine.journal.schema import default_journal_path

_ANSI = re.compile(r"\x1b\[[0-9;]*[A-Za-z]")


def default_log_path() -> Path:
    """``$XDG_DATA_HOME/aries-engine/engine.log`` (beside the default journal)."""
    return default_journal_path("engine.log")


class DashboardLog:
    """A structlog logger (and stdlib logging target): file + last lines + stderr when useful.

    If the file cannot be opened, the lines still go to the dashboard and stderr, and
    ``problem`` says why (the dashboard shows it).
    """

    def __init__(
        self, path: Path | None = None, *, keep: int = 200, stderr: TextIO | None = None
    ) -> None:
        self.path = path
        self.problem = ""
        self._lines: deque[str] = deque(maxlen=keep)
        self._stderr = stderr if stderr is not None else sys.stderr
        self.echo = True
        """Also write each line to stderr (off while the dashboard draws on a terminal)."""
        self._file: TextIO | None = None
        if path is not None:
            try:
                path.parent.mkdir(parents=True, exist_ok=True)
                self._file = path.open("a", encoding="utf-8")
            except OSError as exc:
                self.problem = f"cannot write the log file {path}: {exc.strerror or exc}"
                self.path = None

    @property
    def stderr_is_terminal(self) -> bool:
        """True if stderr is a terminal (lines echoed there would land on the dashboard)."""
        isatty = getattr(self._stderr, "isatty", None)
        return bool(isatty is not None and isatty())

    def msg(self, message: str) -> None:
        """Take one rendered log line."""
        self._lines.append(message)
        if self._file is not None:
            self._file.write(_ANSI.sub("", message) + "\n")
            self._file.flush()
        if self.echo:
            print(message, file=self._stderr, flush=True)

    # structlog calls the method named after the level; all of them take the rendered line.
    log = debug = info = warn = warning = msg
    fatal = failure = err = error = critical = exception = msg

    def tail(self, count: int) -> tuple[str, ...]:
        """The last ``count`` lines, oldest first."""
        if count <= 0:
            return ()
        return tuple(self._lines)[-count:]

    def install(self) -> None:
        """Route structlog and the root stdlib logger's stderr handler(s) here.

        Call it right after ``configure_logging`` and before anything logs: structlog caches a
        logger on first use, and a cached one would keep writing to the terminal.
        """
        structlog.configure(logger_factory=lambda *_args: self)
        root = logging.getLogger()
        for handler in list(root.handlers):
            if isinstance(handler, logging.StreamHandler) and handler.stream in (
                sys.stderr,
                sys.__stderr__,
                self._stderr,
            ):
                root.removeHandler(handler)
                replacement = _ToDashboardLog(self)
                replacement.setLevel(handler.level)
                replacement.setFormatter(handler.formatter)
                root.addHandler(replacement)

    def close(self) -> None:
        """Close the file (lines that come later still reach stderr and the tail)."""
        if self._file is not None:
            self._file.close()
            self._file = None


class _ToDashboardLog(logging.Handler):
    """Stdlib logging (hypercorn, httpx warnings) into the ``DashboardLog``."""

    def __init__(self, sink: DashboardLog) -> None:
        super().__init__()
        self._sink = sink

    def emit(self, record: logging.LogRecord) -> None:
        try:
            self._sink.msg(self.format(record))
        except Exception:
            self.handleError(record)
