"""The Prometheus endpoint of a running engine, scraped over HTTP and parsed as Prometheus would."""

from __future__ import annotations

from decimal import Decimal

import httpx
import prometheus_client
import trio
import trio.testing

from engine import StrategyContext, hookimpl
from engine.model import OrderRejected, OrderStatus, OrderUpdated, Quote, Side
from tests.integration.conftest import engine_config, running_engine
from tests.metrics.helpers import names, parse, value

ORDER_SIZE_LIMIT = {
    "name": "order-size",
    "path": "plugins.limits:OrderSizeLimit",
    "config": {"max_order_qty": "100"},
}
BUYING_POWER = {"name": "buying-power", "path": "plugins.buying_power:BuyingPowerCheck"}


class FillsAndOversizes:
    """On the first AAPL quote: buys 10 at a marketable price (it fills) and 500 (over the
    100-share limit of the order-size plugin, so risk refuses it)."""

    def __init__(self) -> None:
        self.small: str | None = None
        self.big: str | None = None
        self.rejection: OrderRejected | None = None
        self.filled = trio.Event()
        self.refused = trio.Event()

    @hookimpl
    def aries_on_quote(self, quote: Quote, ctx: StrategyContext) -> None:
        if self.small is None and quote.symbol == "AAPL" and quote.ask is not None:
            self.small = ctx.submit("AAPL", Side.BUY, 10, price=quote.ask + 1)
            self.big = ctx.submit("AAPL", Side.BUY, 500, price=quote.ask + 1)

    @hookimpl
    def aries_on_order_updated(self, event: OrderUpdated) -> None:
        if event.order.client_order_id == self.small and event.order.status is OrderStatus.FILLED:
            self.filled.set()

    @hookimpl
    def aries_on_order_rejected(self, event: OrderRejected) -> None:
        if event.client_order_id == self.big:
            self.rejection = event
            self.refused.set()


async def test_a_scrape_shows_sockets_orders_risk_rejections_accounts_and_lag() -> None:
    strategy = FillsAndOversizes()
    config = engine_config(plugins=[ORDER_SIZE_LIMIT, BUYING_POWER])
    async with running_engine(config, ("trader", strategy)) as engine:
        with trio.fail_after(10):
            await strategy.filled.wait()
            await strategy.refused.wait()
        # The metrics subscriber got those events when the strategy did; let it count them.
        await trio.testing.wait_all_tasks_blocked()
        assert engine.metrics_port is not None
        view_before = engine.views.get("SIM-001")
        with trio.fail_after(10):
            async with httpx.AsyncClient() as client:
                response = await client.get(f"http://127.0.0.1:{engine.metrics_port}/metrics")
        view_after = engine.views.get("SIM-001")
        expires_in = engine.session.statistics().expires_in

    assert response.status_code == 200
    assert response.headers["content-type"].startswith("text/plain; version=0.0.4")
    samples = parse(response.text)

    # Sockets: both subscribed (one-hot), frames and messages in, nothing undecodable.
    for socket in ("accounts", "market"):
        assert value(samples, "aries_connection_state", socket=socket, state="SUBSCRIBED") == 1
        assert value(samples, "aries_connection_state", socket=socket, state="DISCONNECTED") == 0
        assert value(samples, "aries_connection_reconnects_total", socket=socket) == 0
        assert value(samples, "aries_frames_received_total", socket=socket) > 0
        assert value(samples, "aries_messages_received_total", socket=socket) > 0
        assert value(samples, "aries_decode_errors_total", socket=socket) == 0
    assert value(samples, "aries_session_failed") == 0
    assert ("aries_session_seconds_left" in names(samples)) == (expires_in is not None)

    # Orders: the small one filled; the big one refused by risk, with the plugin's code.
    assert strategy.rejection is not None
    assert strategy.rejection.code == "MAX_ORDER_QTY"
    assert value(samples, "aries_orders_total", outcome="filled") >= 1
    assert value(samples, "aries_fills_total") >= 1
    assert value(samples, "aries_order_rejections_total", source="risk") == 1
    assert value(samples, "aries_risk_rejections_total", code="MAX_ORDER_QTY") == 1
    assert value(samples, "aries_dispatch_requests_sent_total", kind="place") == 1
    assert value(samples, "aries_dispatch_rate_limited_total") == 0
    assert value(samples, "aries_dispatch_queued_requests") == 0

    # The account: equity and buying power as the view has them, trading ACTIVE.
    before = view_before.balance if view_before is not None else None
    after = view_after.balance if view_after is not None else None
    assert before is not None
    assert after is not None
    equity = Decimal(str(value(samples, "aries_account_equity", account="SIM-001")))
    assert equity in {before.total_equity, after.total_equity}
    buying_power = Decimal(str(value(samples, "aries_account_buying_power", account="SIM-001")))
    assert buying_power in {before.stock_buying_power, after.stock_buying_power}
    assert value(samples, "aries_account_trading_state", account="SIM-001", state="ACTIVE") == 1
    assert value(samples, "aries_account_trading_state", account="SIM-001", state="HALTED") == 0

    # The bus and the lag: queues visible per subscription, lag observed on both streams.
    assert value(samples, "aries_bus_pending_events", subscription="plugins") >= 0
    assert value(samples, "aries_bus_delivered_events_total", subscription="metrics") > 0
    assert value(samples, "aries_event_lag_seconds_count", stream="market") > 0
    assert value(samples, "aries_event_lag_seconds_count", stream="account") > 0
    assert value(samples, "aries_strategy_lag_seconds_count", stream="market") > 0
    assert value(samples, "aries_events_total", type="OrderFilled") >= 1

    # A private registry per run: nothing leaked into the process-wide default one.
    assert b"aries_" not in prometheus_client.generate_latest(prometheus_client.REGISTRY)


async def test_with_metrics_off_there_is_no_endpoint_and_no_subscriber() -> None:
    async with running_engine(engine_config(metrics={"enabled": False})) as engine:
        assert engine.metrics_port is None
        assert "metrics" not in {s.name for s in engine.bus.statistics()}
