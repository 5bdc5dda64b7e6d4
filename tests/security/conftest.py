"""Fixtures of the security suite: virtual time, and every log line a test's run writes."""

from __future__ import annotations

import contextlib
import io
import logging
from collections.abc import Callable, Iterator

import attrs
import pytest
import structlog

from engine import logging as engine_logging
from engine.cli import main
from engine.logging import configure_logging
from tests.integration.conftest import virtual_clock as virtual_clock


@attrs.frozen
class CapturedLogs:
    """The engine's structlog lines (rendered as in production) and the stdlib log records."""

    engine: io.StringIO
    stdlib: pytest.LogCaptureFixture

    def texts(self) -> dict[str, str]:
        """Both, by name, for ``find_leaks``."""
        return {"structlog lines": self.engine.getvalue(), "stdlib log lines": self.stdlib.text}


@pytest.fixture
def debug_logs(caplog: pytest.LogCaptureFixture) -> Iterator[CapturedLogs]:
    """Every log line of the test at DEBUG: structlog set up by the engine's own
    ``configure_logging`` (JSON, with its secret-redacting processor and tracebacks) but writing
    into a buffer, and every stdlib record (httpx, httpcore, hypercorn, trio-websocket).

    The previous structlog configuration is restored afterwards.
    """
    saved = structlog.get_config()
    root = logging.getLogger()
    handlers, level = list(root.handlers), root.level
    buffer = io.StringIO()
    with contextlib.redirect_stderr(buffer):
        configure_logging("debug", "json")
    # Loggers must not keep the buffer's processors once the test is over.
    structlog.configure(cache_logger_on_first_use=False)
    caplog.set_level(logging.DEBUG)
    try:
        yield CapturedLogs(buffer, caplog)
    finally:
        structlog.configure(**saved)
        root.handlers[:] = handlers
        root.setLevel(level)


CommandLine = Callable[..., tuple[int, str]]


@pytest.fixture
def cli(capsys: pytest.CaptureFixture[str], monkeypatch: pytest.MonkeyPatch) -> CommandLine:
    """``cli("check", path)``: run ``aries-engine`` in this process; its exit status and what
    it printed (``run`` only with a config it refuses, or it would start the engine).

    Its logging set-up is skipped: it would leave structlog writing, for every later test, into
    this test's captured (then closed) stderr.
    """
    monkeypatch.setattr(engine_logging, "configure_logging", lambda *_args, **_kwargs: None)

    def run(*argv: str) -> tuple[int, str]:
        status = main(list(argv))
        captured = capsys.readouterr()
        return status, captured.out + captured.err

    return run
