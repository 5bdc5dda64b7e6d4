"""``run_dashboard`` beside the real engine and its simulator, over real loopback sockets."""

from __future__ import annotations

import io
from decimal import Decimal
from functools import partial

import trio
from rich.console import Console

from engine import StrategyContext, hookimpl
from engine.dashboard import DashboardSnapshot, run_dashboard
from engine.model import Quote, Side
from tests.integration.conftest import engine_config, running_engine


class BuysWhenTold:
    """Buys 10 AAPL at a marketable price on the first quote after ``go`` is set."""

    def __init__(self) -> None:
        self.go = False
        self.client_order_id: str | None = None

    @hookimpl
    def aries_on_quote(self, quote: Quote, ctx: StrategyContext) -> None:
        if self.go and self.client_order_id is None and quote.symbol == "AAPL" and quote.ask:
            self.client_order_id = ctx.submit("AAPL", Side.BUY, 10, price=quote.ask + 1)


async def test_the_dashboard_redraws_the_running_engine_and_shows_its_fill() -> None:
    strategy = BuysWhenTold()
    out = io.StringIO()
    # A terminal as rich sees one (so every frame is written), without colours to read it back.
    console = Console(file=out, force_terminal=True, color_system=None, width=120, height=60)
    frames: list[DashboardSnapshot] = []
    fill_drawn = trio.Event()

    def rendered(snapshot: DashboardSnapshot) -> None:
        frames.append(snapshot)
        if len(frames) >= 2 and snapshot.fills:
            fill_drawn.set()

    async with running_engine(engine_config(), ("buyer", strategy)) as engine:
        async with trio.open_nursery() as nursery:
            # started(): subscribed to the bus, so the fill cannot be published before it.
            await nursery.start(
                partial(
                    run_dashboard,
                    engine,
                    console=console,
                    refresh_per_second=20,
                    on_render=rendered,
                )
            )
            strategy.go = True
            with trio.fail_after(10):
                await fill_drawn.wait()
            nursery.cancel_scope.cancel()
        # Gone from the bus with the dashboard: a display leaves nothing behind.
        assert "dashboard" not in {s.name for s in engine.bus.statistics()}

    last = frames[-1]
    fill = last.fills[0]
    assert (fill.symbol, fill.side, fill.qty, fill.strategy) == (
        "AAPL",
        Side.BUY,
        Decimal(10),
        "buyer",
    )
    assert [s.endpoint for s in last.sockets] == ["market", "accounts"]
    assert [a.account_id for a in last.accounts] == ["SIM-001"]
    assert last.metrics_url is not None
    assert last.metrics_url.startswith("http://127.0.0.1:")
    # What a person saw: several frames, the account, the fill with its price and strategy.
    text = out.getvalue()
    assert text.count("Last fills (") >= 2
    assert "account SIM-001  ACTIVE" in text
    assert "SUBSCRIBED" in text
    assert "Last fills (1 this run)" in text
    assert f"{fill.price:,.2f}" in text
    assert "buyer" in text
