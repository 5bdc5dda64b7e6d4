"""What a replay does, on journals written by hand: time, timer, account view, risk, ids."""

from __future__ import annotations

import itertools
from decimal import Decimal
from pathlib import Path

import pytest

from engine.hooks.context import client_order_id_prefix
from engine.model import (
    CancelOrder,
    Order,
    OrderIntent,
    OrderPlaced,
    OrderReported,
    OrderStatus,
    OrderType,
    OrderUpdated,
    ReplaceOrder,
    RiskVerdict,
    Side,
    SubmitOrder,
    TradingState,
    TradingStateRequested,
)
from engine.replay import ReplayError, replay_journal
from engine.replay.result import utc
from tests.replay.conftest import (
    ACCOUNT,
    BUYING_POWER,
    SECOND,
    T0,
    quote,
    replay_config,
    state,
    synced,
    write_journal,
)
from tests.replay.strategies_for_replay import QuoteBuyer, Ticker

BUYER = {"name": "buyer", "path": "tests.replay.strategies_for_replay:QuoteBuyer"}


def test_plugins_hear_the_recorded_market_data_on_the_recorded_timeline(tmp_path: Path) -> None:
    journal = write_journal(
        tmp_path / "j.sqlite",
        [quote(T0 - SECOND), *synced(), quote(T0 + SECOND // 2), quote(T0 + 2250 * 10**6)],
    )
    result = replay_journal(journal, replay_config([BUYER]))
    # The quote from before the sync waits until the plugins start (with the sync), as live.
    assert result.started_ns == T0
    assert [r.ts_ns for r in result.commands] == [T0, T0 + SECOND // 2, T0 + 2250 * 10**6]
    # The MockClock moved with the recorded receive times.
    clock = QuoteBuyer.clock
    assert [round(b - a, 6) for a, b in itertools.pairwise(clock)] == [0.5, 1.75]
    assert result.market_source == "events"
    assert result.delivered == {"AccountSynced": 1, "Quote": 3, "TradingStateChanged": 1}


def test_the_timer_ticks_on_the_recorded_timeline(tmp_path: Path) -> None:
    journal = write_journal(tmp_path / "j.sqlite", [*synced(), quote(T0 + 3 * SECOND + 1)])
    ticker = {"name": "ticker", "path": "tests.replay.strategies_for_replay:Ticker"}
    result = replay_journal(journal, replay_config([ticker]))
    assert Ticker.ticks == [utc(T0 + n * SECOND) for n in (1, 2, 3)]
    assert result.ticks == 3
    [record] = result.commands
    assert isinstance(record.command, TradingStateRequested)
    assert (record.plugin, record.ts_ns, record.command.state) == (
        "ticker",
        T0 + 3 * SECOND,
        TradingState.HALTED,
    )


def test_orders_are_checked_against_the_recorded_account_and_each_other(tmp_path: Path) -> None:
    # 1500 of buying power; two buys of 10 at 100 per quote: the second does not fit next to
    # the first (reserved, as the account actor would have it in flight), on each quote.
    journal = write_journal(
        tmp_path / "j.sqlite", [*synced("1500"), quote(T0 + SECOND), quote(T0 + 2 * SECOND)]
    )
    buyer = {**BUYER, "config": {"orders_per_quote": 2}}
    result = replay_journal(journal, replay_config([buyer], [BUYING_POWER]))
    codes = [r.outcome.code if r.outcome else "" for r in result.commands]
    assert codes == ["", "INSUFFICIENT_BUYING_POWER"] * 2
    rejected = result.commands[1].outcome
    assert rejected is not None
    assert (rejected.plugin, rejected.source) == ("buying-power", "risk")
    assert "reserved 1000.00" in rejected.reason
    assert result.outcome_counts() == {"approved": 2, "INSUFFICIENT_BUYING_POWER": 2}
    assert "INSUFFICIENT_BUYING_POWER" in result.summary()


def test_risk_plugins_get_the_recorded_time_as_now(tmp_path: Path) -> None:
    # Nothing heard from the account for 100 s: the picture is stale at the quote's time.
    journal = write_journal(tmp_path / "j.sqlite", [*synced(), quote(T0 + 100 * SECOND)])
    result = replay_journal(journal, replay_config([BUYER], [BUYING_POWER]))
    [record] = result.commands
    assert record.outcome is not None
    assert record.outcome.code == "STALE_STATE"


def test_orders_wait_while_reconciling_and_are_refused_while_halted(tmp_path: Path) -> None:
    journal = write_journal(
        tmp_path / "j.sqlite",
        [
            *synced(),
            state(TradingState.RECONCILING, TradingState.ACTIVE, T0 + SECOND),
            quote(T0 + 2 * SECOND),
            state(TradingState.ACTIVE, TradingState.RECONCILING, T0 + 3 * SECOND),
            state(TradingState.HALTED, TradingState.ACTIVE, T0 + 4 * SECOND),
            quote(T0 + 5 * SECOND),
            state(TradingState.RECONCILING, TradingState.HALTED, T0 + 6 * SECOND),
            quote(T0 + 7 * SECOND),
        ],
    )
    result = replay_journal(journal, replay_config([BUYER]))
    held, halted, never = result.commands
    assert held.outcome is not None
    assert held.outcome.approved
    assert (held.ts_ns, held.decided_ns) == (T0 + 2 * SECOND, T0 + 3 * SECOND)
    assert halted.outcome is not None
    assert (halted.outcome.code, halted.outcome.source) == ("TRADING_STATE", "engine")
    assert never.outcome is not None
    assert (never.outcome.approved, never.outcome.code) == (None, "HELD")
    assert "held, never decided" in result.summary()
    assert result.outcome_counts() == {"approved": 1, "TRADING_STATE": 1, "held": 1}


def test_the_live_run_tag_gives_a_strategy_its_recorded_orders_back(tmp_path: Path) -> None:
    # The live run's order, its acknowledgement and report, recorded under the run tag ab12cd.
    client_order_id = client_order_id_prefix("amender", "ab12cd") + "1"
    intent = OrderIntent(
        client_order_id=client_order_id,
        strategy="amender",
        account_id=ACCOUNT,
        symbol="AAPL",
        side=Side.BUY,
        type=OrderType.LIMIT,
        qty=Decimal(10),
        price=Decimal("95.00"),
        reference_price=Decimal("100.02"),
    )
    order = Order(
        account_id=ACCOUNT,
        cl_ord_id="C1",
        client_order_id=client_order_id,
        symbol="AAPL",
        side=Side.BUY,
        type=OrderType.LIMIT,
        qty=Decimal(10),
        leaves_qty=Decimal(10),
        price=Decimal("95.00"),
        status=OrderStatus.NEW,
    )
    at = T0 + SECOND
    journal = write_journal(
        tmp_path / "j.sqlite",
        [
            *synced(),
            quote(at),
            SubmitOrder(account_id=ACCOUNT, intent=intent, ts_recv=at),
            (intent, RiskVerdict.approve()),
            OrderPlaced(account_id=ACCOUNT, client_order_id=client_order_id, cl_ord_id="C1"),
            OrderReported(account_id=ACCOUNT, order=order, ts_recv=at + 1000),
            OrderUpdated(
                account_id=ACCOUNT,
                order=order,
                previous_status=None,
                strategy="amender",
                ts_recv=at + 1000,
            ),
        ],
    )
    amender = {"name": "amender", "path": "tests.replay.strategies_for_replay:Amender"}
    result = replay_journal(journal, replay_config([amender], [BUYING_POWER]))
    assert result.run_tag == "ab12cd"
    submit, replace, cancel = (r.command for r in result.commands)
    assert isinstance(submit, SubmitOrder)
    assert submit.intent == intent  # the very order the live strategy sent
    assert isinstance(replace, ReplaceOrder)
    assert (replace.client_order_id, replace.qty) == (client_order_id, Decimal(12))
    assert isinstance(cancel, CancelOrder)
    # The replace is checked against the recorded open order (12 × 95 fits).
    assert [r.outcome.approved if r.outcome else None for r in result.commands] == [
        True,
        True,
        None,
    ]
    comparison = result.comparisons["amender"]
    assert (comparison.first_difference, comparison.recorded_count) == (2, 1)


def test_without_recorded_orders_the_run_tag_is_fixed(tmp_path: Path) -> None:
    journal = write_journal(tmp_path / "j.sqlite", [*synced(), quote(T0 + 1)])
    result = replay_journal(journal, replay_config([BUYER]))
    [record] = result.commands
    assert isinstance(record.command, SubmitOrder)
    assert record.command.intent.client_order_id == client_order_id_prefix("buyer", "replay") + "1"


def test_a_raising_plugin_is_disabled_and_reported(tmp_path: Path) -> None:
    journal = write_journal(tmp_path / "j.sqlite", [*synced(), quote(T0 + 1), quote(T0 + 2)])
    raiser = {"name": "raiser", "path": "tests.replay.strategies_for_replay:Raiser"}
    result = replay_journal(journal, replay_config([raiser, BUYER]))
    assert result.faults == (("raiser", "aries_on_quote", "RuntimeError('cannot handle AAPL')"),)
    assert len(result.commands) == 2  # the other strategy went on
    assert "fault: raiser raised in aries_on_quote" in result.summary()


def test_a_missing_or_foreign_file_is_not_replayed(tmp_path: Path) -> None:
    config = replay_config([BUYER])
    with pytest.raises(ReplayError, match="no such journal file"):
        replay_journal(tmp_path / "missing.sqlite", config)
    garbage = tmp_path / "garbage.sqlite"
    garbage.write_text("not a database at all" * 100)
    with pytest.raises(ReplayError, match="not a readable journal"):
        replay_journal(garbage, config)
