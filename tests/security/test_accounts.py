"""One account cannot be reached through another: a plugin bound to an account sees and trades
only that one, and an account the credential's user does not own is refused by the venue
(``ACCESS_DENIED``), said clearly, and halted while the others run on."""

from __future__ import annotations

from collections.abc import Callable
from decimal import Decimal
from typing import Any

import pytest
import structlog
import trio

from engine import StrategyContext, hookimpl
from engine.errors import SubscriptionError
from engine.model import (
    AccountEvent,
    AccountSynced,
    CancelOrder,
    ConnectionState,
    Endpoint,
    OrderIntent,
    OrderRejected,
    OrderStatus,
    OrderUpdated,
    PositionChanged,
    Quote,
    Side,
    TradingState,
    TradingStateChanged,
)
from engine.sim import SimAccount, SimConfig, SimUser
from engine.testing import open_simulator
from tests.integration.conftest import engine_config, running_engine
from tests.integration.test_connection_faults import connection

FAR_BELOW = Decimal(5)
OTHER_ACCOUNT = "SIM-002"


class AccountSpy:
    """Records the account of every account event any of its hooks hears."""

    def __init__(self) -> None:
        self.heard: set[str] = set()

    def _heard(self, event: AccountEvent) -> None:
        self.heard.add(event.account_id)

    # Undecorated ``aries_*`` methods are hooks too.
    aries_on_order_updated = _heard
    aries_on_order_filled = _heard
    aries_on_order_rejected = _heard
    aries_on_position_changed = _heard
    aries_on_balance_changed = _heard
    aries_on_account_synced = _heard
    aries_on_trading_state_changed = _heard
    aries_on_account_info = _heard


class BoundStrategy(AccountSpy):
    """Bound to SIM-001 in the config: tries every way its context offers to read or trade
    SIM-002, then, once given the id of an order of SIM-002, tries to cancel it by id."""

    def __init__(self) -> None:
        super().__init__()
        self.bound_to: tuple[str, ...] = ()
        self.refusals: dict[str, str] = {}
        self.target: str | None = None
        self.own: str | None = None
        self.own_working = trio.Event()

    @hookimpl
    def aries_engine_started(self, ctx: StrategyContext) -> None:
        self.bound_to = ctx.accounts
        attempts: dict[str, Callable[[], object]] = {
            "read": lambda: ctx.account(OTHER_ACCOUNT),
            "submit": lambda: ctx.submit("AAPL", Side.BUY, 1, price=1, account=OTHER_ACCOUNT),
            "cancel": lambda: ctx.cancel("any", account=OTHER_ACCOUNT),
            "replace": lambda: ctx.replace("any", price=1, account=OTHER_ACCOUNT),
            "halt": lambda: ctx.set_trading_state("HALTED", "spite", account=OTHER_ACCOUNT),
        }
        for name, attempt in attempts.items():
            try:
                attempt()
            except ValueError as refused:
                self.refusals[name] = str(refused)

    @hookimpl
    def aries_on_quote(self, quote: Quote, ctx: StrategyContext) -> None:
        if self.target is None or self.own is not None or quote.bid is None:
            return
        ctx.cancel(self.target)  # another account's order: its context can only name its own
        self.own = ctx.submit("AAPL", Side.BUY, 1, price=quote.bid - FAR_BELOW)

    def aries_on_order_updated(self, event: AccountEvent) -> None:
        self._heard(event)
        assert isinstance(event, OrderUpdated)
        if event.order.client_order_id == self.own and event.order.status is OrderStatus.NEW:
            self.own_working.set()


class BoundRiskPlugin:
    """A risk plugin bound to SIM-001: records the account of every order it is asked about."""

    def __init__(self) -> None:
        self.asked: set[str] = set()

    @hookimpl
    def aries_check_order(self, intent: OrderIntent) -> None:
        self.asked.add(intent.account_id)


class OtherAccountTrader:
    """Unbound: on SIM-002, buys 10 AAPL that fill and rests a bid far below the market."""

    def __init__(self) -> None:
        self.resting: str | None = None
        self.resting_working = trio.Event()
        self.position = trio.Event()

    @hookimpl
    def aries_on_quote(self, quote: Quote, ctx: StrategyContext) -> None:
        if self.resting is not None or quote.ask is None or quote.bid is None:
            return
        ctx.submit("AAPL", Side.BUY, 10, price=quote.ask + 1, account=OTHER_ACCOUNT)
        self.resting = ctx.submit(
            "AAPL", Side.BUY, 10, price=quote.bid - FAR_BELOW, account=OTHER_ACCOUNT
        )

    @hookimpl
    def aries_on_order_updated(self, event: OrderUpdated) -> None:
        if event.order.client_order_id == self.resting and event.order.status is OrderStatus.NEW:
            self.resting_working.set()

    @hookimpl
    def aries_on_position_changed(self, event: PositionChanged) -> None:
        if event.account_id == OTHER_ACCOUNT:
            self.position.set()


def bound(name: str, cls: type, **section: Any) -> dict[str, Any]:
    """A ``[[strategies]]``/``[[plugins]]`` entry of a class of this module, bound to SIM-001."""
    return {"name": name, "path": f"{__name__}:{cls.__name__}", "account": "SIM-001", **section}


async def test_a_plugin_bound_to_one_account_cannot_read_or_trade_another() -> None:
    config = engine_config(
        simulator={
            "tick_interval": 0.02,
            "symbols": ["AAPL"],
            "accounts": [{"account_id": "SIM-001"}, {"account_id": OTHER_ACCOUNT}],
        },
        accounts=[{"id": "SIM-001"}, {"id": OTHER_ACCOUNT}],
        strategies=[bound("bound", BoundStrategy)],
        plugins=[bound("bound-risk", BoundRiskPlugin)],
    )
    other = OtherAccountTrader()
    with structlog.testing.capture_logs() as logs:
        async with running_engine(config, ("other", other)) as engine:
            loaded = {p.name: p.obj for p in engine.host.plugins}
            strategy, risk = loaded["bound"], loaded["bound-risk"]
            assert isinstance(strategy, BoundStrategy)
            assert isinstance(risk, BoundRiskPlugin)
            cancels = engine.bus.subscribe("test", accepts=(CancelOrder,))
            with trio.fail_after(10):
                await other.resting_working.wait()
                await other.position.wait()
                strategy.target = other.resting
                await strategy.own_working.wait()  # its cancel was handled before this order
                [cancel] = await cancels.receive_batch()
                assert isinstance(cancel, CancelOrder)
            other_view = engine.views.get(OTHER_ACCOUNT)
    assert strategy.bound_to == ("SIM-001",)
    assert set(strategy.refusals) == {"read", "submit", "cancel", "replace", "halt"}
    assert all("not bound to account 'SIM-002'" in r for r in strategy.refusals.values())
    assert strategy.heard == {"SIM-001"}  # though SIM-002 traded, filled and moved
    assert risk.asked == {"SIM-001"}
    # The cancel by id went to its own account, which refused it; the order stands.
    assert (cancel.account_id, cancel.client_order_id) == ("SIM-001", other.resting)
    refused = [e for e in logs if e["event"] == "order.cancel_refused"]
    assert [e["client_order_id"] for e in refused] == [other.resting]
    assert other_view is not None
    assert other.resting in {o.client_order_id for o in other_view.open_orders.values()}


BOB = SimUser(user_id="bob", access_token="bob-token", accounts=(SimAccount(account_id="BOB-1"),))


class EveryAccount:
    """Unbound: records which accounts synced and their trading states, buys on SIM-001 (it
    fills) and tries to buy on BOB-1 (the account the venue refused)."""

    def __init__(self) -> None:
        self.synced: set[str] = set()
        self.states: list[TradingStateChanged] = []
        self.rejected: list[OrderRejected] = []
        self.ordered = False
        self.filled = trio.Event()
        self.refused_order = trio.Event()

    @hookimpl
    def aries_on_account_synced(self, event: AccountSynced) -> None:
        self.synced.add(event.account_id)

    @hookimpl
    def aries_on_trading_state_changed(self, event: TradingStateChanged) -> None:
        self.states.append(event)

    @hookimpl
    def aries_on_quote(self, quote: Quote, ctx: StrategyContext) -> None:
        if self.ordered or quote.ask is None:
            return
        self.ordered = True
        ctx.submit("AAPL", Side.BUY, 10, price=quote.ask + 1, account="SIM-001")
        ctx.submit("AAPL", Side.BUY, 10, price=quote.ask + 1, account="BOB-1")

    @hookimpl
    def aries_on_order_updated(self, event: OrderUpdated) -> None:
        if event.account_id == "SIM-001" and event.order.status is OrderStatus.FILLED:
            self.filled.set()

    @hookimpl
    def aries_on_order_rejected(self, event: OrderRejected) -> None:
        self.rejected.append(event)
        self.refused_order.set()


def live_config(sim_endpoints: Any, accounts: list[str]) -> Any:
    """The engine on a running simulator as a live venue, with the default user's token."""
    return engine_config(
        venue={
            "kind": "aries",
            "rest_base": sim_endpoints.rest_base,
            "ws_base": sim_endpoints.ws_base,
            "access_token_env": "SEC_ACCESS_TOKEN",
        },
        accounts=[{"id": a} for a in accounts],
    )


async def test_an_account_the_user_does_not_own_is_refused_clearly_and_the_others_run_on(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    sim_config = SimConfig(tick_interval=0.02, symbols=("AAPL",), users=(BOB,))
    monkeypatch.setenv("SEC_ACCESS_TOKEN", sim_config.token)
    spy = EveryAccount()
    with structlog.testing.capture_logs() as logs:
        async with (
            open_simulator(sim_config) as sim,
            running_engine(
                live_config(sim.endpoints, ["SIM-001", "BOB-1"]), ("spy", spy)
            ) as engine,
        ):
            with trio.fail_after(10):
                await spy.filled.wait()
                await spy.refused_order.wait()
            accounts = connection(engine.connections, Endpoint.ACCOUNTS).statistics()
            orders_at_the_venue = sim.statistics().orders_placed
    said = [e for e in logs if e["event"] == "account.subscription_refused"]
    assert len(said) == 1
    assert said[0]["log_level"] == "critical"
    assert (said[0]["account"], said[0]["code"]) == ("BOB-1", "ACCESS_DENIED")
    assert "[[accounts]]" in said[0]["action"]  # what to do about it
    # BOB-1 is halted for good, saying why; SIM-001 synced and traded on the same socket.
    [halted] = [s for s in spy.states if s.account_id == "BOB-1"]
    assert halted.state is TradingState.HALTED
    assert "ACCESS_DENIED" in halted.reason
    assert spy.synced == {"SIM-001"}
    assert accounts.state is ConnectionState.SUBSCRIBED
    assert accounts.connects == 1  # the refusal did not tear the socket down
    # The order for BOB-1 was refused by the engine and never reached the venue.
    [rejected] = spy.rejected
    assert (rejected.account_id, rejected.code, rejected.source) == (
        "BOB-1",
        "TRADING_STATE",
        "engine",
    )
    assert orders_at_the_venue == 1


async def test_when_every_account_is_refused_the_start_up_fails_naming_it(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    sim_config = SimConfig(tick_interval=0.02, symbols=("AAPL",), users=(BOB,))
    monkeypatch.setenv("SEC_ACCESS_TOKEN", sim_config.token)
    async with open_simulator(sim_config) as sim:
        with (
            trio.fail_after(10),
            pytest.RaisesGroup(
                pytest.RaisesExc(SubscriptionError, match=r"accountId=BOB-1.*ACCESS_DENIED"),
                flatten_subgroups=True,
            ),
        ):
            async with running_engine(live_config(sim.endpoints, ["BOB-1"])):
                pass
