"""The wire path under fuzz: ``FrameDecoder`` → the endpoint's handler → ``AccountBook``, and the
properties each frame must keep.

``Pipeline.run(frame, logs)`` feeds one frame through the objects a connection uses (a
``FrameDecoder`` per socket, the socket's ``EndpointHandler``, one ``AccountBook`` per configured
account for what the accounts socket reports) and returns a ``FrameResult``: what came out, and
the ``Violation`` s of the properties below, found by comparing the decoder's counters with the
log events the frame produced.

An exception escaping a stage is a crash. ``Pipeline(tolerate=...)`` names the crash signatures
(stage, exception type, innermost engine function) that are known bugs: those are recorded as a
``crash`` violation and the frame goes on; any other crash propagates, so a test gets its
traceback and Hypothesis shrinks it. The bench tolerates everything (``tolerate=ALL``) and
counts.

Properties checked per frame (issue 9 item 3):

1. ``decode_frame`` returns, whatever the frame;
2. the number of ``protocol.decode_error`` events equals the increase of the decoder's error
   counter, its message counter grows by the number of messages returned, and messages +
   errors equals the number of non-blank lines;
3. ``handler.handle`` raises nothing but ``ProtocolError`` (naming a type and a field), and the
   account book accepts whatever the handler passes on;
5. every ``protocol.decode_error`` event names the endpoint, the message type, the field (unless
   the line was not a JSON object at all: type ``"?"``), a problem and a short excerpt; no
   value is longer than ``LOG_VALUE_CHARS`` and the whole line (``key=value`` text, before any
   renderer's escaping) is at most ``LOG_LINE_CHARS``; no line comes from the decoder's
   last-resort ``except Exception`` (an "internal decoder error" is a decoder bug: code
   ``internal-error-<exception>``).

(Property 4, no false positives, is about valid messages: see ``test_fuzz_roundtrip``.)
"""

from __future__ import annotations

import traceback
from collections.abc import Collection, Mapping, MutableMapping, MutableSequence, Sequence
from time import perf_counter
from typing import Any, Final

import attrs
from hypothesis import HealthCheck, settings
from structlog.testing import capture_logs

from engine.accounts.book import BOOK_INPUT_TYPES, AccountBook
from engine.aries import protocol
from engine.aries.decode import DecoderStatistics, FrameDecoder
from engine.aries.wire import AriesMessage, UnknownMessage
from engine.connection.handlers import (
    AccountsHandler,
    ChartsHandler,
    EndpointHandler,
    MarketHandler,
)
from engine.errors import ProtocolError
from engine.model.enums import Endpoint
from engine.model.events import Event
from tests.fuzz.frames import ACCOUNTS, TS_RECV, Frame

__all__ = [
    "ALL",
    "KNOWN_CRASHES",
    "KNOWN_VIOLATIONS",
    "LOG_LINE_CHARS",
    "LOG_VALUE_CHARS",
    "FrameResult",
    "Pipeline",
    "Violation",
    "check_decode_event",
    "crash_signature",
    "fuzz_settings",
    "log_line_chars",
    "non_blank_lines",
    "run_all",
]

#: The longest value a decode-error log event may carry (message type, field, problem, excerpt).
LOG_VALUE_CHARS: Final = 200
#: The longest decode-error log line, as ``key=value`` text before a renderer escapes it.
LOG_LINE_CHARS: Final = 1000
#: The keys every ``protocol.decode_error`` event must have.
DECODE_ERROR_KEYS: Final = ("endpoint", "message_type", "field", "problem", "excerpt")
INTERNAL_ERROR: Final = "internal decoder error"

#: Violation codes of engine bugs found by this fuzzer and not fixed yet; each has a strict
#: xfail reproducer in ``test_fuzz_regressions``. The property tests tolerate them (and fail on
#: anything else); remove a code when its xfail starts passing. (The first run's six are fixed.)
KNOWN_VIOLATIONS: Final[frozenset[str]] = frozenset()
#: Crash signatures (stage, exception, innermost engine function) of known bugs, likewise.
KNOWN_CRASHES: Final[frozenset[tuple[str, str, str]]] = frozenset()


class _Everything(Collection[Any]):
    """Contains everything (``Pipeline(tolerate=ALL)``: record every crash, raise none)."""

    def __contains__(self, item: object) -> bool:
        return True

    def __iter__(self) -> Any:
        return iter(())

    def __len__(self) -> int:
        return 0


ALL: Final = _Everything()

LogEvents = MutableSequence[MutableMapping[str, Any]]
CrashSignature = tuple[str, str, str]


@attrs.frozen
class Violation:
    """One broken property: a stable ``code`` (to count and to tolerate) and the details."""

    code: str
    detail: str

    def __str__(self) -> str:
        return f"{self.code}: {self.detail}"


def handler_for(endpoint: Endpoint) -> EndpointHandler:
    """The endpoint's handler as the engine configures it (both fuzzed accounts subscribed)."""
    if endpoint is Endpoint.ACCOUNTS:
        return AccountsHandler(ACCOUNTS, watchlist=True, news=True)
    if endpoint is Endpoint.MARKET:
        return MarketHandler(symbols={"AAPL"})
    return ChartsHandler(symbols={"AAPL"})


def non_blank_lines(data: str | bytes, endpoint: Endpoint) -> int:
    """How many lines of a frame the decoder must account for (NDJSON, §2.2)."""
    if endpoint not in protocol.NDJSON_ENDPOINTS:
        return 0 if not data.strip() else 1
    if isinstance(data, str):
        return sum(1 for line in data.split("\n") if line.strip())
    return sum(1 for line in data.split(b"\n") if line.strip())


def log_line_chars(event: Mapping[str, Any]) -> int:
    """Length of an event as ``key=value key=value …`` text."""
    return sum(len(str(key)) + len(str(value)) + 2 for key, value in event.items())


def _short(event: Mapping[str, Any]) -> str:
    return repr({key: str(value)[:80] for key, value in event.items()})


def check_decode_event(event: Mapping[str, Any], endpoint: Endpoint) -> list[Violation]:
    """What is wrong with one ``protocol.decode_error`` event (property 5); ``[]`` if nothing."""
    missing = [key for key in DECODE_ERROR_KEYS if key not in event]
    if missing:
        return [Violation("log-missing-key", f"no {', '.join(missing)}: {_short(event)}")]
    found: list[Violation] = []
    if event["endpoint"] != endpoint.value:
        found.append(Violation("log-endpoint", f"{event['endpoint']!r}, not {endpoint.value!r}"))
    if not event["message_type"]:
        found.append(Violation("log-no-type", _short(event)))
    if not event["field"] and event["message_type"] != protocol.UNPARSED_MESSAGE_TYPE:
        found.append(Violation("log-no-field", _short(event)))
    if not event["excerpt"]:
        found.append(Violation("log-no-excerpt", _short(event)))
    if not event["problem"]:
        found.append(Violation("log-no-problem", _short(event)))
    if INTERNAL_ERROR in str(event["problem"]):
        exception = str(event["problem"]).rpartition(": ")[2]
        found.append(Violation(f"internal-error-{exception}", _short(event)))
    for key in DECODE_ERROR_KEYS:
        size = len(str(event[key]))
        if size > LOG_VALUE_CHARS:
            found.append(
                Violation(f"log-{key}-too-long", f"{size} > {LOG_VALUE_CHARS}: {_short(event)}")
            )
    size = log_line_chars(event)
    if size > LOG_LINE_CHARS:
        found.append(Violation("log-line-too-long", f"{size} > {LOG_LINE_CHARS}"))
    return found


def crash_signature(stage: str, exc: BaseException) -> CrashSignature:
    """Where an exception came from: (stage, its type, the innermost ``engine`` function)."""
    where = "?"
    for frame in traceback.extract_tb(exc.__traceback__):
        if "/engine/" in frame.filename.replace("\\", "/"):
            where = frame.name
    return stage, type(exc).__name__, where


@attrs.define
class FrameResult:
    """What one frame produced, and which properties it broke."""

    lines: int
    messages: list[AriesMessage]
    decode_errors: int
    normalize_errors: list[ProtocolError]
    events: list[Event]
    violations: list[Violation]
    crashes: list[CrashSignature]
    engine_s: float = 0.0
    """Seconds spent in the engine's code (decode, handle, apply), the checks excluded."""

    @property
    def unknown(self) -> int:
        """Messages of a type the client ignores (decoded, not errors)."""
        return sum(1 for message in self.messages if type(message) is UnknownMessage)

    def unexpected(self) -> list[Violation]:
        """The violations and crashes that are not known bugs (what a test must not see)."""
        return [v for v in self.violations if v.code not in KNOWN_VIOLATIONS] + [
            Violation("crash", " ".join(signature))
            for signature in self.crashes
            if signature not in KNOWN_CRASHES
        ]


@attrs.define(eq=False)
class Pipeline:
    """One socket's decode → handle → book path, kept across frames like a connection's.

    ``tolerate``: crash signatures recorded instead of raised (``KNOWN_CRASHES``, or ``ALL``).
    """

    endpoint: Endpoint
    tolerate: Collection[CrashSignature] = KNOWN_CRASHES
    decoder: FrameDecoder = attrs.field(init=False)
    handler: EndpointHandler = attrs.field(init=False)
    books: dict[str, AccountBook] = attrs.field(init=False)

    def __attrs_post_init__(self) -> None:
        self.decoder = FrameDecoder(self.endpoint)
        self.handler = handler_for(self.endpoint)
        self.books = (
            {account: AccountBook(account) for account in ACCOUNTS}
            if self.endpoint is Endpoint.ACCOUNTS
            else {}
        )

    def run(self, frame: Frame | str | bytes, logs: LogEvents) -> FrameResult:
        """Feed one frame; ``logs`` is where the caller captures structlog events."""
        data = frame.data if isinstance(frame, Frame) else frame
        start = len(logs)
        before = self.decoder.statistics()
        crashes: list[CrashSignature] = []
        violations: list[Violation] = []
        messages: list[AriesMessage] = []
        began = perf_counter()
        try:
            messages = self.decoder.decode_frame(data, ts_recv=TS_RECV)
        except Exception as exc:
            crashes.append(self._crash("decode", exc))
        engine_s = perf_counter() - began
        after = self.decoder.statistics()
        lines = non_blank_lines(data, self.endpoint)
        if not crashes:
            events = [e for e in logs[start:] if e.get("event") == "protocol.decode_error"]
            violations += self._check_decode(messages, lines, before, after, events)

        began = perf_counter()
        events_out: list[Event] = []
        normalize_errors: list[ProtocolError] = []
        for message in messages:
            try:
                events_out += self.handler.handle(message)
            except ProtocolError as exc:
                normalize_errors.append(exc)
                if not exc.message_type or not exc.field:
                    violations.append(Violation("normalize-no-field", repr(exc)))
            except Exception as exc:
                crashes.append(self._crash("handle", exc))

        for event in events_out:
            if isinstance(event, BOOK_INPUT_TYPES):
                book = self.books.get(event.account_id)
                if book is None:
                    continue
                try:
                    book.apply(event)
                except Exception as exc:
                    crashes.append(self._crash("book", exc))
        engine_s += perf_counter() - began
        return FrameResult(
            lines=lines,
            messages=messages,
            decode_errors=after.errors - before.errors,
            normalize_errors=normalize_errors,
            events=events_out,
            violations=violations,
            crashes=crashes,
            engine_s=engine_s,
        )

    def _crash(self, stage: str, exc: Exception) -> CrashSignature:
        signature = crash_signature(stage, exc)
        if signature not in self.tolerate:
            raise exc
        return signature

    def _check_decode(
        self,
        messages: list[AriesMessage],
        lines: int,
        before: DecoderStatistics,
        after: DecoderStatistics,
        decode_events: list[MutableMapping[str, Any]],
    ) -> list[Violation]:
        found: list[Violation] = []
        errors = after.errors - before.errors
        if len(decode_events) != errors:
            found.append(
                Violation("decode-count", f"{len(decode_events)} log events, counter +{errors}")
            )
        if after.messages - before.messages != len(messages):
            found.append(
                Violation(
                    "message-count",
                    f"{len(messages)} returned, counter +{after.messages - before.messages}",
                )
            )
        if after.frames - before.frames != 1:
            found.append(Violation("frame-count", f"counter +{after.frames - before.frames}"))
        if len(messages) + errors != lines:
            found.append(
                Violation(
                    "line-count", f"{lines} lines, {len(messages)} messages + {errors} errors"
                )
            )
        for event in decode_events:
            found += check_decode_event(event, self.endpoint)
        return found


def fuzz_settings(max_examples: int) -> settings:
    """Hypothesis settings of the fuzz tests: no deadline (a frame may be enormous), and the
    health checks that big generated frames trip switched off."""
    return settings(
        max_examples=max_examples,
        deadline=None,
        suppress_health_check=[
            HealthCheck.too_slow,
            HealthCheck.data_too_large,
            HealthCheck.large_base_example,
        ],
    )


def run_all(endpoint: Endpoint, frames: Sequence[Frame | str | bytes]) -> list[FrameResult]:
    """Feed ``frames`` in order through one pipeline, capturing each frame's log events; fail
    (``AssertionError`` naming the frame) on any violation that is not a known bug."""
    pipeline = Pipeline(endpoint)
    results = []
    for frame in frames:
        with capture_logs() as logs:
            result = pipeline.run(frame, logs)
        assert result.unexpected() == [], frame
        results.append(result)
    return results
