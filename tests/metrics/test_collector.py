"""``SnapshotCollector`` over fakes: what each part's statistics become at scrape time."""

from __future__ import annotations

import time
from decimal import Decimal
from typing import Any

import attrs
import pytest
from prometheus_client import CollectorRegistry, generate_latest

from engine.accounts.views import AccountViews
from engine.aries.decode import DecoderStatistics
from engine.bus import EventBus
from engine.connection.session import SessionStatistics
from engine.connection.supervisor import ConnectionStatistics
from engine.dispatch.dispatcher import DispatcherStatistics
from engine.hooks.host import PluginStatistics
from engine.metrics import SnapshotCollector
from engine.model import (
    AccountView,
    Balance,
    ConnectionState,
    ConnectionStateChanged,
    Endpoint,
    Quote,
    TradingState,
)
from tests.metrics.helpers import names, parse, value


@attrs.define
class FakeDecoder:
    stats: DecoderStatistics

    def statistics(self) -> DecoderStatistics:
        return self.stats


@attrs.define
class FakeConnection:
    stats: ConnectionStatistics
    decoder: FakeDecoder
    last_heard_ns: int | None = None

    def statistics(self) -> ConnectionStatistics:
        return self.stats


@attrs.define
class FakeSession:
    stats: SessionStatistics

    def statistics(self) -> SessionStatistics:
        return self.stats


@attrs.define
class FakeDispatcher:
    stats: DispatcherStatistics

    def statistics(self) -> DispatcherStatistics:
        return self.stats


@attrs.define
class FakeHost:
    stats: tuple[PluginStatistics, ...]

    def statistics(self) -> tuple[PluginStatistics, ...]:
        return self.stats


@attrs.define
class FakeRisk:
    faults: int = 0


def connection(endpoint: str, state: ConnectionState, **overrides: Any) -> FakeConnection:
    counts: dict[str, Any] = {
        "seconds_in_state": 12.5,
        "connects": 1,
        "reconnects": 0,
        "frames": 0,
        "frames_out": 0,
        "frames_dropped": 0,
        "normalize_errors": 0,
        "decode_errors": 0,
        "last_error": "",
    }
    decoder = {
        "messages": overrides.pop("messages", 0),
        "unknown_types": overrides.pop("unknown_types", {}),
    }
    last_heard_ns = overrides.pop("last_heard_ns", None)
    counts.update(overrides)
    stats = ConnectionStatistics(endpoint=endpoint, state=state, **counts)
    decoder_stats = DecoderStatistics(
        frames=stats.frames,
        messages=decoder["messages"],
        errors=stats.decode_errors,
        errors_by_type={},
        unknown_types=decoder["unknown_types"],
    )
    return FakeConnection(stats, FakeDecoder(decoder_stats), last_heard_ns)


def session(expires_in: float | None) -> FakeSession:
    return FakeSession(
        SessionStatistics(
            refreshes=2, failures=1, last_error="", expires_in=expires_in, failed=False
        )
    )


def view(
    account_id: str,
    state: TradingState = TradingState.ACTIVE,
    *,
    equity: str | None = None,
    buying_power: str = "0",
    reserved: str = "0",
) -> AccountView:
    balance = (
        None
        if equity is None
        else Balance(
            account_id=account_id,
            total_equity=Decimal(equity),
            stock_buying_power=Decimal(buying_power),
        )
    )
    return AccountView(
        account_id=account_id,
        trading_state=state,
        balance=balance,
        positions={},
        open_orders={},
        reserved_buying_power=Decimal(reserved),
    )


def scrape(collector: SnapshotCollector) -> dict[tuple[str, frozenset[tuple[str, str]]], float]:
    registry = CollectorRegistry()
    registry.register(collector)
    return parse(generate_latest(registry).decode())


def test_each_socket_exports_a_one_hot_state_and_its_counters() -> None:
    heard = time.time_ns() - 2_000_000_000
    collector = SnapshotCollector(
        views=AccountViews(),
        bus=EventBus(),
        connections=[
            connection(
                "market",
                ConnectionState.SUBSCRIBED,
                frames=120,
                frames_out=4,
                frames_dropped=3,
                messages=130,
                last_heard_ns=heard,
            ),
            connection(
                "accounts",
                ConnectionState.DISCONNECTED,
                connects=3,
                reconnects=2,
                decode_errors=5,
                normalize_errors=1,
                unknown_types={"fooUpdate": 2, "barUpdate": 1},
            ),
        ],
    )
    samples = scrape(collector)

    for state in ConnectionState:
        expected = {"market": state is ConnectionState.SUBSCRIBED}
        expected["accounts"] = state is ConnectionState.DISCONNECTED
        for socket, on in expected.items():
            assert value(samples, "aries_connection_state", socket=socket, state=state) == on
    assert value(samples, "aries_connection_reconnects_total", socket="accounts") == 2
    assert value(samples, "aries_connection_connects_total", socket="accounts") == 3
    assert value(samples, "aries_connection_state_seconds", socket="market") == 12.5
    assert value(samples, "aries_frames_received_total", socket="market") == 120
    assert value(samples, "aries_frames_sent_total", socket="market") == 4
    assert value(samples, "aries_frames_dropped_total", socket="market") == 3
    assert value(samples, "aries_messages_received_total", socket="market") == 130
    assert value(samples, "aries_decode_errors_total", socket="accounts") == 5
    assert value(samples, "aries_decode_errors_total", socket="market") == 0
    assert value(samples, "aries_normalize_errors_total", socket="accounts") == 1
    assert value(samples, "aries_unknown_messages_total", socket="accounts") == 3
    age = value(samples, "aries_connection_last_frame_age_seconds", socket="market")
    assert 1.9 <= age < 60
    # Nothing heard yet on the accounts socket: no sample rather than a made-up age.
    with pytest.raises(KeyError):
        value(samples, "aries_connection_last_frame_age_seconds", socket="accounts")


def test_session_seconds_left_is_exported_only_when_the_token_has_a_known_expiry() -> None:
    known = scrape(SnapshotCollector(views=(), bus=EventBus(), session=session(1234.5)))
    assert value(known, "aries_session_seconds_left") == 1234.5
    assert value(known, "aries_session_refreshes_total") == 2
    assert value(known, "aries_session_failures_total") == 1
    assert value(known, "aries_session_failed") == 0

    unknown = scrape(SnapshotCollector(views=(), bus=EventBus(), session=session(None)))
    assert "aries_session_seconds_left" not in names(unknown)
    assert value(unknown, "aries_session_refreshes_total") == 2


async def test_bus_depth_and_conflation_per_subscription_summed_over_equal_names() -> None:
    bus = EventBus()
    conflating = bus.subscribe(
        "market-view", accepts=(Quote,), conflate=lambda e: getattr(e, "symbol", None)
    )
    bus.subscribe("watcher", accepts=(ConnectionStateChanged,))
    bus.subscribe("watcher", accepts=(ConnectionStateChanged,))  # the same name twice
    for bid in range(5):
        await bus.publish(Quote(symbol="AAPL", bid=Decimal(bid)))
    await bus.publish(
        ConnectionStateChanged(endpoint=Endpoint.MARKET, state=ConnectionState.CONNECTED)
    )
    samples = scrape(SnapshotCollector(views=(), bus=bus))

    assert value(samples, "aries_bus_pending_events", subscription="market-view") == 1
    assert value(samples, "aries_bus_conflated_events_total", subscription="market-view") == 4
    assert value(samples, "aries_bus_pending_events", subscription="watcher") == 2
    assert value(samples, "aries_bus_delivered_events_total", subscription="market-view") == 0

    await conflating.receive_batch()
    after = scrape(SnapshotCollector(views=(), bus=bus))
    assert value(after, "aries_bus_pending_events", subscription="market-view") == 0
    assert value(after, "aries_bus_delivered_events_total", subscription="market-view") == 1


def test_dispatcher_plugins_and_risk_counters() -> None:
    collector = SnapshotCollector(
        views=(),
        bus=EventBus(),
        dispatcher=FakeDispatcher(
            DispatcherStatistics(
                queued=7,
                places_sent=10,
                cancels_sent=2,
                replaces_sent=1,
                rate_limited=4,
                failures=3,
                unknown_outcomes=1,
            )
        ),
        host=FakeHost(
            (
                PluginStatistics(
                    name="quoter", calls=50, over_budget=2, slowest_call=0.02, faulted=False
                ),
                PluginStatistics(
                    name="buggy", calls=1, over_budget=0, slowest_call=0.0, faulted=True
                ),
            )
        ),
        risk=FakeRisk(faults=6),
    )
    samples = scrape(collector)
    assert value(samples, "aries_dispatch_queued_requests") == 7
    assert value(samples, "aries_dispatch_rate_limited_total") == 4
    assert value(samples, "aries_dispatch_requests_sent_total", kind="place") == 10
    assert value(samples, "aries_dispatch_requests_sent_total", kind="cancel") == 2
    assert value(samples, "aries_dispatch_requests_sent_total", kind="replace") == 1
    assert value(samples, "aries_dispatch_failures_total") == 3
    assert value(samples, "aries_dispatch_unknown_outcomes_total") == 1
    assert value(samples, "aries_plugin_calls_total", plugin="quoter") == 50
    assert value(samples, "aries_plugin_over_budget_calls_total", plugin="quoter") == 2
    assert value(samples, "aries_plugin_slowest_call_seconds", plugin="quoter") == 0.02
    assert value(samples, "aries_plugin_faulted", plugin="buggy") == 1
    assert value(samples, "aries_plugin_faulted", plugin="quoter") == 0
    assert value(samples, "aries_risk_plugin_faults_total") == 6


def test_parts_not_built_yet_export_nothing_and_break_nothing() -> None:
    samples = scrape(SnapshotCollector(views=(), bus=EventBus()))
    assert not any(
        name.startswith(("aries_dispatch", "aries_plugin", "aries_session", "aries_connection"))
        for name in names(samples)
    )


def test_accounts_export_equity_buying_power_and_a_one_hot_trading_state() -> None:
    views = AccountViews()
    views.set(view("ACC-1", equity="100250.75", buying_power="200000", reserved="1500.25"))
    views.set(view("ACC-2", TradingState.HALTED))  # no balance yet
    samples = scrape(SnapshotCollector(views=views, bus=EventBus()))

    assert value(samples, "aries_account_equity", account="ACC-1") == 100250.75
    assert value(samples, "aries_account_buying_power", account="ACC-1") == 200000
    assert value(samples, "aries_account_available_buying_power", account="ACC-1") == 198499.75
    assert value(samples, "aries_account_open_orders", account="ACC-1") == 0
    with pytest.raises(KeyError):
        value(samples, "aries_account_equity", account="ACC-2")
    for state in TradingState:
        assert value(samples, "aries_account_trading_state", account="ACC-1", state=state) == (
            state is TradingState.ACTIVE
        )
        assert value(samples, "aries_account_trading_state", account="ACC-2", state=state) == (
            state is TradingState.HALTED
        )
