"""JSON for the journal: engine events, intents and verdicts, tagged by class name.

One cattrs converter (``make_journal_converter``) with these rules, simple types first:

* ``Decimal`` ↔ its ``str`` (``"101.25"``, ``"1E+2"``): exact, never a float;
* ``datetime`` ↔ RFC 3339 via ``isoformat()`` / ``fromisoformat()``, offset kept (aware stays
  aware, equal instant and offset);
* ``date`` ↔ ``YYYY-MM-DD``;
* enums ↔ their values, tuples ↔ arrays (cattrs defaults); attrs classes ↔ dicts keyed by field
  name, every field written (defaults included), so a reader never depends on today's defaults.

``JournalCodec`` adds the tag: ``encode(obj)`` returns ``(kind, json)`` where ``kind`` is the
class name, stored in its own column; ``decode(kind, json)`` rebuilds the exact frozen object.
Known kinds are every concrete subclass of ``engine.model.Event`` (found when the codec is
built, so a new event class needs no registration) plus the intents and verdicts of
``engine.model.orders``. An unknown kind, or a payload that no longer fits its class, decodes to
``None`` and is counted in ``skipped`` (with one warning per kind): a journal written by a newer or
older engine is still readable.

The writer encodes in its worker thread, never on the trio thread.
"""

from __future__ import annotations

import json
import sys
from collections import Counter
from datetime import date, datetime
from decimal import Decimal
from typing import Any

import attrs
import cattrs
import structlog

import engine.model  # noqa: F401  (imports every event class, so the registry sees them)
from engine.model.events import Event
from engine.model.orders import (
    CancelIntent,
    CancelRequest,
    OrderIntent,
    ReplaceRequest,
    RiskVerdict,
)

__all__ = ["JournalCodec", "known_kinds", "make_journal_converter"]

log = structlog.get_logger(__name__)

_EXTRA_KINDS: tuple[type, ...] = (
    OrderIntent,
    CancelIntent,
    CancelRequest,
    ReplaceRequest,
    RiskVerdict,
)


def _structure_decimal(value: Any, _: type) -> Decimal:
    if isinstance(value, float):
        raise TypeError("journal money must be a decimal string, not a float")
    return Decimal(value)


def _structure_datetime(value: Any, _: type) -> datetime:
    return datetime.fromisoformat(value)


def _structure_date(value: Any, _: type) -> date:
    return date.fromisoformat(value)


@attrs.frozen(kw_only=True)
class JournalGap(Event):
    """Written by the journal itself: ``dropped`` records were lost here (the buffer was full).

    After a gap the journal is no longer a prefix of what happened, so it cannot vouch for
    which fills were delivered: a restart refuses to restore from it.
    """

    dropped: int


def make_journal_converter() -> cattrs.Converter:
    """Build the journal's converter (see the module docstring for its rules)."""
    converter = cattrs.Converter()
    converter.register_unstructure_hook(Decimal, str)
    converter.register_structure_hook(Decimal, _structure_decimal)
    converter.register_unstructure_hook(datetime, datetime.isoformat)
    converter.register_structure_hook(datetime, _structure_datetime)
    converter.register_unstructure_hook(date, date.isoformat)
    converter.register_structure_hook(date, _structure_date)
    return converter


def _concrete_events() -> list[type[Event]]:
    found: list[type[Event]] = []
    stack: list[type[Event]] = [Event]
    while stack:
        cls = stack.pop()
        stack.extend(cls.__subclasses__())
        # attrs' slotted classes replace the decorated class; the original may linger among
        # __subclasses__() until collected. The real one is the module's attribute.
        module = sys.modules.get(cls.__module__)
        if (
            cls.__module__.startswith("engine.")
            and getattr(module, cls.__qualname__, None) is cls
            and cls not in found
        ):
            found.append(cls)
    return found


def known_kinds() -> dict[str, type]:
    """Every class the codec can rebuild, by name (the ``kind`` column)."""
    kinds: dict[str, type] = {}
    for cls in (*_concrete_events(), *_EXTRA_KINDS):
        other = kinds.setdefault(cls.__name__, cls)
        if other is not cls:
            raise TypeError(f"two journal kinds named {cls.__name__}: {other} and {cls}")
    return kinds


class JournalCodec:
    """Tagged JSON for engine objects. Not thread-safe: one per thread that uses it."""

    def __init__(self, kinds: dict[str, type] | None = None) -> None:
        self.converter = make_journal_converter()
        self.kinds = known_kinds() if kinds is None else dict(kinds)
        self.skipped: Counter[str] = Counter()

    def unstructure(self, obj: object) -> dict[str, Any]:
        """``obj`` as a JSON-ready dict (no tag)."""
        data: dict[str, Any] = self.converter.unstructure(obj, unstructure_as=type(obj))
        return data

    def encode(self, obj: object) -> tuple[str, str]:
        """``(kind, payload_json)`` for ``obj``."""
        return type(obj).__name__, dumps(self.unstructure(obj))

    def decode(self, kind: str, payload: str) -> Any | None:
        """The object ``encode`` was given, or ``None`` (counted) if ``kind`` cannot be rebuilt."""
        cls = self.kinds.get(kind)
        if cls is None:
            self._skip(kind, "journal.unknown_kind")
            return None
        try:
            return self.converter.structure(json.loads(payload), cls)
        except (ValueError, TypeError, KeyError, cattrs.BaseValidationError):
            self._skip(kind, "journal.undecodable_row")
            return None

    def _skip(self, kind: str, what: str) -> None:
        self.skipped[kind] += 1
        if self.skipped[kind] == 1:
            log.warning(what, kind=kind)


def dumps(value: Any) -> str:
    """Compact JSON, UTF-8 kept as is; values json cannot encode are written as strings."""
    return json.dumps(value, separators=(",", ":"), ensure_ascii=False, default=str)
