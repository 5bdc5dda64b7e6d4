"""Journals to replay: one recorded from a real engine session, and hand-written ones."""

from __future__ import annotations

from collections.abc import Iterable
from decimal import Decimal
from pathlib import Path
from typing import Any

import pytest
import trio

from engine.config import EngineConfig, parse_config
from engine.journal import JournalReader, JournalWriter
from engine.model import (
    AccountSnapshotReceived,
    AccountSynced,
    Balance,
    Event,
    OrderIntent,
    Quote,
    RiskVerdict,
    TradingState,
    TradingStateChanged,
)
from tests.integration.conftest import engine_config, running_engine

ACCOUNT = "SIM-001"
T0 = 1_767_225_600_000_000_000  # 2026-01-01 00:00:00 UTC, in epoch ns
SECOND = 1_000_000_000

TOUCH_QUOTER: dict[str, Any] = {
    "name": "touch-quoter",
    "path": "strategies.touch_quoter:TouchQuoter",
    "account": ACCOUNT,
    "config": {"symbols": ["AAPL"], "qty": "10", "max_orders": 4},
}
BUYING_POWER: dict[str, Any] = {
    "name": "buying-power",
    "path": "plugins.buying_power:BuyingPowerCheck",
}

# The same configuration as TOML, for the command line.
SESSION_TOML = """\
[[accounts]]
id = "SIM-001"

[[strategies]]
name = "touch-quoter"
path = "strategies.touch_quoter:TouchQuoter"
account = "SIM-001"
[strategies.config]
symbols = ["AAPL"]
qty = "10"
max_orders = 4

[[plugins]]
name = "buying-power"
path = "plugins.buying_power:BuyingPowerCheck"
"""


def replay_config(
    strategies: Iterable[dict[str, Any]], plugins: Iterable[dict[str, Any]] = ()
) -> EngineConfig:
    """A config of one account with these ``[[strategies]]`` and ``[[plugins]]``."""
    return parse_config(
        {
            "accounts": [{"id": ACCOUNT}],
            "strategies": list(strategies),
            "plugins": list(plugins),
        },
        source="test",
    )


def write_journal(path: Path, records: Iterable[Event | tuple[OrderIntent, RiskVerdict]]) -> Path:
    """Write a journal by hand, in this order: events, and ``(intent, verdict)`` pairs for what
    the live account actor put to risk and the answer it got."""

    async def write() -> None:
        writer = JournalWriter(path, retention=None)
        async with trio.open_nursery() as nursery:
            await nursery.start(writer.run)
            for record in records:
                if isinstance(record, tuple):
                    intent, verdict = record
                    writer.record_intent(intent)
                    writer.record_verdict(intent.client_order_id, verdict)
                else:
                    writer.record_event(record)
            nursery.cancel_scope.cancel()  # the shutdown flush writes everything

    trio.run(write)
    return path


def synced(buying_power: str = "100000", at: int = T0) -> list[Event]:
    """What the live engine journals when an account first syncs and goes ACTIVE."""
    balance = Balance(
        account_id=ACCOUNT,
        stock_buying_power=Decimal(buying_power),
        net_buying_power=Decimal(buying_power),
        total_equity=Decimal(buying_power),
    )
    return [
        AccountSnapshotReceived(
            account_id=ACCOUNT, info=None, balance=balance, positions=(), orders=(), ts_recv=at
        ),
        AccountSynced(account_id=ACCOUNT, open_orders=0, positions=0, ts_recv=at),
        state(TradingState.ACTIVE, TradingState.RECONCILING, at),
    ]


def state(to: TradingState, previous: TradingState, at: int) -> TradingStateChanged:
    """A recorded trading-state change of the account."""
    return TradingStateChanged(
        account_id=ACCOUNT, state=to, previous=previous, reason="test", ts_recv=at
    )


def quote(at: int, bid: str = "100.00", ask: str = "100.02", symbol: str = "AAPL") -> Quote:
    """A recorded quote."""
    return Quote(symbol=symbol, bid=Decimal(bid), ask=Decimal(ask), ts_recv=at)


@pytest.fixture(scope="session")
def recorded_session(tmp_path_factory: pytest.TempPathFactory) -> tuple[Path, EngineConfig]:
    """A journal of a real session: the engine against its in-process simulator, with the
    touch quoter (4 orders) and a buying-power check. Returns it and the session's config."""
    journal = tmp_path_factory.mktemp("session") / "journal.sqlite"
    config = engine_config(
        journal={"path": str(journal)}, strategies=[TOUCH_QUOTER], plugins=[BUYING_POWER]
    )

    def intents() -> int:
        with JournalReader(journal) as reader:
            return sum(1 for i in reader.intents() if isinstance(i, OrderIntent))

    async def record() -> None:
        async with running_engine(config):
            with trio.fail_after(30):
                while True:  # the journal is written in batches by a worker thread: poll it
                    if journal.exists() and intents() >= 4:
                        break
                    await trio.sleep(0.1)
            await trio.sleep(0.3)  # a few more quotes after the last order

    trio.run(record)
    return journal, config
