"""Calling one plugin's implementation of a hook at a time (pluggy's argument rules).

The host calls implementations one by one, not through ``pm.hook.<name>(...)``, so that each
plugin gets its own context, a raising plugin is isolated from the others, and each call can be
timed.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping
from typing import Any

import attrs
import pluggy


@attrs.frozen
class BoundImpl:
    """One plugin's implementation of one hook, with the argument names it asks for."""

    plugin: object
    function: Callable[..., Any]
    argnames: tuple[str, ...]

    def __call__(self, arguments: Mapping[str, Any]) -> Any:
        return self.function(*[arguments[name] for name in self.argnames])


def implementations(pm: pluggy.PluginManager, hook_name: str) -> list[BoundImpl]:
    """The registered implementations of ``hook_name`` in pluggy's call order."""
    caller = getattr(pm.hook, hook_name)
    return [
        BoundImpl(impl.plugin, impl.function, tuple(impl.argnames))
        for impl in reversed(caller.get_hookimpls())
    ]
