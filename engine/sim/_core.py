"""The simulator's shared state, handed to the REST handlers and the socket sessions."""

from __future__ import annotations

from collections.abc import Callable
from datetime import datetime

import attrs

from engine.sim._config import SimConfig
from engine.sim._hub import Hub
from engine.sim._ledger import Ledger
from engine.sim._market import MarketModel


@attrs.define(eq=False)
class SimCore:
    """Config, clock, market, ledger and hub of one simulator (single trio run, no locking)."""

    config: SimConfig
    now: Callable[[], datetime]
    market: MarketModel
    ledger: Ledger
    hub: Hub
    _sessions_opened: int = 0

    def next_session_number(self) -> int:
        """A fresh number for a new socket session (for logs and its batching RNG)."""
        self._sessions_opened += 1
        return self._sessions_opened
