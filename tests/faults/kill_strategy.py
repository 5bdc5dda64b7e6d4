"""The strategy of the kill-and-restart scenarios: a ``Recorder`` whose record survives SIGKILL.

An engine subprocess loads it by import path (``tests.faults.kill_strategy:PersistentRecorder``),
so the test can read, after the kill, what the strategy heard before it: every order it
submitted and every fill, one JSON line each, written with ``os.write`` the moment it is heard
(the kernel keeps what a killed process wrote). It then logs ``recorder.recorded``, which the
test waits for on the engine's log.
"""

from __future__ import annotations

import json
import os
from decimal import Decimal
from pathlib import Path

import attrs
import structlog

from engine import StrategyContext, hookimpl
from engine.journal.codec import JournalCodec
from engine.model import OrderFilled, Side
from tests.faults.rig import SYMBOL, Recorder

log = structlog.get_logger(__name__)


@attrs.frozen
class RecordedRun:
    """What a ``PersistentRecorder`` wrote: the orders it submitted and the fills it heard."""

    submitted: list[str]
    fills: list[OrderFilled]

    @classmethod
    def read(cls, path: Path) -> RecordedRun:
        """Read a record file back."""
        codec = JournalCodec()
        submitted: list[str] = []
        fills: list[OrderFilled] = []
        for line in path.read_text(encoding="utf-8").splitlines():
            item = json.loads(line)
            if "submitted" in item:
                submitted.append(item["submitted"])
            else:
                fill = codec.decode("OrderFilled", item["fill"])
                assert isinstance(fill, OrderFilled)
                fills.append(fill)
        return cls(submitted, fills)


class PersistentRecorder(Recorder):
    """A ``Recorder`` that appends what it submits and every fill it hears to ``config.record``.

    At start-up it buys ``config.qty`` AAPL at ``config.price`` unless the account already has
    an order or a position (a restart: its order is already there), as a real strategy would.
    """

    @attrs.frozen
    class Config:
        """``[strategies.config]``: the record file, and the order to place at start-up."""

        record: str
        qty: str
        price: str

    def __init__(self, config: PersistentRecorder.Config) -> None:
        super().__init__()
        self.config = config
        self._codec = JournalCodec()
        self._fd = os.open(config.record, os.O_WRONLY | os.O_APPEND | os.O_CREAT, 0o600)

    @hookimpl
    def aries_engine_started(self, ctx: StrategyContext) -> None:
        super().aries_engine_started(ctx)
        view = ctx.account()
        if view.open_orders or view.position_quantity(SYMBOL) != 0:
            return
        client_order_id = ctx.submit(
            SYMBOL, Side.BUY, Decimal(self.config.qty), price=Decimal(self.config.price)
        )
        self._write({"submitted": client_order_id})

    @hookimpl
    def aries_on_order_filled(self, event: OrderFilled) -> None:
        super().aries_on_order_filled(event)
        self._write({"fill": self._codec.encode(event)[1]})

    def _write(self, item: dict[str, str]) -> None:
        os.write(self._fd, (json.dumps(item) + "\n").encode())
        log.info("recorder.recorded", item=next(iter(item)))
