"""A string that never shows itself: tokens and client secrets live in ``Secret``."""

from __future__ import annotations

import attrs


@attrs.frozen(repr=False)
class Secret:
    """A secret value whose ``repr`` and ``str`` print ``***``, so logs cannot leak it."""

    _value: str = attrs.field(alias="value")

    def reveal(self) -> str:
        """The secret itself: call only where it is sent (an auth message, a header)."""
        return self._value

    def __repr__(self) -> str:
        return "Secret('***')"

    __str__ = __repr__
