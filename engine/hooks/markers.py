"""The pluggy markers of the ``aries_engine`` project."""

from __future__ import annotations

import pluggy

PROJECT_NAME = "aries_engine"

hookspec = pluggy.HookspecMarker(PROJECT_NAME)
hookimpl = pluggy.HookimplMarker(PROJECT_NAME)
