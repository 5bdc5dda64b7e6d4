"""Helpers for the example strategies' tests."""

from __future__ import annotations

import textwrap
import tomllib
from typing import Any


def documented_entry(docstring: str | None) -> dict[str, Any]:
    """The one ``[[strategies]]`` entry of the ``engine.toml`` block (after ``::``) of a module
    docstring, parsed as TOML."""
    assert docstring is not None
    lines = []
    for line in docstring.split("::", 1)[1].splitlines()[1:]:
        if line and not line.startswith(" "):
            break  # the end of the indented block
        lines.append(line)
    [entry] = tomllib.loads(textwrap.dedent("\n".join(lines)))["strategies"]
    assert isinstance(entry, dict)
    return entry
