"""attrs validators for the ``Config`` classes of plugins and strategies.

Each raises ``engine.config.ConfigValueError`` naming the field, so a bad value in
``engine.toml`` is reported as ``plugin 'name': config.<field>: <problem>`` at start-up.
"""

from __future__ import annotations

from decimal import Decimal
from typing import Any

import attrs

from engine.config import ConfigValueError

_ZERO = Decimal(0)
_HUNDRED = Decimal(100)


def non_negative(_instance: Any, attribute: attrs.Attribute[Any], value: Decimal | float) -> None:
    """``value >= 0``."""
    if not value >= 0:
        raise ConfigValueError(attribute.name, f"expected a number >= 0, got {value}")


def positive(_instance: Any, attribute: attrs.Attribute[Any], value: Decimal | float) -> None:
    """``value > 0``."""
    if not value > 0:
        raise ConfigValueError(attribute.name, f"expected a number greater than 0, got {value}")


def optional_positive(
    _instance: Any, attribute: attrs.Attribute[Any], value: Decimal | float | None
) -> None:
    """``None`` (no limit) or ``value > 0``."""
    if value is not None:
        positive(_instance, attribute, value)


def percent(_instance: Any, attribute: attrs.Attribute[Any], value: Decimal) -> None:
    """A percentage from 0 to 100."""
    if not _ZERO <= value <= _HUNDRED:
        raise ConfigValueError(attribute.name, f"expected a percentage from 0 to 100, got {value}")


def fraction(_instance: Any, attribute: attrs.Attribute[Any], value: Decimal) -> None:
    """A rate from 0 to 1 (e.g. a maintenance rate of 0.25)."""
    if not _ZERO <= value <= 1:
        raise ConfigValueError(attribute.name, f"expected a rate from 0 to 1, got {value}")
