"""The connection supervisor on trio's virtual clock: the brief's timing rules, exactly."""

from __future__ import annotations

import contextlib
import random
from collections.abc import Sequence
from decimal import Decimal
from functools import partial

import attrs
import pytest
import trio
import trio.testing
from structlog.testing import capture_logs

from engine.bus import EventBus
from engine.connection import (
    AccountsHandler,
    ConnectionSupervisor,
    MarketHandler,
    StaticTokenProvider,
)
from engine.errors import AuthError
from engine.model import (
    AccountSnapshotReceived,
    AccountSubscriptionRefused,
    ConnectionState,
    ConnectionStateChanged,
    OrderReported,
    OrderStatus,
    Quote,
    Trade,
)
from engine.runtime import Backoff
from engine.secrets import Secret
from tests.actors.fake_venue import (
    REFRESH_AUTH,
    FakeVenue,
    market_event,
    order_event,
    subscribed,
)

TOKEN = "tok-super-secret-123"


def supervisor(venue: FakeVenue, bus: EventBus, **kwargs: object) -> ConnectionSupervisor:
    return ConnectionSupervisor(
        AccountsHandler(("ACC-001",)),
        "ws://venue.test",
        StaticTokenProvider(Secret(TOKEN)),
        bus,
        backoff=Backoff(jitter=0),
        rng=random.Random(0),
        open_websocket=venue.open_websocket,
        **kwargs,  # type: ignore[arg-type]
    )


def states(events: Sequence[object]) -> list[ConnectionState]:
    return [e.state for e in events if isinstance(e, ConnectionStateChanged)]


async def test_authenticates_then_subscribes_then_pings_every_interval(
    autojump_clock: trio.testing.MockClock,
) -> None:
    venue, bus = FakeVenue(), EventBus()
    seen = bus.subscribe("test", accepts=(ConnectionStateChanged, AccountSnapshotReceived))
    async with trio.open_nursery() as nursery:
        await nursery.start(supervisor(venue, bus).run)
        [socket] = venue.sockets
        await socket.wait_sent(lambda sent: sum(m["type"] == "ping" for m in sent) >= 3)
        nursery.cancel_scope.cancel()
    kinds = [m["type"] for _, m in socket.sent]
    assert kinds[:2] == ["request", "subscribe"]
    assert socket.sent[0][1]["payload"]["body"] == {"action": "auth", "token": TOKEN}
    assert socket.sent[1][1]["params"] == {"accountId": "ACC-001"}
    ping_times = [t - socket.opened_at for t, _ in socket.sent_of_type("ping")]
    assert ping_times[:3] == pytest.approx([30, 60, 90])
    events = await seen.receive_batch()
    assert states(events) == [
        ConnectionState.CONNECTED,
        ConnectionState.AUTHENTICATED,
        ConnectionState.SUBSCRIBED,
    ]
    assert any(isinstance(e, AccountSnapshotReceived) for e in events)


async def test_a_silent_socket_is_declared_dead_and_replaced_on_the_backoff_schedule(
    autojump_clock: trio.testing.MockClock,
) -> None:
    venue, bus = FakeVenue(answer_pings=False), EventBus()
    async with trio.open_nursery() as nursery:
        start = trio.current_time()
        await nursery.start(supervisor(venue, bus).run)
        await venue.wait_attempts(3)
        nursery.cancel_scope.cancel()
    # Dead after 2 × 30 s without a frame; reconnect after 1 s, then after 2 s.
    assert [t - start for t in venue.attempts] == pytest.approx([0, 61, 61 + 60 + 2])
    assert all(s.sent_of_type("request") for s in venue.sockets)  # re-authenticated each time


async def test_refused_connections_back_off_1_2_4_8(autojump_clock: trio.testing.MockClock) -> None:
    venue, bus = FakeVenue(refuse=4), EventBus()
    async with trio.open_nursery() as nursery:
        start = trio.current_time()
        await nursery.start(supervisor(venue, bus).run)
        nursery.cancel_scope.cancel()
    assert [t - start for t in venue.attempts] == pytest.approx([0, 1, 3, 7, 15])


async def test_a_malformed_account_event_is_logged_counted_and_resynced(
    autojump_clock: trio.testing.MockClock,
) -> None:
    # What the bad line said (a fill?) is lost: only a fresh snapshot recovers it
    # (FAULT-SCENARIOS #17), so the accounts socket reconnects rather than go on without it.
    venue, bus = FakeVenue(), EventBus()
    reports = bus.subscribe("test", accepts=(OrderReported,))
    snapshots = bus.subscribe("snapshots", accepts=(AccountSnapshotReceived,))
    connection = supervisor(venue, bus)
    async with trio.open_nursery() as nursery:
        await nursery.start(connection.run)
        with capture_logs() as logs:
            await venue.sockets[0].push(
                order_event("ACC-001", "NEW", "0").replace('"qty": "100"', '"qty": "ten"')
            )
            await venue.wait_attempts(2)
            await connection.wait_state(ConnectionState.SUBSCRIBED)
            await venue.sockets[1].push(order_event("ACC-001", "PARTIALLY_FILLED", "40"))
            [report] = await reports.receive_batch()
        nursery.cancel_scope.cancel()
    assert isinstance(report, OrderReported)
    assert report.order.status is OrderStatus.PARTIALLY_FILLED
    assert len(await snapshots.receive_batch()) == 2  # the resync brought a fresh snapshot
    errors = [e for e in logs if e["event"] == "protocol.decode_error"]
    assert len(errors) == 1
    assert errors[0]["message_type"] == "account.order"
    assert "qty" in errors[0]["field"]
    assert connection.decoder.statistics().errors == 1
    assert "undecodable account.order message" in connection.statistics().last_error


async def test_refresh_warning_reauthenticates_on_the_same_socket(
    autojump_clock: trio.testing.MockClock,
) -> None:
    venue, bus = FakeVenue(), EventBus()
    seen = bus.subscribe("test", accepts=(ConnectionStateChanged,))
    async with trio.open_nursery() as nursery:
        await nursery.start(supervisor(venue, bus).run)
        [socket] = venue.sockets
        await socket.push(REFRESH_AUTH)
        await socket.wait_sent(lambda sent: sum(m["type"] == "request" for m in sent) == 2)
        received: list[object] = []
        while ConnectionState.SUBSCRIBED not in states(received[3:]):
            received += await seen.receive_batch()
        nursery.cancel_scope.cancel()
    assert len(venue.sockets) == 1
    assert len(socket.sent_of_type("subscribe")) == 1  # subscriptions kept, not replayed
    assert states(received)[3:] == [ConnectionState.REFRESH_WARNING, ConnectionState.SUBSCRIBED]


@attrs.define
class SlowRefresh:
    """A token provider whose refresh waits until the test lets it through."""

    released: trio.Event = attrs.field(factory=trio.Event)
    can_refresh: bool = True

    async def get_token(self) -> Secret:
        await trio.lowlevel.checkpoint()
        return Secret(TOKEN)

    async def refresh(self, reason: str) -> Secret:
        await self.released.wait()
        return Secret(TOKEN + "-2")


async def test_frames_keep_flowing_while_a_refresh_warning_waits_for_a_token(
    autojump_clock: trio.testing.MockClock,
) -> None:
    # The session stays valid until the venue's deadline: a slow or down token endpoint must
    # not hold up the order reports meanwhile.
    venue, bus, tokens = FakeVenue(), EventBus(), SlowRefresh()
    orders = bus.subscribe("test", accepts=(OrderReported,))
    connection = ConnectionSupervisor(
        AccountsHandler(("ACC-001",)),
        "ws://venue.test",
        tokens,
        bus,
        backoff=Backoff(jitter=0),
        open_websocket=venue.open_websocket,
    )
    async with trio.open_nursery() as nursery:
        await nursery.start(connection.run)
        [socket] = venue.sockets
        await socket.push(REFRESH_AUTH)
        await socket.push(REFRESH_AUTH)  # a repeated warning asks for no second token
        await socket.push(order_event("ACC-001", "PARTIALLY_FILLED", "10"))
        with trio.fail_after(30):  # virtual seconds; the token is still held back
            [report] = await orders.receive_batch()
        assert connection.state is ConnectionState.REFRESH_WARNING
        tokens.released.set()
        await socket.wait_sent(lambda sent: sum(m["type"] == "request" for m in sent) == 2)
        await connection.wait_state(ConnectionState.SUBSCRIBED)
        nursery.cancel_scope.cancel()
    assert isinstance(report, OrderReported)
    auths = [m for _, m in socket.sent if m["type"] == "request"]
    assert auths[1]["payload"]["body"]["token"] == TOKEN + "-2"
    assert len(venue.sockets) == 1


async def test_repeated_invalid_token_is_fatal_and_never_leaks_the_token(
    autojump_clock: trio.testing.MockClock,
) -> None:
    venue, bus = FakeVenue(auth_error="INVALID_TOKEN"), EventBus()
    with (
        capture_logs() as logs,
        pytest.RaisesGroup(pytest.RaisesExc(AuthError, match="INVALID_TOKEN")),
    ):
        async with trio.open_nursery() as nursery:
            nursery.start_soon(partial(supervisor(venue, bus, max_auth_failures=3).run))
    assert len(venue.attempts) == 3
    assert TOKEN not in repr(logs)
    assert any(e["event"] == "connection.gave_up" for e in logs)


async def test_a_message_that_cannot_be_normalized_is_logged_and_the_feed_goes_on(
    autojump_clock: trio.testing.MockClock,
) -> None:
    venue, bus = FakeVenue(), EventBus()
    quotes = bus.subscribe("test", accepts=(Quote,))
    connection = ConnectionSupervisor(
        MarketHandler({"AAPL"}),
        "ws://venue.test",
        StaticTokenProvider(Secret(TOKEN)),
        bus,
        backoff=Backoff(jitter=0),
        open_websocket=venue.open_websocket,
    )
    async with trio.open_nursery() as nursery:
        await nursery.start(connection.run)
        [socket] = venue.sockets
        with capture_logs() as logs:
            # A trade with no price for a symbol never priced before cannot become a Trade.
            await socket.push(market_event("trade", {"symbol": "ZZZ", "size": "100"}))
            await socket.push(
                market_event(
                    "quote", {"symbol": "AAPL", "bidPrice": "189.49", "askPrice": "189.51"}
                )
            )
            [quote] = await quotes.receive_batch()
        nursery.cancel_scope.cancel()
    assert isinstance(quote, Quote)
    assert quote.bid == Decimal("189.49")
    errors = [e for e in logs if e["event"] == "protocol.normalize_error"]
    assert len(errors) == 1
    assert errors[0]["message_type"] == "trade"
    assert connection.statistics().normalize_errors == 1
    assert len(venue.sockets) == 1  # no reconnect for a bad message


async def test_a_refused_account_is_reported_once_and_the_others_stay_subscribed(
    autojump_clock: trio.testing.MockClock,
) -> None:
    venue = FakeVenue(subscribe_error="ACCESS_DENIED", refused_accounts=frozenset({"BOB-1"}))
    bus = EventBus()
    seen = bus.subscribe("test", accepts=(AccountSubscriptionRefused, AccountSnapshotReceived))
    connection = ConnectionSupervisor(
        AccountsHandler(("ACC-001", "BOB-1")),
        "ws://venue.test",
        StaticTokenProvider(Secret(TOKEN)),
        bus,
        backoff=Backoff(jitter=0),
        open_websocket=venue.open_websocket,
    )
    with capture_logs() as logs:
        async with trio.open_nursery() as nursery:
            await nursery.start(connection.run)  # started: the refusal answered its request
            venue.sockets[0].close()  # a reconnect replays only what was not refused
            await venue.wait_attempts(2)
            await connection.wait_state(ConnectionState.SUBSCRIBED)
            nursery.cancel_scope.cancel()
    events = await seen.receive_batch()
    [refused] = [e for e in events if isinstance(e, AccountSubscriptionRefused)]
    assert (refused.account_id, refused.code) == ("BOB-1", "ACCESS_DENIED")
    snapshots = [e.account_id for e in events if isinstance(e, AccountSnapshotReceived)]
    assert snapshots == ["ACC-001", "ACC-001"]  # the other account, on both sockets
    second = [m for _, m in venue.sockets[1].sent if m["type"] == "subscribe"]
    assert [m["params"]["accountId"] for m in second] == ["ACC-001"]
    [line] = [e for e in logs if e["event"] == "account.subscription_refused"]
    assert line["log_level"] == "critical"
    assert (line["account"], line["code"]) == ("BOB-1", "ACCESS_DENIED")
    assert "owns it" in line["action"]


@attrs.define
class RotatingTokens:
    """A refreshable provider: every refresh hands out the next token."""

    tokens: list[str]
    refreshes: list[str] = attrs.field(factory=list)
    can_refresh: bool = True

    async def get_token(self) -> Secret:
        await trio.lowlevel.checkpoint()
        return Secret(self.tokens[0])

    async def refresh(self, reason: str) -> Secret:
        await trio.lowlevel.checkpoint()
        self.refreshes.append(reason)
        self.tokens.pop(0)
        return Secret(self.tokens[0])


async def test_an_invalid_token_is_refreshed_and_the_connection_retried(
    autojump_clock: trio.testing.MockClock,
) -> None:
    venue, bus = FakeVenue(valid_tokens={"fresh"}), EventBus()
    tokens = RotatingTokens(["stale", "fresh"])
    connection = ConnectionSupervisor(
        AccountsHandler(("ACC-001",)),
        "ws://venue.test",
        tokens,
        bus,
        backoff=Backoff(jitter=0),
        open_websocket=venue.open_websocket,
    )
    async with trio.open_nursery() as nursery:
        await nursery.start(connection.run)
        nursery.cancel_scope.cancel()
    assert tokens.refreshes == ["INVALID_TOKEN on the accounts socket"]
    assert len(venue.attempts) == 2
    assert connection.state is ConnectionState.SUBSCRIBED


async def test_after_start_up_a_dead_credential_degrades_the_socket_instead_of_crashing(
    autojump_clock: trio.testing.MockClock,
) -> None:
    venue, bus = FakeVenue(), EventBus()
    connection = supervisor(venue, bus, credential="the access token in $ARIES_ACCESS_TOKEN")
    with capture_logs() as logs:
        async with trio.open_nursery() as nursery:
            await nursery.start(connection.run)
            venue.auth_error = "INVALID_TOKEN"  # the token gets revoked
            venue.sockets[0].close()
            with trio.fail_after(600):
                await connection.wait_state(ConnectionState.FAILED)
            nursery.cancel_scope.cancel()
    assert len(venue.attempts) == 1 + 3  # the first connection, then three refusals
    [gave_up] = [e for e in logs if e["event"] == "connection.gave_up"]
    assert gave_up["credential"] == "the access token in $ARIES_ACCESS_TOKEN"
    assert gave_up["action"] == "set a valid access token and restart"
    assert "INVALID_TOKEN" in gave_up["reason"]
    assert connection.statistics().state is ConnectionState.FAILED
    assert TOKEN not in repr(logs)


async def test_a_busy_engine_never_stops_the_reader_market_frames_are_dropped_and_counted(
    autojump_clock: trio.testing.MockClock,
) -> None:
    venue, bus = FakeVenue(), EventBus()
    blocked = bus.subscribe("never-drained", accepts=(Trade,), capacity=1)
    connection = ConnectionSupervisor(
        MarketHandler({"AAPL"}),
        "ws://venue.test",
        StaticTokenProvider(Secret(TOKEN)),
        bus,
        backoff=Backoff(jitter=0),
        open_websocket=venue.open_websocket,
        frame_buffer=3,
    )
    trade = market_event("trade", {"symbol": "AAPL", "lastPrice": "1.00", "size": "1"})
    async with trio.open_nursery() as nursery:
        await nursery.start(connection.run)
        [socket] = venue.sockets
        for _ in range(20):
            await socket.push(trade)
        # Pings are still sent and answered: the reader is not stuck behind the consumer.
        await socket.wait_sent(lambda sent: sum(m["type"] == "ping" for m in sent) >= 4)
        nursery.cancel_scope.cancel()
    stats = connection.statistics()
    assert stats.frames_dropped >= 1
    assert stats.state is ConnectionState.SUBSCRIBED
    assert len(venue.sockets) == 1  # no reconnect for market data
    assert blocked.statistics().pending == 1


async def test_a_busy_engine_makes_the_accounts_socket_resync_rather_than_lose_events(
    autojump_clock: trio.testing.MockClock,
) -> None:
    venue, bus = FakeVenue(), EventBus()
    bus.subscribe("never-drained", accepts=(OrderReported,), capacity=1)
    connection = supervisor(venue, bus, frame_buffer=3)
    async with trio.open_nursery() as nursery:
        await nursery.start(connection.run)
        with contextlib.suppress(trio.ClosedResourceError):  # it hangs up part-way: good
            for cum in range(20):
                await venue.sockets[0].push(order_event("ACC-001", "PARTIALLY_FILLED", str(cum)))
        await venue.wait_attempts(2)
        nursery.cancel_scope.cancel()
    assert "fell 3 frames behind" in connection.statistics().last_error


async def test_a_drop_at_every_step_of_the_handshake_is_survived_one_socket_at_a_time(
    autojump_clock: trio.testing.MockClock,
) -> None:
    steps = ["on_connect", "on_auth", "after_auth", "on_subscribe"]
    venue, bus = FakeVenue(hang_up_at=list(steps)), EventBus()
    connection = supervisor(venue, bus)
    async with trio.open_nursery() as nursery:
        start = trio.current_time()
        await nursery.start(connection.run)
        nursery.cancel_scope.cancel()
    assert venue.hang_up_at == []  # every step was hit once
    assert connection.statistics().state is ConnectionState.SUBSCRIBED
    # 1 + 2 + 4 + 8 s of backoff between the five attempts; never two sockets at once.
    assert [t - start for t in venue.attempts] == pytest.approx([0, 1, 3, 7, 15])
    assert venue.overlapping == 0


@attrs.define
class SlowTokens:
    """A provider whose token takes 10 s to arrive (a slow refresh)."""

    can_refresh: bool = False

    async def get_token(self) -> Secret:
        await trio.sleep(10)
        return Secret(TOKEN)

    async def refresh(self, reason: str) -> Secret:
        return await self.get_token()


async def test_a_slow_token_is_fetched_before_dialling_so_the_auth_window_is_kept(
    autojump_clock: trio.testing.MockClock,
) -> None:
    venue, bus = FakeVenue(), EventBus()
    connection = ConnectionSupervisor(
        AccountsHandler(("ACC-001",)),
        "ws://venue.test",
        SlowTokens(),
        bus,
        open_websocket=venue.open_websocket,
    )
    async with trio.open_nursery() as nursery:
        start = trio.current_time()
        await nursery.start(connection.run)
        nursery.cancel_scope.cancel()
    [socket] = venue.sockets
    auth_sent_at = socket.sent_of_type("request")[0][0]
    assert socket.opened_at - start == pytest.approx(10)  # dialled only once the token was ready
    assert auth_sent_at - socket.opened_at == pytest.approx(0)  # well inside the 5 s window


async def test_subscriptions_change_at_run_time_and_the_registry_is_replayed_on_reconnect(
    autojump_clock: trio.testing.MockClock,
) -> None:
    venue, bus = FakeVenue(), EventBus()
    connection = ConnectionSupervisor(
        MarketHandler({"AAPL"}),
        "ws://venue.test",
        StaticTokenProvider(Secret(TOKEN)),
        bus,
        backoff=Backoff(jitter=0),
        open_websocket=venue.open_websocket,
    )

    def symbols_sent(socket: object, kind: str) -> list[list[str]]:
        assert isinstance(socket, type(venue.sockets[0]))
        return [[item["symbol"] for item in m["payload"]] for _, m in socket.sent_of_type(kind)]

    async with trio.open_nursery() as nursery:
        await nursery.start(connection.run)
        first = venue.sockets[0]
        connection.update_subscriptions(add=["MSFT", "AAPL"], remove=[])
        connection.update_subscriptions(remove=["AAPL"])
        await first.wait_sent(lambda sent: any(m["type"] == "unsubscribe" for m in sent))
        first.close()  # the venue drops us; the registry must be replayed whole
        await venue.wait_attempts(2)
        await connection.wait_state(ConnectionState.SUBSCRIBED)
        second = venue.sockets[1]
        await second.wait_sent(lambda sent: any(m["type"] == "subscribe" for m in sent))
        nursery.cancel_scope.cancel()
    assert symbols_sent(first, "subscribe") == [["AAPL"], ["MSFT"]]  # only the difference
    assert symbols_sent(first, "unsubscribe") == [["AAPL"]]
    assert symbols_sent(second, "subscribe") == [["MSFT"]]


async def test_the_backoff_resets_after_a_minute_of_healthy_connection(
    autojump_clock: trio.testing.MockClock,
) -> None:
    venue, bus = FakeVenue(refuse=1), EventBus()
    async with trio.open_nursery() as nursery:
        start = trio.current_time()
        await nursery.start(supervisor(venue, bus).run)  # refused once (delay 1 s), then in
        live = venue.sockets[0]
        await live.wait_sent(lambda sent: sum(m["type"] == "ping" for m in sent) >= 3)  # 90 s
        live.close()
        await venue.wait_attempts(3)
        nursery.cancel_scope.cancel()
    # Without the reset the third attempt would wait 2 s; after 90 s of pongs it waits 1 s.
    third_delay = venue.attempts[2] - (venue.sockets[0].opened_at + 90)
    assert venue.attempts[1] - start == pytest.approx(1)
    assert third_delay == pytest.approx(1)


def test_a_snapshot_or_report_for_an_account_we_did_not_subscribe_is_refused() -> None:
    from engine.aries.decode import decode_message
    from engine.model import Endpoint

    handler = AccountsHandler(("ACC-001",))
    foreign_snapshot = decode_message(subscribed("s-1", "ACC-999"), Endpoint.ACCOUNTS, ts_recv=0)
    foreign_order = decode_message(order_event("ACC-999", "NEW", "0"), Endpoint.ACCOUNTS, ts_recv=0)
    mine = decode_message(order_event("ACC-001", "NEW", "0"), Endpoint.ACCOUNTS, ts_recv=0)
    with capture_logs() as logs:
        assert handler.handle(foreign_snapshot) == []
        assert handler.handle(foreign_order) == []
    assert [type(e) for e in handler.handle(mine)] == [OrderReported]
    assert [e["event"] for e in logs] == [
        "account.foreign_snapshot_refused",
        "account.foreign_event_refused",
    ]


async def test_a_refresh_warning_before_the_subscribe_ack_still_ends_subscribed(
    autojump_clock: trio.testing.MockClock,
) -> None:
    venue, bus = FakeVenue(warn_before_ack=True), EventBus()
    connection = supervisor(venue, bus)
    async with trio.open_nursery() as nursery:
        with trio.fail_after(30):
            await nursery.start(connection.run)  # started() still comes
        [socket] = venue.sockets
        nursery.cancel_scope.cancel()
    assert connection.state is ConnectionState.SUBSCRIBED
    assert len(socket.sent_of_type("request")) == 2  # re-authenticated in place


async def test_events_keep_arrival_order_when_the_bus_pushes_back_mid_stream(
    autojump_clock: trio.testing.MockClock,
) -> None:
    # The reader publishes directly while the bus has room, and hands frames to the processing
    # task once it has none: a later frame must never overtake an earlier one on that switch.
    venue, bus = FakeVenue(), EventBus()
    orders = bus.subscribe("slow", accepts=(OrderReported,), capacity=2)
    async with trio.open_nursery() as nursery:
        await nursery.start(supervisor(venue, bus).run)
        seen: list[Decimal] = []
        for cum in range(40):
            await venue.sockets[0].push(order_event("ACC-001", "PARTIALLY_FILLED", str(cum)))
            if cum % 4 == 3:
                await trio.sleep(1)  # the reader has queued frames behind the full mailbox
                # Room again: the processing task and the reader (with the next frame) race.
                seen += [e.order.cum_qty for e in await orders.receive_batch()]  # type: ignore[attr-defined]
        while len(seen) < 40:
            seen += [e.order.cum_qty for e in await orders.receive_batch()]  # type: ignore[attr-defined]
        nursery.cancel_scope.cancel()
    assert seen == [Decimal(cum) for cum in range(40)]
    assert orders.statistics().publisher_waits >= 1  # the back-pressure path was taken
    assert len(venue.sockets) == 1
