"""Build one populated instance of any engine attrs class, by its field types."""

from __future__ import annotations

import enum
import types
import typing
from datetime import UTC, date, datetime, timedelta, timezone
from decimal import Decimal
from typing import Any

import attrs

# Aware datetimes with microseconds and a non-UTC offset: both must survive the round trip.
AWARE = datetime(2024, 5, 1, 14, 30, 0, 123456, tzinfo=UTC)
OFFSET = datetime(2024, 5, 1, 9, 30, 0, 654321, tzinfo=timezone(timedelta(hours=-5)))


def sample_value(tp: Any, name: str) -> Any:
    origin = typing.get_origin(tp)
    if origin in (types.UnionType, typing.Union):
        inner = [a for a in typing.get_args(tp) if a is not type(None)]
        return sample_value(inner[0], name)
    if origin is tuple:
        args = typing.get_args(tp)
        if len(args) == 2 and args[1] is Ellipsis:  # tuple[X, ...]
            return (sample_value(args[0], name),)
        return tuple(sample_value(arg, name) for arg in args)
    if tp is Decimal:
        return Decimal("101.2500")  # trailing zeros are part of the exact value
    if tp is datetime:
        return OFFSET if name.endswith("_at") else AWARE
    if tp is date:
        return date(2025, 1, 17)
    if tp is bool:
        return True
    if tp is int:
        return 1_714_573_800_123_456_789 if name == "ts_recv" else 7
    if tp is str:
        return f"{name}-é1"
    if isinstance(tp, type) and issubclass(tp, enum.Enum):
        return list(tp)[-1]
    if isinstance(tp, type) and attrs.has(tp):
        return build(tp)
    raise TypeError(f"no sample for {tp!r} ({name})")


def build(cls: type) -> Any:
    """An instance of the attrs class ``cls`` with every field set to a non-default sample."""
    attrs.resolve_types(cls)
    kwargs = {f.name: sample_value(f.type, f.name) for f in attrs.fields(cls) if f.init}
    return cls(**kwargs)
