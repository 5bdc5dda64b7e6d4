"""Graceful shutdown, against the in-process simulator over real loopback sockets, and as a user
stops ``aries-engine run`` with SIGTERM.

The sequence (engine/app.py): strategies stop; nothing new reaches the venue; with
``on_shutdown = "cancel"`` the orders this engine placed are cancelled (others left alone); the
engine waits for the venue's answers within ``shutdown_grace``; the journal is flushed and the
sockets closed.
"""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
from collections.abc import Callable
from decimal import Decimal
from pathlib import Path
from typing import Any

import httpx
import pytest
import trio
import trio.testing
from structlog.testing import capture_logs

from engine import StrategyContext, hookimpl
from engine.app import _stop_on_signal
from engine.errors import ConfigError
from engine.journal import JournalReader
from engine.model import (
    OrderStatus,
    OrderUpdated,
    Quote,
    Side,
    TimeInForce,
    TradingState,
    TradingStateChanged,
)
from engine.model.events import CancelAllOrders
from engine.sim import Simulator
from engine.testing import Fault
from tests.integration.conftest import engine_config, running_engine

ROOT = Path(__file__).resolve().parents[2]
ACCOUNT = "SIM-001"
ACCOUNTS_WS = "/v1/accounts/ws"


class RestingBid:
    """Rests one GTC buy of 10 AAPL at 90 % of the first bid (nowhere near a fill); records
    what it hears, and whether it heard anything after ``aries_engine_stopping``."""

    def __init__(self) -> None:
        self.client_order_id: str | None = None
        self.cl_ord_id: str | None = None
        self.working = trio.Event()
        self.stopped = False
        self.heard_after_stop: list[OrderUpdated] = []

    @hookimpl
    def aries_on_quote(self, quote: Quote, ctx: StrategyContext) -> None:
        if self.client_order_id is None and quote.symbol == "AAPL" and quote.bid is not None:
            price = (quote.bid * Decimal("0.9")).quantize(Decimal("0.01"))
            self.client_order_id = ctx.submit(
                "AAPL", Side.BUY, 10, price=price, time_in_force=TimeInForce.GTC
            )

    @hookimpl
    def aries_on_order_updated(self, event: OrderUpdated) -> None:
        if self.stopped:
            self.heard_after_stop.append(event)
        order = event.order
        if order.client_order_id == self.client_order_id and order.status is OrderStatus.NEW:
            self.cl_ord_id = order.cl_ord_id
            self.working.set()

    @hookimpl
    def aries_engine_stopping(self) -> None:
        self.stopped = True


async def place_from_phone(sim: Simulator) -> str:
    """An order the user places from another device: not this engine's. Its clOrdId."""
    async with httpx.AsyncClient(
        base_url=sim.endpoints.rest_base,
        headers={"Authorization": f"Bearer {sim.config.token}"},
    ) as phone:
        reply = await phone.post("/v1/orders", json={
            "tradingAccountId": ACCOUNT, "symbol": "AAPL", "side": "BUY",
            "type": "LIMIT", "qty": "1", "price": "1.00", "timeInForce": "GTC"})  # fmt: skip
        assert reply.status_code == 200, reply.text
    [order] = [o for o in sim.ledger.orders(ACCOUNT) if o.price == Decimal("1.00")]
    return order.cl_ord_id


def venue_status(sim: Simulator, cl_ord_id: str) -> str:
    order = sim.ledger.order(ACCOUNT, cl_ord_id)
    assert order is not None
    return str(order.status)


def shutdown_config(tmp_path: Path, **engine: Any) -> Any:
    return engine_config(
        engine=engine, journal={"enabled": True, "path": str(tmp_path / "journal.sqlite")}
    )


async def test_cancel_cancels_this_engines_orders_at_the_venue_and_journals_it(
    tmp_path: Path,
) -> None:
    strategy = RestingBid()
    config = shutdown_config(tmp_path, on_shutdown="cancel", shutdown_grace=10.0)
    with trio.fail_after(40), capture_logs() as logs:
        async with running_engine(config, ("resting", strategy)) as engine:
            sim = engine.simulator
            assert sim is not None
            await strategy.working.wait()
            phone = await place_from_phone(sim)
            assert strategy.cl_ord_id is not None
            assert venue_status(sim, strategy.cl_ord_id) == "NEW"
            engine.stop()

    assert venue_status(sim, strategy.cl_ord_id) == "CANCELED"
    assert venue_status(sim, phone) == "NEW"  # not ours: left alone
    assert strategy.stopped
    assert strategy.heard_after_stop == []  # the CANCELED update was not delivered to it
    events = [e["event"] for e in logs]
    order = [
        "engine.stopping",
        "engine.strategies_stopped",
        "engine.cancelling_orders",
        "account.cancel_all",
        "engine.drained",
        "engine.closed",
    ]
    assert [e for e in events if e in order] == order
    [drained] = [e for e in logs if e["event"] == "engine.drained"]
    assert drained["open_orders_left"] == 0
    assert drained["external_orders_left"] == 1
    assert drained["seconds"] < 10.0
    [external] = [e for e in logs if e["event"] == "account.external_orders_left"]
    assert external["cl_ord_ids"] == [phone]
    [closed] = [e for e in logs if e["event"] == "engine.closed"]
    assert closed["journal_unwritten"] == 0

    with JournalReader(tmp_path / "journal.sqlite") as reader:
        updates = [
            e.order
            for e in reader.events(kinds=[OrderUpdated])
            if isinstance(e, OrderUpdated) and e.order.cl_ord_id == strategy.cl_ord_id
        ]
        commands = list(reader.events(kinds=[CancelAllOrders]))
        states = list(reader.events(kinds=[TradingStateChanged]))
    assert updates[-1].status is OrderStatus.CANCELED
    assert [(c.account_id, c.reason) for c in commands if isinstance(c, CancelAllOrders)] == [
        (ACCOUNT, "shutdown")
    ]
    last_state = states[-1]
    assert isinstance(last_state, TradingStateChanged)
    assert (last_state.state, last_state.reason) == (TradingState.HALTED, "shutdown")


async def test_leave_keeps_the_order_working_at_the_venue(tmp_path: Path) -> None:
    strategy = RestingBid()
    config = shutdown_config(tmp_path, on_shutdown="leave")
    with trio.fail_after(40), capture_logs() as logs:
        async with running_engine(config, ("resting", strategy)) as engine:
            sim = engine.simulator
            assert sim is not None
            await strategy.working.wait()
            engine.stop()

    assert strategy.cl_ord_id is not None
    assert venue_status(sim, strategy.cl_ord_id) == "NEW"
    cancels = [o for o in sim.ledger.orders(ACCOUNT) if str(o.status) == "CANCELED"]
    assert cancels == []
    events = [e["event"] for e in logs]
    assert "engine.leaving_orders" in events
    assert "engine.cancelling_orders" not in events
    assert "order.cancel_sent" not in events
    [drained] = [e for e in logs if e["event"] == "engine.drained"]
    assert (drained["on_shutdown"], drained["open_orders_left"]) == ("leave", 1)


async def test_the_default_is_leave_and_a_bad_value_is_one_line() -> None:
    assert engine_config().engine.on_shutdown == "leave"
    assert engine_config().engine.shutdown_grace == 10.0
    for engine, expected in (
        ({"on_shutdown": "kill"}, "engine.on_shutdown"),
        ({"shutdown_grace": 0}, "engine.shutdown_grace: expected a number greater than 0"),
    ):
        with pytest.raises(ConfigError) as caught:
            engine_config(engine=engine)
        [line] = str(caught.value).splitlines()
        assert expected in line


async def test_when_the_grace_runs_out_what_is_left_is_logged_and_the_engine_closes(
    tmp_path: Path, virtual_clock: trio.testing.MockClock
) -> None:
    strategy = RestingBid()
    config = shutdown_config(tmp_path, on_shutdown="cancel", shutdown_grace=1.0)
    with trio.fail_after(40), capture_logs() as logs:
        async with running_engine(config, ("resting", strategy)) as engine:
            sim = engine.simulator
            assert sim is not None
            await strategy.working.wait()
            # The venue cancels, but its reports never reach the engine.
            await sim.faults.apply(Fault.silent_socket(ACCOUNTS_WS))
            engine.stop()
            stop_requested = trio.current_time()
        took = trio.current_time() - stop_requested

    assert strategy.cl_ord_id is not None
    assert venue_status(sim, strategy.cl_ord_id) == "CANCELED"  # the cancel was sent
    [incomplete] = [e for e in logs if e["event"] == "engine.shutdown_incomplete"]
    assert incomplete["reason"] == "shutdown_grace ran out"
    assert incomplete["accounts"] == [ACCOUNT]
    assert incomplete["not_yet_cancelled"] == 1
    assert incomplete["unanswered_cancels"] == 1
    assert incomplete["grace"] == 1.0
    assert "engine.drained" not in [e["event"] for e in logs]
    assert 1.0 <= took < 6.0


async def test_stop_now_skips_the_rest_of_the_grace(
    tmp_path: Path, virtual_clock: trio.testing.MockClock
) -> None:
    strategy = RestingBid()
    config = shutdown_config(tmp_path, on_shutdown="cancel", shutdown_grace=30.0)
    with trio.fail_after(40), capture_logs() as logs:
        async with running_engine(config, ("resting", strategy)) as engine:
            sim = engine.simulator
            assert sim is not None
            await strategy.working.wait()
            await sim.faults.apply(Fault.silent_socket(ACCOUNTS_WS))
            engine.stop()
            await trio.sleep(0.5)  # the shutdown is waiting for the venue now
            hurried_at = trio.current_time()
            engine.stop_now()  # a second Ctrl-C
        took = trio.current_time() - hurried_at

    [incomplete] = [e for e in logs if e["event"] == "engine.shutdown_incomplete"]
    assert incomplete["reason"] == "second signal"
    assert 0.25 <= incomplete["seconds"] < 5.0  # it was waiting, then stopped waiting
    assert took < 5.0
    assert "engine.closed" in [e["event"] for e in logs]


async def signal_three_times(stop: trio.Event, hurry: trio.Event, seen: list[bool]) -> None:
    """Run the engine's signal handler and signal this process three times; ``seen`` gets
    whether ``hurry`` was still clear after the first."""
    async with trio.open_nursery() as nursery:
        nursery.start_soon(_stop_on_signal, stop, hurry)
        await trio.testing.wait_all_tasks_blocked()  # its receiver is open
        os.kill(os.getpid(), signal.SIGTERM)
        await stop.wait()
        seen.append(not hurry.is_set())
        os.kill(os.getpid(), signal.SIGINT)
        await hurry.wait()
        os.kill(os.getpid(), signal.SIGTERM)
        await trio.sleep_forever()


async def test_a_second_signal_hurries_and_a_third_interrupts() -> None:
    """Real signals to this process, while the handler's receiver is open."""
    stop, hurry = trio.Event(), trio.Event()
    first_only: list[bool] = []
    with (
        trio.fail_after(10),
        capture_logs() as logs,
        pytest.raises(BaseExceptionGroup) as caught,
    ):
        await signal_three_times(stop, hurry, first_only)
    assert first_only == [True]
    assert caught.group_contains(KeyboardInterrupt)
    assert [e["event"] for e in logs if e["event"].startswith("engine.")] == [
        "engine.signal",
        "engine.shutdown_hurried",
    ]


# --- the command, as a user stops it ------------------------------------------------------------

STRATEGY = "tests.integration.strategies_for_tests:RestingBuyer"


def write_config(tmp_path: Path, grace: float) -> Path:
    config = tmp_path / "engine.toml"
    config.write_text(
        f"""[engine]
on_shutdown = "cancel"
shutdown_grace = {grace}

[simulator]
tick_interval = 0.05
symbols = ["AAPL"]

[market]
symbols = ["AAPL"]

[[accounts]]
id = "{ACCOUNT}"

[journal]
path = "{tmp_path / "journal.sqlite"}"

[[strategies]]
name = "resting"
path = "{STRATEGY}"
"""
    )
    return config


async def test_sigterm_cancels_flushes_and_exits_0_within_the_grace(tmp_path: Path) -> None:
    grace = 10.0
    config = write_config(tmp_path, grace)
    process = await trio.lowlevel.open_process(
        [sys.executable, "-m", "engine", "run", str(config), "--log-format", "json"],
        cwd=ROOT,
        stderr=subprocess.PIPE,
        env={**os.environ, "PYTHONUNBUFFERED": "1", "XDG_DATA_HOME": str(tmp_path)},
    )
    assert process.stderr is not None
    output = b""
    try:
        with trio.fail_after(60):
            while b'"status": "NEW"' not in output:  # the buy rests at the venue
                chunk = await process.stderr.receive_some()
                assert chunk, output.decode()[-3000:]
                output += chunk
            process.send_signal(signal.SIGTERM)
            while chunk := await process.stderr.receive_some():
                output += chunk
            await process.wait()
    finally:
        if process.returncode is None:
            process.kill()
            await process.wait()
    text = output.decode()
    assert process.returncode == 0, text[-3000:]
    assert "Traceback" not in text
    lines = [json.loads(line) for line in text.splitlines() if line.startswith("{")]
    steps: list[tuple[str, Callable[[dict[str, Any]], bool]]] = [
        ("engine.signal", lambda e: e.get("signal") == "SIGTERM"),
        ("engine.stopping", lambda e: e.get("on_shutdown") == "cancel"),
        ("engine.strategies_stopped", lambda e: True),
        ("engine.cancelling_orders", lambda e: e.get("accounts") == [ACCOUNT]),
        ("account.cancel_all", lambda e: e.get("open_orders") == 1),
        ("order.cancel_sent", lambda e: True),
        ("order.updated", lambda e: e.get("status") == "CANCELED"),
        ("engine.drained", lambda e: e.get("open_orders_left") == 0),
        ("engine.closed", lambda e: e.get("journal_unwritten") == 0),
        ("engine.stopped", lambda e: True),
    ]
    positions = []
    for name, matches in steps:
        found = [i for i, e in enumerate(lines) if e["event"] == name and matches(e)]
        assert found, f"{name} missing from the log"
        positions.append(found[0])
    assert positions == sorted(positions), list(zip([s[0] for s in steps], positions, strict=True))

    with JournalReader(tmp_path / "journal.sqlite") as reader:
        canceled = [
            e
            for e in reader.events(kinds=[OrderUpdated])
            if isinstance(e, OrderUpdated) and e.order.status is OrderStatus.CANCELED
        ]
    assert [e.strategy for e in canceled] == ["resting"]
