"""structlog set-up: called once, by the CLI (tests use ``structlog.testing.capture_logs``)."""

from __future__ import annotations

import logging
import sys
from typing import Literal

import structlog

LogFormat = Literal["console", "json"]


SECRET_KEYS = frozenset(
    {
        "token",
        "access_token",
        "refresh_token",
        "client_secret",
        "authorization",
        "password",
        "secret",
    }
)
REDACTED = "***"


def redact_secrets(
    _logger: object, _method: str, event_dict: structlog.typing.EventDict
) -> structlog.typing.EventDict:
    """A structlog processor: blank the value of any key that names a secret.

    ``Secret`` values already print as ``***``; this catches plain strings passed under a
    secret's name by any code, ours or a plugin's.
    """
    for key in event_dict.keys() & SECRET_KEYS:
        event_dict[key] = REDACTED
    return event_dict


#: Longest string value a log line carries: values can quote the venue's input (ids, error
#: texts), and a huge one must not make a huge line. Tracebacks are not event values here.
MAX_VALUE_CHARS = 500


def bound_values(
    _logger: object, _method: str, event_dict: structlog.typing.EventDict
) -> structlog.typing.EventDict:
    """A structlog processor: cut any string value longer than ``MAX_VALUE_CHARS``, saying
    how long it was."""
    for key, value in event_dict.items():
        if type(value) is str and len(value) > MAX_VALUE_CHARS:
            event_dict[key] = f"{value[:MAX_VALUE_CHARS]}… ({len(value):,} chars)"
    return event_dict


def configure_logging(level: str = "info", fmt: LogFormat = "console") -> None:
    """Route structlog to stderr as readable console lines or one JSON object per line."""
    numeric_level = logging.getLevelName(level.upper())
    renderer: structlog.typing.Processor
    if fmt == "json":
        renderer = structlog.processors.JSONRenderer()
    else:
        renderer = structlog.dev.ConsoleRenderer(
            colors=sys.stderr.isatty(), exception_formatter=structlog.dev.plain_traceback
        )
    processors: list[structlog.typing.Processor] = [
        structlog.contextvars.merge_contextvars,
        redact_secrets,
        bound_values,
        structlog.processors.add_log_level,
        structlog.processors.TimeStamper(fmt="iso", utc=True),
    ]
    if fmt == "json":
        processors.append(structlog.processors.format_exc_info)
    processors.append(renderer)
    structlog.configure(
        processors=processors,
        wrapper_class=structlog.make_filtering_bound_logger(numeric_level),
        logger_factory=structlog.PrintLoggerFactory(file=sys.stderr),
        cache_logger_on_first_use=True,
    )
    # Libraries that use stdlib logging (hypercorn, httpx) stay quiet unless something is wrong.
    logging.basicConfig(level=logging.WARNING, stream=sys.stderr, format="%(name)s: %(message)s")
