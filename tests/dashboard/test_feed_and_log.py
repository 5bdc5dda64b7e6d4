"""The dashboard's bus subscription never holds up a publisher; its log never hits the view."""

from __future__ import annotations

import io
import logging
from decimal import Decimal
from pathlib import Path

import structlog
import trio
import trio.testing

from engine.bus import EventBus
from engine.dashboard import FEED_SLOTS, ActivityFeed, DashboardLog
from engine.model import OrderFilled, OrderRejected, Side


def fill(number: int) -> OrderFilled:
    return OrderFilled(
        account_id="SIM-001",
        cl_ord_id=f"SIM-{number}",
        client_order_id=None,
        symbol="AAPL",
        side=Side.BUY,
        qty=Decimal(1),
        price=Decimal(100 + number),
        cum_qty=Decimal(1),
        leaves_qty=Decimal(0),
        ts_recv=1_000 + number,
    )


def rejection(number: int) -> OrderRejected:
    return OrderRejected(
        account_id="SIM-001",
        client_order_id=f"s-{number}",
        cl_ord_id=None,
        symbol="AAPL",
        code="ORDER_SIZE",
        reason=f"number {number}",
        source="risk",
        ts_recv=1_000 + number,
    )


async def test_a_burst_never_makes_the_publisher_wait_and_the_newest_are_kept() -> None:
    bus = EventBus()
    feed = ActivityFeed(bus, keep=10)
    burst = 10 * FEED_SLOTS + 5  # not a whole number of laps: the ring is out of order
    # Nobody drains the feed: a never-drop subscription would block here at its capacity.
    with trio.fail_after(1):
        for number in range(burst):
            await bus.publish(fill(number))
    assert feed.subscription.statistics().publisher_waits == 0
    assert feed.subscription.statistics().pending == FEED_SLOTS
    assert feed.dropped == burst - FEED_SLOTS

    async with trio.open_nursery() as nursery:
        nursery.start_soon(feed.run)
        await trio.testing.wait_all_tasks_blocked()
        # The last ten fills, oldest first, although the ring's slots were reused.
        assert [f.cl_ord_id for f in feed.fills] == [f"SIM-{n}" for n in range(burst - 10, burst)]
        assert feed.fills_total == FEED_SLOTS
        await bus.publish(rejection(burst))
        bus.close()
    assert [r.reason for r in feed.rejections] == [f"number {burst}"]
    assert feed.rejections_total == 1
    assert "dashboard" not in {s.name for s in bus.statistics()}  # it left the bus


def test_the_log_goes_to_its_file_without_colours_and_its_last_lines_are_kept(
    tmp_path: Path,
) -> None:
    stderr = io.StringIO()
    sink = DashboardLog(tmp_path / "logs" / "engine.log", keep=3, stderr=stderr)
    sink.info("\x1b[32minfo\x1b[0m first")
    sink.echo = False  # the view is on screen
    for word in ("second", "third", "fourth"):
        sink.warning(word)
    sink.close()
    assert (tmp_path / "logs" / "engine.log").read_text().splitlines() == [
        "info first",
        "second",
        "third",
        "fourth",
    ]
    assert sink.tail(2) == ("third", "fourth")
    assert stderr.getvalue() == "\x1b[32minfo\x1b[0m first\n"  # nothing while echo was off


def test_an_unwritable_log_file_is_reported_and_lines_still_flow(tmp_path: Path) -> None:
    blocker = tmp_path / "not-a-directory"
    blocker.write_text("")
    sink = DashboardLog(blocker / "engine.log", stderr=io.StringIO())
    assert sink.path is None
    assert "cannot write the log file" in sink.problem
    sink.info("still here")
    assert sink.tail(1) == ("still here",)


def test_install_routes_structlog_and_stdlib_stderr_logging_to_the_sink(tmp_path: Path) -> None:
    stderr = io.StringIO()
    saved_config = structlog.get_config()
    root = logging.getLogger()
    saved_handlers = list(root.handlers)
    try:
        structlog.configure(
            processors=[structlog.processors.KeyValueRenderer(key_order=["event"])],
            cache_logger_on_first_use=False,
        )
        root.handlers = [logging.StreamHandler(stderr)]
        sink = DashboardLog(tmp_path / "engine.log", stderr=stderr)
        sink.install()
        sink.echo = False
        structlog.get_logger("test").info("engine.started", accounts=1)
        logging.getLogger("hypercorn.error").warning("port in use")
        sink.close()
    finally:
        structlog.configure(**saved_config)
        root.handlers = saved_handlers
    assert stderr.getvalue() == ""
    assert sink.tail(2) == ("event='engine.started' accounts=1", "port in use")
