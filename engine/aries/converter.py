"""The one cattrs converter of the wire layer, and the JSON reader it pairs with.

``make_converter()`` builds a private ``cattrs.Converter`` (never the global one). Rules, in
registration order (simple types first, as the cattrs docs advise):

* ``Decimal``: a decimal string (``"175.50"``, ``"-1e3"``) or a JSON number. Numbers are exact:
  ``loads`` parses JSON fractions straight into ``Decimal`` and a Python ``float`` is converted via
  ``str()``, so ``0.1`` is ``Decimal("0.1")``. NaN, infinities, ``"1e400"``-style magnitudes and
  anything outside the limits of ``engine.aries.protocol`` are rejected.
* ``datetime``: an RFC 3339 string *with* an offset (normalized to UTC), or epoch milliseconds as
  a number or a digit string. A string without an offset is rejected. ``date``: ``YYYY-MM-DD``.
* ``str``: strings only (integers are accepted for ids); ``int``: integers, integral numbers
  and digit strings; ``bool``: booleans and ``"true"``/``"false"``. Never ``str(None)`` or
  ``bool("0")``.
* Domain enums (``OrderStatus``, ``Side``, ``OrderType``, ``TimeInForce``, ``SecurityType``): the
  domain value or an alias from ``engine.aries.protocol``, exact or upper-cased.
* ``X | None`` for those scalars and enums: ``null`` *and* ``""`` are ``None`` (Aries sends
  ``"stopPrice": ""`` for unset values).
* Wire data models (``engine.aries.wire``): JSON keys are camel case or the field's ``wire``
  metadata; the protocol alias tables are resolved first (``avgCost`` → ``avgPrice`` …); unknown
  keys are ignored; detailed validation is on. Unstructuring writes the same keys and omits
  ``None``, so a wire model survives ``unstructure`` → JSON → ``structure`` unchanged.

``structure(converter, data, cls, path=...)`` is the entry point the decoder and the REST client
use: it turns cattrs' exception groups into one ``WireError(field, problem)`` that names the
dotted JSON path of the first bad field (``payload.data.cumQty``).
"""

from __future__ import annotations

import enum
import functools
import json
import math
import re
from collections.abc import Callable, Mapping
from datetime import UTC, date, datetime, timedelta
from decimal import Decimal, InvalidOperation
from typing import Any, TypeVar

import cattrs
from cattrs.errors import (
    AttributeValidationNote,
    ClassValidationError,
    IterableValidationError,
    IterableValidationNote,
)
from cattrs.gen import make_dict_structure_fn, make_dict_unstructure_fn, override

from engine.aries import protocol
from engine.aries.wire import (
    WireAccountInfo,
    WireBalance,
    WireBalanceExtra,
    WireCancelResponse,
    WireChartQuote,
    WireChartTrade,
    WireGreeks,
    WireLeg,
    WireLevel2,
    WireNews,
    WireOrderV1,
    WireOrderV2,
    WirePlaceResponse,
    WirePnlCandle,
    WirePosition,
    WirePreviewResponse,
    WireQuote,
    WireReplaceResponse,
    WireTokenResponse,
    WireTrade,
    WireUserAccount,
    WireWatchlistItem,
    wire_keys,
)
from engine.model.enums import OrderStatus, OrderType, SecurityType, Side, TimeInForce

__all__ = [
    "WireError",
    "default_converter",
    "json_type",
    "loads",
    "make_converter",
    "structure",
    "structure_datetime",
    "structure_decimal",
    "structure_int",
]

T = TypeVar("T")

_EPOCH = datetime(1970, 1, 1, tzinfo=UTC)
_DECIMAL_RE = re.compile(r"[+-]?(?:\d+\.?\d*|\.\d+)(?:[eE][+-]?\d+)?")
_decimal_match = _DECIMAL_RE.fullmatch
_MAX_DECIMAL_CHARS = protocol.MAX_DECIMAL_CHARS
_MAX_EXPONENT = protocol.MAX_DECIMAL_ADJUSTED_EXPONENT
_MIN_EXPONENT = protocol.MIN_DECIMAL_ADJUSTED_EXPONENT
_NON_FINITE = frozenset({"nan", "snan", "inf", "infinity"})
_INT_RE = re.compile(r"[+-]?\d{1,18}")
_MAX_INT = 10**18

#: JSON reader of the wire layer: fractions become ``Decimal`` directly (exact, no float step).
_JSON_DECODER = json.JSONDecoder(parse_float=Decimal)


def loads(text: str) -> Any:
    """Parse one JSON document; JSON fractions become ``Decimal``.

    Raises:
        ValueError: the text is not JSON (``json.JSONDecodeError``, a number too long, or a
            number out of ``Decimal``'s range).
        RecursionError: the document nests too deeply.
    """
    try:
        return _JSON_DECODER.decode(text)
    except ArithmeticError:  # e.g. 1e99999999999999999999: Decimal cannot hold it
        raise ValueError("a number out of range") from None


class WireError(Exception):
    """A value does not match the wire model; ``field`` is the dotted JSON path."""

    def __init__(self, field: str, problem: str) -> None:
        self.field = field
        self.problem = problem
        super().__init__(f"{field}: {problem}")


def json_type(value: object) -> str:
    """The JSON name of a parsed value's type, for error messages."""
    if value is None:
        return "null"
    if isinstance(value, bool):
        return "boolean"
    if isinstance(value, str):
        return "string"
    if isinstance(value, int | float | Decimal):
        return "number"
    if isinstance(value, list):
        return "array"
    if isinstance(value, dict):
        return "object"
    return type(value).__name__


# --- scalar hooks ---------------------------------------------------------------------------------


#: Parsed values of recent decimal and timestamp strings (and epoch-ms integers). Prices, sizes
#: and timestamps repeat a lot in a feed, and ``Decimal``/``datetime`` are immutable, so a hit
#: returns the shared object. Only valid values are stored; a full cache is emptied.
_DECIMAL_CACHE: dict[str, Decimal] = {}
_DATETIME_CACHE: dict[str | int, datetime] = {}
_CACHE_LIMIT = 8192
_V = TypeVar("_V")


def structure_decimal(value: object, _: object = None) -> Decimal:
    """A finite, sanely bounded ``Decimal`` from a decimal string or a JSON number."""
    if type(value) is str:
        cached = _DECIMAL_CACHE.get(value)
        if cached is not None:
            return cached
        return _remember(_DECIMAL_CACHE, value, _parse_decimal_string(value))
    return _decimal_from_number(value)


def _remember(cache: dict[Any, _V], key: Any, value: _V) -> _V:
    """Store a freshly parsed ``value`` in its cache (emptied when full); return it."""
    if len(cache) >= _CACHE_LIMIT:
        cache.clear()
    cache[key] = value
    return value


def _parse_decimal_string(value: str) -> Decimal:
    # The pattern admits only finite decimal notation (no NaN/Infinity, "_" or spaces).
    if len(value) > _MAX_DECIMAL_CHARS or _decimal_match(value) is None:
        finite = "" if value.lstrip("+-").lower() not in _NON_FINITE else "finite "
        raise ValueError(f"not a {finite}decimal: {value[:32]!r}")
    return _bounded(Decimal(value), value)


def _decimal_from_number(value: object) -> Decimal:
    if isinstance(value, Decimal):
        result = value
    elif isinstance(value, int) and not isinstance(value, bool):
        result = Decimal(value)
    elif isinstance(value, float):
        result = Decimal(str(value))
    else:
        raise TypeError(f"expected a decimal string or number, got {json_type(value)}")
    if not result.is_finite():
        raise ValueError(f"not a finite decimal: {value!r}")
    return _bounded(result, value)


def _bounded(result: Decimal, value: object) -> Decimal:
    exponent = result.adjusted()
    if exponent > _MAX_EXPONENT or (exponent < _MIN_EXPONENT and result):
        raise ValueError(f"decimal out of range: {str(value)[:32]!r}")
    return result


def _is_finite(value: Decimal | float) -> bool:
    return value.is_finite() if isinstance(value, Decimal) else math.isfinite(value)


def _from_epoch_ms(ms: int | Decimal | float) -> datetime:
    if not 0 <= ms < protocol.MAX_EPOCH_MS:
        raise ValueError(f"epoch milliseconds out of range: {ms}")
    if isinstance(ms, int):
        return _EPOCH + timedelta(milliseconds=ms)
    return _EPOCH + timedelta(microseconds=round(ms * 1000))


def structure_datetime(value: object, _: object = None) -> datetime:
    """An aware UTC ``datetime`` from RFC 3339 text (with offset) or epoch milliseconds."""
    kind = type(value)
    if kind is str or kind is int:
        key: str | int = value  # type: ignore[assignment]
        cached = _DATETIME_CACHE.get(key)
        if cached is not None:
            return cached
        return _remember(_DATETIME_CACHE, key, _parse_datetime(value))
    return _parse_datetime(value)


def _parse_datetime(value: object) -> datetime:
    if type(value) is str:
        if len(value) > protocol.MAX_TIMESTAMP_CHARS:
            raise ValueError(f"timestamp too long: {value[:32]!r}")
        if value.isascii() and value.isdigit():
            return _from_epoch_ms(int(value))
        try:
            parsed = datetime.fromisoformat(value)
        except ValueError:
            raise ValueError(f"not an RFC 3339 timestamp: {value[:40]!r}") from None
        if parsed.utcoffset() is None:
            raise ValueError(f"timestamp without UTC offset: {value[:40]!r}")
        return parsed if parsed.tzinfo is UTC else parsed.astimezone(UTC)
    if isinstance(value, int) and not isinstance(value, bool):
        return _from_epoch_ms(value)
    if isinstance(value, Decimal | float):
        if not _is_finite(value):
            raise ValueError(f"not a finite timestamp: {value!r}")
        return _from_epoch_ms(value)
    if isinstance(value, datetime):
        if value.utcoffset() is None:
            raise ValueError("timestamp without UTC offset")
        return value.astimezone(UTC)
    raise TypeError(f"expected an RFC 3339 string or epoch milliseconds, got {json_type(value)}")


def _structure_date(value: object, _: object = None) -> date:
    if type(value) is str:
        if len(value) > protocol.MAX_TIMESTAMP_CHARS:
            raise ValueError(f"date too long: {value[:32]!r}")
        try:
            return date.fromisoformat(value)
        except ValueError:
            raise ValueError(f"not a YYYY-MM-DD date: {value[:32]!r}") from None
    if isinstance(value, date) and not isinstance(value, datetime):
        return value
    raise TypeError(f"expected a YYYY-MM-DD string, got {json_type(value)}")


def _structure_str(value: object, _: object = None) -> str:
    if type(value) is str:
        return value
    if isinstance(value, int) and not isinstance(value, bool):
        return str(value)
    raise TypeError(f"expected a string, got {json_type(value)}")


def structure_int(value: object, _: object = None) -> int:
    """An integer from a JSON integer, an integral number or a digit string."""
    if isinstance(value, int) and not isinstance(value, bool):
        return value
    if isinstance(value, Decimal | float):
        if _is_finite(value) and -_MAX_INT < value < _MAX_INT and value == int(value):
            return int(value)
        raise ValueError(f"not an integer: {value!r}")
    if type(value) is str:
        if _INT_RE.fullmatch(value) is None:
            raise ValueError(f"not an integer: {value[:32]!r}")
        return int(value)
    raise TypeError(f"expected an integer, got {json_type(value)}")


def _structure_bool(value: object, _: object = None) -> bool:
    if isinstance(value, bool):
        return value
    if type(value) is str:
        lowered = value.lower()
        if lowered in ("true", "false"):
            return lowered == "true"
    raise TypeError(f"expected a boolean, got {json_type(value)}")


E = TypeVar("E", bound=enum.Enum)


def _enum_hook(cls: type[E], aliases: Mapping[str, E]) -> Callable[[object, object], E]:
    table: dict[str, E] = {str(member.value): member for member in cls}
    table.update(aliases)

    def structure_enum(value: object, _: object = None) -> E:
        if type(value) is str:
            member = table.get(value)
            if member is None:
                member = table.get(value.upper())
            if member is None:
                raise ValueError(f"unknown {cls.__name__} {value[:32]!r}")
            return member
        if isinstance(value, cls):
            return value
        raise TypeError(f"expected a {cls.__name__} string, got {json_type(value)}")

    return structure_enum


_ENUM_ALIASES: tuple[tuple[type[enum.Enum], Mapping[str, Any]], ...] = (
    (OrderStatus, protocol.ORDER_STATUS_ALIASES),
    (Side, protocol.SIDE_ALIASES),
    (OrderType, protocol.ORDER_TYPE_ALIASES),
    (TimeInForce, protocol.TIME_IN_FORCE_ALIASES),
    (SecurityType, protocol.SECURITY_TYPE_ALIASES),
)

#: Scalar types whose ``X | None`` reads ``""`` as ``None``.
_BLANK_IS_NONE: tuple[type, ...] = (
    Decimal,
    datetime,
    date,
    int,
    bool,
    *(cls for cls, _ in _ENUM_ALIASES),
)

# --- wire data models -----------------------------------------------------------------------------

#: Each wire data model and the protocol table of its key aliases.
WIRE_MODELS: tuple[tuple[type, Mapping[str, tuple[str, ...]]], ...] = (
    (WireLeg, {}),
    (WireOrderV2, protocol.ORDER_KEY_ALIASES),
    (WireOrderV1, protocol.ORDER_KEY_ALIASES),
    (WirePosition, protocol.POSITION_KEY_ALIASES),
    (WireBalance, protocol.BALANCE_KEY_ALIASES),
    (WireAccountInfo, protocol.ACCOUNT_INFO_KEY_ALIASES),
    (WireQuote, {}),
    (WireTrade, protocol.TRADE_KEY_ALIASES),
    (WirePlaceResponse, {}),
    (WireCancelResponse, {}),
    (WirePnlCandle, protocol.PNL_CANDLE_KEY_ALIASES),
    (WireWatchlistItem, protocol.WATCHLIST_KEY_ALIASES),
    (WireNews, protocol.NEWS_KEY_ALIASES),
    (WireLevel2, {}),
    (WireGreeks, protocol.GREEKS_KEY_ALIASES),
    (WireChartQuote, protocol.CHART_QUOTE_KEY_ALIASES),
    (WireChartTrade, protocol.CHART_TRADE_KEY_ALIASES),
    (WireReplaceResponse, {}),
    (WirePreviewResponse, {}),
    (WireBalanceExtra, {}),
    (WireUserAccount, {}),
    (WireTokenResponse, {}),
)


def _structure_optional_decimal(value: object, _: object = None) -> Decimal | None:
    if value is None or value == "":
        return None
    return structure_decimal(value)


def _structure_optional_str(value: object, _: object = None) -> str | None:
    if value is None or type(value) is str:
        return value
    return _structure_str(value)


def _structure_str_tuple(value: object, _: object = None) -> tuple[str, ...]:
    """A JSON array of strings (never a string, which would iterate as characters)."""
    if type(value) is not list and type(value) is not tuple:
        raise TypeError(f"expected an array of strings, got {json_type(value)}")
    return tuple(_structure_str(item) for item in value)


def _structure_optional_str_tuple(value: object, _: object = None) -> tuple[str, ...] | None:
    return None if value is None else _structure_str_tuple(value)


def _blank_is_none(inner: Callable[[Any, Any], Any]) -> Callable[[object, object], Any]:
    def structure_optional(value: object, _: object = None) -> Any:
        if value is None or (type(value) is str and value == ""):
            return None
        return inner(value, None)

    return structure_optional


def _is_blank(value: object) -> bool:
    return value is None or (type(value) is str and value == "")


def resolve_aliases(data: Mapping[str, Any], aliases: Mapping[str, tuple[str, ...]]) -> Any:
    """``data`` with each canonical key filled from its first non-blank alias, if it was blank.

    Returns ``data`` itself when nothing needed filling (the common case: no copy).
    """
    result: dict[str, Any] | None = None
    for canonical, alternatives in aliases.items():
        if not _is_blank(data.get(canonical)):
            continue
        for alternative in alternatives:
            value = data.get(alternative)
            if not _is_blank(value):
                if result is None:
                    result = dict(data)
                result[canonical] = value
                break
    return data if result is None else result


def _register_wire_model(
    converter: cattrs.Converter, cls: type, aliases: Mapping[str, tuple[str, ...]]
) -> None:
    renames = {name: override(rename=key) for name, key in wire_keys(cls).items()}
    base: Callable[[Mapping[str, Any], Any], Any] = make_dict_structure_fn(
        cls,
        converter,
        **renames,  # type: ignore[arg-type]
    )

    def structure_wire(data: object, _: object = None) -> Any:
        if type(data) is not dict and not isinstance(data, Mapping):
            raise TypeError(f"expected an object, got {json_type(data)}")
        return base(resolve_aliases(data, aliases) if aliases else data, cls)

    converter.register_structure_hook(cls, structure_wire)
    converter.register_unstructure_hook(
        cls,
        make_dict_unstructure_fn(
            cls,
            converter,
            _cattrs_omit_if_default=True,
            **renames,  # type: ignore[arg-type]
        ),
    )


def make_converter() -> cattrs.Converter:
    """Build the wire layer's private converter (see the module docstring for its rules)."""
    converter = cattrs.Converter(detailed_validation=True, forbid_extra_keys=False)
    converter.register_structure_hook(Decimal, structure_decimal)
    converter.register_structure_hook(datetime, structure_datetime)
    converter.register_structure_hook(date, _structure_date)
    converter.register_structure_hook(str, _structure_str)
    converter.register_structure_hook(int, structure_int)
    converter.register_structure_hook(bool, _structure_bool)
    for cls, aliases in _ENUM_ALIASES:
        converter.register_structure_hook(cls, _enum_hook(cls, aliases))
    # ``X | None`` hooks call the scalar hook directly (cattrs' generic Optional hook dispatches
    # on every call, which showed up as the largest single cost of decoding an order).
    converter.register_structure_hook(Decimal | None, _structure_optional_decimal)
    converter.register_structure_hook(str | None, _structure_optional_str)
    converter.register_structure_hook_func(lambda t: t == tuple[str, ...], _structure_str_tuple)
    converter.register_structure_hook_func(
        lambda t: t == (tuple[str, ...] | None), _structure_optional_str_tuple
    )
    for scalar in _BLANK_IS_NONE:
        if scalar is not Decimal:
            converter.register_structure_hook(
                scalar | None, _blank_is_none(converter.get_structure_hook(scalar))
            )

    converter.register_unstructure_hook(Decimal, str)
    converter.register_unstructure_hook(datetime, datetime.isoformat)
    converter.register_unstructure_hook(date, date.isoformat)
    for cls, aliases in WIRE_MODELS:
        _register_wire_model(converter, cls, aliases)
    # Most orders have no legs: skip cattrs' generic Optional/tuple dispatch for them (a leg
    # list still goes through it, for its precise per-index error paths).
    legs = converter.get_structure_hook(tuple[WireLeg, ...])

    def structure_optional_legs(value: object, _: object = None) -> tuple[WireLeg, ...] | None:
        if value is None:
            return None
        if type(value) is list and not value:
            return ()
        return legs(value, tuple[WireLeg, ...])  # type: ignore[no-any-return]

    converter.register_structure_hook_func(
        lambda t: t == (tuple[WireLeg, ...] | None), structure_optional_legs
    )
    return converter


@functools.cache
def default_converter() -> cattrs.Converter:
    """The converter used when none is injected (built once, on first use, then never changed)."""
    return make_converter()


# --- structuring with precise errors ------------------------------------------------------------


def _join(path: str, key: str) -> str:
    return f"{path}.{key}" if path else key


def _first_leaf(exc: BaseException, path: str) -> tuple[str, BaseException, int]:
    """Walk cattrs' exception groups to the first failing value: (path, leaf, leaves in total)."""
    if isinstance(exc, ClassValidationError):
        keys = wire_keys(exc.cl) if hasattr(exc.cl, "__attrs_attrs__") else {}
        found: tuple[str, BaseException] | None = None
        total = 0
        for sub in exc.exceptions:
            sub_path = path
            for note in getattr(sub, "__notes__", ()):
                if isinstance(note, AttributeValidationNote):
                    sub_path = _join(path, keys.get(note.name, note.name))
                    break
            leaf_path, leaf, count = _first_leaf(sub, sub_path)
            total += count
            if found is None:
                found = (leaf_path, leaf)
        if found is not None:
            return found[0], found[1], total
    if isinstance(exc, IterableValidationError):
        found = None
        total = 0
        for sub in exc.exceptions:
            sub_path = path
            for note in getattr(sub, "__notes__", ()):
                if isinstance(note, IterableValidationNote):
                    sub_path = _join(path, str(note.index))
                    break
            leaf_path, leaf, count = _first_leaf(sub, sub_path)
            total += count
            if found is None:
                found = (leaf_path, leaf)
        if found is not None:
            return found[0], found[1], total
    return path, exc, 1


def _problem(leaf: BaseException) -> str:
    if isinstance(leaf, KeyError):
        return "required field missing"
    if isinstance(leaf, InvalidOperation):
        return "not a decimal"
    text = str(leaf) or type(leaf).__name__
    return text[:160]


def structure(converter: cattrs.Converter, data: object, cls: type[T], *, path: str) -> T:
    """Structure ``data`` (found at JSON ``path``) into the wire model ``cls``.

    Raises:
        WireError: naming the dotted path of the first bad field, e.g.
            ``WireError("payload.data.cumQty", "not a decimal: 'abc'")``.
    """
    try:
        return converter.structure(data, cls)
    except (ClassValidationError, IterableValidationError) as exc:
        field, leaf, total = _first_leaf(exc, path)
        problem = _problem(leaf)
        if total > 1:
            problem = f"{problem} (and {total - 1} more)"
        raise WireError(field, problem) from None
    except (ValueError, TypeError, KeyError, ArithmeticError) as exc:
        raise WireError(path, _problem(exc)) from None
