"""``FaultProxy`` with plain trio TCP streams on loopback, on a virtual clock.

The clock jumps only after 10 ms of real idleness, so bytes in flight on loopback are never
overtaken by a timer; times asserted are virtual and exact.
"""

from __future__ import annotations

import socket
import struct
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from functools import partial

import attrs
import pytest
import trio
import trio.testing

from engine.testing import (
    Direction,
    FaultProxy,
    LinkSettings,
    ProxyConnection,
    ProxyMode,
    open_fault_proxy,
)

TIMEOUT = 3_600.0  # virtual seconds: a bound on every test (they jump through idle time)


@pytest.fixture
def clock() -> trio.testing.MockClock:
    """Virtual time; every test that uses it names it (pytest-trio takes the clock only from
    the test's own arguments)."""
    return trio.testing.MockClock(autojump_threshold=0.01)


@attrs.define(eq=False)
class Target:
    """A TCP server on a free loopback port that hands each accepted stream to the test."""

    port: int
    accepted: trio.MemoryReceiveChannel[trio.SocketStream]
    count: int = 0


@asynccontextmanager
async def open_target() -> AsyncIterator[Target]:
    send, receive = trio.open_memory_channel[trio.SocketStream](16)

    async def handler(stream: trio.SocketStream) -> None:
        await send.send(stream)
        await trio.sleep_forever()  # the test owns the stream; closed when the server stops

    async with trio.open_nursery() as nursery:
        listeners = await nursery.start(partial(trio.serve_tcp, handler, 0, host="127.0.0.1"))
        yield Target(port=listeners[0].socket.getsockname()[1], accepted=receive)
        nursery.cancel_scope.cancel()


@attrs.define(eq=False)
class Rig:
    proxy: FaultProxy
    target: Target

    async def connect(self) -> tuple[trio.SocketStream, trio.SocketStream]:
        """A client connected through the proxy, and the target's end of it."""
        client = await trio.open_tcp_stream("127.0.0.1", self.proxy.port)
        server = await self.target.accepted.receive()
        return client, server


@pytest.fixture
async def rig(clock: trio.testing.MockClock) -> AsyncIterator[Rig]:
    async with open_target() as target, open_fault_proxy("127.0.0.1", target.port, seed=1) as p:
        with trio.fail_after(TIMEOUT):
            yield Rig(p, target)


async def receive_exactly(stream: trio.SocketStream, n: int) -> bytes:
    data = b""
    while len(data) < n:
        chunk = await stream.receive_some(n - len(data))
        assert chunk, f"EOF after {data!r}"
        data += chunk
    return data


async def test_forwards_both_ways_and_counts(rig: Rig, clock: trio.testing.MockClock) -> None:
    client, server = await rig.connect()
    upgrade = b"GET /v1/accounts/ws HTTP/1.1\r\nHost: x\r\n\r\n"
    switching = b"HTTP/1.1 101 Switching Protocols\r\n\r\n"
    await client.send_all(upgrade)
    request = await receive_exactly(server, len(upgrade))
    await server.send_all(switching)
    response = await receive_exactly(client, len(switching))
    stats = rig.proxy.statistics()
    [connection] = rig.proxy.connections()

    assert (request, response) == (upgrade, switching)
    assert (stats.accepted, stats.dialled, stats.open) == (1, 1, 1)
    assert (stats.bytes_upstream, stats.bytes_downstream) == (len(upgrade), len(switching))
    assert (connection.path, connection.bytes_upstream) == ("/v1/accounts/ws", len(upgrade))


async def test_a_fin_is_passed_on_after_the_bytes_before_it_and_half_close_works(
    rig: Rig, clock: trio.testing.MockClock
) -> None:
    client, server = await rig.connect()
    await client.send_all(b"bye")
    await client.send_eof()
    assert await receive_exactly(server, 3) == b"bye"
    assert await server.receive_some() == b""  # the FIN came through
    await server.send_all(b"still here")  # the other direction still flows
    assert await receive_exactly(client, 10) == b"still here"
    await server.aclose()
    assert await client.receive_some() == b""
    stats = await rig.proxy.wait_statistics(lambda s: s.closed == 1)
    assert (stats.open, stats.resets) == (0, 0)


async def test_latency_delays_each_direction_by_its_own_setting(
    rig: Rig, clock: trio.testing.MockClock
) -> None:
    rig.proxy.add_latency(0.5, direction=Direction.DOWNSTREAM)
    rig.proxy.add_latency(0.2, direction=Direction.UPSTREAM)
    client, server = await rig.connect()
    start = trio.current_time()
    await server.send_all(b"tick")
    await receive_exactly(client, 4)
    down = trio.current_time() - start
    start = trio.current_time()
    await client.send_all(b"tock")
    await receive_exactly(server, 4)
    up = trio.current_time() - start
    assert down == pytest.approx(0.5, abs=1e-6)
    assert up == pytest.approx(0.2, abs=1e-6)


async def test_a_latency_change_applies_to_a_live_connection(
    rig: Rig, clock: trio.testing.MockClock
) -> None:
    client, server = await rig.connect()
    await server.send_all(b"a")
    start = trio.current_time()
    await receive_exactly(client, 1)
    assert trio.current_time() == start  # no latency yet
    rig.proxy.add_latency(3.0)
    await server.send_all(b"b")
    await receive_exactly(client, 1)
    assert trio.current_time() - start == pytest.approx(3.0, abs=1e-6)


async def test_jitter_varies_the_delay_within_bounds_and_never_reorders(
    rig: Rig, clock: trio.testing.MockClock
) -> None:
    rig.proxy.add_latency(0.5, jitter=0.4, direction=Direction.DOWNSTREAM)
    client, server = await rig.connect()
    received: list[tuple[float, bytes]] = []
    sent: list[float] = []

    async def reader() -> None:
        while len(received) < 20:
            chunk = await client.receive_some(1)
            received.append((trio.current_time(), chunk))

    async with trio.open_nursery() as nursery:
        nursery.start_soon(reader)
        for i in range(20):
            sent.append(trio.current_time())
            await server.send_all(bytes([65 + i]))
            await trio.sleep(0.1)  # pace the sends (virtual time); shorter than the jitter
    delays = [at - sent_at for (at, _), sent_at in zip(received, sent, strict=True)]
    arrivals = [at for at, _ in received]

    assert b"".join(data for _, data in received) == bytes(range(65, 85))  # in order
    assert arrivals == sorted(arrivals)
    assert all(0.1 - 1e-6 <= d <= 0.9 + 1e-6 for d in delays)
    assert len({round(d, 6) for d in delays}) > 1  # it did vary


async def test_the_same_seed_gives_the_same_jitter(clock: trio.testing.MockClock) -> None:
    async def delays(seed: int) -> list[float]:
        async with (
            open_target() as target,
            open_fault_proxy("127.0.0.1", target.port, seed=seed) as p,
        ):
            p.add_latency(1.0, jitter=0.5)
            client = await trio.open_tcp_stream("127.0.0.1", p.port)
            server = await target.accepted.receive()
            out = []
            for _ in range(5):
                start = trio.current_time()
                await server.send_all(b"x")
                await receive_exactly(client, 1)
                out.append(round(trio.current_time() - start, 9))
            return out

    with trio.fail_after(TIMEOUT):
        first, again, other = await delays(7), await delays(7), await delays(8)
    assert first == again
    assert first != other


async def test_bandwidth_limits_bytes_per_second(rig: Rig, clock: trio.testing.MockClock) -> None:
    rig.proxy.limit_bandwidth(1_000, direction=Direction.DOWNSTREAM)
    client, server = await rig.connect()
    start = trio.current_time()
    await server.send_all(bytes(5_000))
    await receive_exactly(client, 5_000)
    elapsed = trio.current_time() - start
    upstream_start = trio.current_time()
    await client.send_all(bytes(5_000))  # the other direction is not limited
    await receive_exactly(server, 5_000)
    assert elapsed == pytest.approx(5.0, abs=1e-6)
    assert trio.current_time() == upstream_start


async def test_slicing_writes_tiny_segments_that_arrive_one_by_one(
    rig: Rig, clock: trio.testing.MockClock
) -> None:
    rig.proxy.slice(1, delay=0.01, direction=Direction.DOWNSTREAM)
    client, server = await rig.connect()
    before = rig.proxy.statistics().segments_downstream
    await server.send_all(b"sliced message")
    pieces: list[bytes] = []
    while sum(map(len, pieces)) < 14:
        pieces.append(await client.receive_some())
    assert b"".join(pieces) == b"sliced message"
    assert [len(p) for p in pieces] == [1] * 14  # 10 ms apart: each one read on its own
    assert rig.proxy.statistics().segments_downstream - before == 14


async def test_slicing_without_a_delay_still_writes_every_segment(
    rig: Rig, clock: trio.testing.MockClock
) -> None:
    rig.proxy.slice(3)
    client, server = await rig.connect()
    await client.send_all(bytes(range(100)))
    assert await receive_exactly(server, 100) == bytes(range(100))
    assert rig.proxy.statistics().segments_upstream == 34  # 33 of 3 bytes and one of 1


async def test_reset_sends_a_rst_to_both_sides_and_later_connections_pass(
    rig: Rig, clock: trio.testing.MockClock
) -> None:
    client, server = await rig.connect()
    assert rig.proxy.reset() == 1
    stats = await rig.proxy.wait_statistics(lambda s: s.closed == 1)
    with pytest.raises(trio.BrokenResourceError):
        await client.receive_some()
    with pytest.raises(trio.BrokenResourceError):
        await server.receive_some()
    assert (stats.resets, stats.open) == (1, 0)
    again, other_end = await rig.connect()
    await again.send_all(b"ok")
    assert await receive_exactly(other_end, 2) == b"ok"


async def test_reset_by_path_spares_other_connections(
    rig: Rig, clock: trio.testing.MockClock
) -> None:
    accounts, accounts_server = await rig.connect()
    market, market_server = await rig.connect()
    await accounts.send_all(b"GET /accounts HTTP/1.1\r\n\r\n")
    await receive_exactly(accounts_server, 26)
    await market.send_all(b"GET /market HTTP/1.1\r\n\r\n")
    await receive_exactly(market_server, 24)
    assert rig.proxy.reset(path="/accounts") == 1
    with pytest.raises(trio.BrokenResourceError):
        await accounts.receive_some()
    await market_server.send_all(b"alive")
    assert await receive_exactly(market, 5) == b"alive"


async def test_a_peers_reset_is_passed_on_as_a_reset(
    rig: Rig, clock: trio.testing.MockClock
) -> None:
    client, server = await rig.connect()
    server.socket.setsockopt(socket.SOL_SOCKET, socket.SO_LINGER, struct.pack("ii", 1, 0))
    await server.aclose()
    with pytest.raises(trio.BrokenResourceError):
        await client.receive_some()
    assert (await rig.proxy.wait_statistics(lambda s: s.closed == 1)).resets == 1


async def test_black_hole_holds_everything_until_heal_and_keeps_connections_open(
    rig: Rig, clock: trio.testing.MockClock
) -> None:
    client, server = await rig.connect()
    rig.proxy.black_hole()
    await server.send_all(b"down")
    await client.send_all(b"up")
    with trio.move_on_after(600) as silent:
        await client.receive_some()
    late_client, late_server = await rig.connect()  # accepted and dialled, but silent too
    await late_client.send_all(b"late")
    with trio.move_on_after(600) as late_silent:
        await late_server.receive_some()
    stats = rig.proxy.statistics()
    rig.proxy.heal()
    assert silent.cancelled_caught
    assert late_silent.cancelled_caught
    assert (stats.open, stats.dialled, stats.resets, stats.closed) == (2, 2, 0, 0)
    assert rig.proxy.mode is ProxyMode.FORWARD
    assert await receive_exactly(client, 4) == b"down"  # held, not dropped
    assert await receive_exactly(server, 2) == b"up"
    assert await receive_exactly(late_server, 4) == b"late"


async def test_time_out_without_after_accepts_but_never_dials_until_heal(
    rig: Rig, clock: trio.testing.MockClock
) -> None:
    rig.proxy.time_out()
    client = await trio.open_tcp_stream("127.0.0.1", rig.proxy.port)
    await client.send_all(b"hello?")
    with trio.move_on_after(600) as silent:
        await client.receive_some()
    stats = rig.proxy.statistics()
    rig.proxy.heal()
    server = await rig.target.accepted.receive()
    assert silent.cancelled_caught
    assert (stats.accepted, stats.dialled, stats.open) == (1, 0, 1)
    assert await receive_exactly(server, 6) == b"hello?"


async def test_time_out_after_closes_open_and_new_connections_cleanly(
    rig: Rig, clock: trio.testing.MockClock
) -> None:
    client, server = await rig.connect()
    start = trio.current_time()
    rig.proxy.time_out(after=5.0)
    await server.send_all(b"never delivered")
    assert await client.receive_some() == b""  # a FIN, not a reset
    closed_after = trio.current_time() - start
    assert await server.receive_some() == b""
    late = await trio.open_tcp_stream("127.0.0.1", rig.proxy.port)
    late_start = trio.current_time()
    assert await late.receive_some() == b""
    late_closed_after = trio.current_time() - late_start
    stats = rig.proxy.statistics()
    assert closed_after == pytest.approx(5.0, abs=1e-6)
    assert late_closed_after == pytest.approx(5.0, abs=1e-6)
    assert (stats.timeouts, stats.resets, stats.dialled) == (2, 0, 1)


async def test_heal_before_the_timeout_closes_keeps_the_connection(
    rig: Rig, clock: trio.testing.MockClock
) -> None:
    client, server = await rig.connect()
    rig.proxy.time_out(after=5.0)
    await server.send_all(b"held")
    with trio.move_on_after(4.0):
        await client.receive_some()
    rig.proxy.heal()
    assert await receive_exactly(client, 4) == b"held"
    await trio.sleep(10.0)  # past the old deadline (virtual): nothing closes it
    await server.send_all(b"on")
    assert await receive_exactly(client, 2) == b"on"
    assert rig.proxy.statistics().timeouts == 0


async def test_a_trigger_resets_instead_of_delivering_the_matching_chunk(
    rig: Rig, clock: trio.testing.MockClock
) -> None:
    client, server = await rig.connect()
    trigger = rig.proxy.when(b"authSuccess", ProxyConnection.reset)
    await server.send_all(b"hello")
    assert await receive_exactly(client, 5) == b"hello"
    await server.send_all(b'{"action": "authSuccess"}')
    await trigger.fired.wait()
    with pytest.raises(trio.BrokenResourceError):
        await client.receive_some()
    assert trigger.connection is not None
    assert trigger.connection.was_reset
    assert rig.proxy.statistics().bytes_downstream == 5


async def test_a_trigger_after_delivers_the_chunk_then_acts(
    rig: Rig, clock: trio.testing.MockClock
) -> None:
    client, server = await rig.connect()
    trigger = rig.proxy.when(b"refreshAuth", lambda _: rig.proxy.black_hole(), before=False)
    await server.send_all(b'{"action": "refreshAuth"}')
    assert await receive_exactly(client, 25) == b'{"action": "refreshAuth"}'
    await trigger.fired.wait()
    await server.send_all(b"held")
    with trio.move_on_after(120) as silent:
        await client.receive_some()
    assert silent.cancelled_caught
    assert rig.proxy.mode is ProxyMode.BLACK_HOLE


async def test_a_trigger_matches_across_chunks_and_only_on_its_path(
    rig: Rig, clock: trio.testing.MockClock
) -> None:
    other, other_server = await rig.connect()
    client, server = await rig.connect()
    await other.send_all(b"GET /market HTTP/1.1\r\n\r\n")
    await client.send_all(b"GET /accounts HTTP/1.1\r\n\r\n")
    await receive_exactly(other_server, 24)
    await receive_exactly(server, 26)
    trigger = rig.proxy.when(b"subscribed", ProxyConnection.reset, path="/accounts")
    await other_server.send_all(b"subscribed")  # another path: passes
    assert await receive_exactly(other, 10) == b"subscribed"
    await server.send_all(b'{"type": "subscr')
    assert await receive_exactly(client, 16) == b'{"type": "subscr'
    await server.send_all(b'ibed"}')
    await trigger.fired.wait()
    with pytest.raises(trio.BrokenResourceError):
        await client.receive_some()
    assert not trigger.fired.is_set() or trigger.connection is not None
    assert rig.proxy.statistics().triggers_fired == 1


async def test_heal_restores_the_defaults_and_disarms_triggers(
    rig: Rig, clock: trio.testing.MockClock
) -> None:
    rig.proxy.add_latency(1.0, jitter=0.5)
    rig.proxy.limit_bandwidth(10)
    rig.proxy.slice(1)
    trigger = rig.proxy.when(b"x", ProxyConnection.reset)
    rig.proxy.heal()
    client, server = await rig.connect()
    start = trio.current_time()
    await server.send_all(b"x" * 100)
    assert await receive_exactly(client, 100) == b"x" * 100
    assert trio.current_time() == start
    assert trigger.fired.is_set()  # released, but never acted
    assert trigger.connection is None
    for direction in Direction:
        assert rig.proxy.settings(direction) == LinkSettings()


async def test_an_unreachable_target_resets_the_client(clock: trio.testing.MockClock) -> None:
    async with open_target() as target:
        port = target.port
    # Nothing listens on that port any more.
    async with open_fault_proxy("127.0.0.1", port) as proxy:
        client = await trio.open_tcp_stream("127.0.0.1", proxy.port)
        with trio.fail_after(TIMEOUT), pytest.raises(trio.BrokenResourceError):
            await client.receive_some()
        stats = proxy.statistics()
    assert (stats.dial_failures, stats.resets, stats.dialled) == (1, 1, 0)


async def test_leaving_the_proxy_closes_every_connection(clock: trio.testing.MockClock) -> None:
    async with open_target() as target:
        async with open_fault_proxy("127.0.0.1", target.port) as proxy:
            client = await trio.open_tcp_stream("127.0.0.1", proxy.port)
            server = await target.accepted.receive()
        with trio.fail_after(TIMEOUT):
            assert await client.receive_some() == b""
            assert await server.receive_some() == b""
    with pytest.raises(RuntimeError, match="not running"):
        _ = proxy.port


@pytest.mark.parametrize(
    "settings",
    [{"latency": -1.0}, {"jitter": float("nan")}, {"bandwidth": 0}, {"slice_size": 0}],
)
def test_invalid_settings_are_refused(settings: dict[str, float]) -> None:
    with pytest.raises(ValueError, match="must be"):
        LinkSettings(**settings)  # type: ignore[arg-type]


async def test_an_upstream_trigger_after_delivers_the_request_then_resets(
    rig: Rig, clock: trio.testing.MockClock
) -> None:
    client, server = await rig.connect()
    trigger = rig.proxy.when(
        b'"clientId"', ProxyConnection.reset, direction=Direction.UPSTREAM, before=False
    )
    request = b'POST /v1/orders HTTP/1.1\r\n\r\n{"clientId": "c-1"}'
    await client.send_all(request)
    assert await receive_exactly(server, len(request)) == request  # it arrived whole
    await trigger.fired.wait()
    with pytest.raises(trio.BrokenResourceError):
        await client.receive_some()  # and its answer never will
    with pytest.raises(trio.BrokenResourceError):
        await server.send_all(b"HTTP/1.1 200 OK\r\n\r\n" * 1000)


async def test_a_clients_reset_is_passed_on_to_the_target(
    rig: Rig, clock: trio.testing.MockClock
) -> None:
    client, server = await rig.connect()
    client.socket.setsockopt(socket.SOL_SOCKET, socket.SO_LINGER, struct.pack("ii", 1, 0))
    await client.aclose()
    with pytest.raises(trio.BrokenResourceError):
        await server.receive_some()


async def test_history_keeps_every_connection_and_wakes_on_its_request_line(
    rig: Rig, clock: trio.testing.MockClock
) -> None:
    first, first_server = await rig.connect()
    await first.aclose()
    assert await first_server.receive_some() == b""  # its FIN
    await first_server.aclose()  # both ways closed: the connection ends
    second, _ = await rig.connect()
    await second.send_all(b"GET /v1/market/ws HTTP/1.1\r\n\r\n")
    await rig.proxy.wait_statistics(
        lambda _: [c.path for c in rig.proxy.history()] == [None, "/v1/market/ws"]
    )
    await rig.proxy.wait_statistics(lambda s: s.closed == 1)
    assert [c.id for c in rig.proxy.connections()] == [2]
    assert rig.proxy.history()[0].ended.is_set()


async def test_a_black_hole_replaces_a_timeout_and_its_deadlines(
    rig: Rig, clock: trio.testing.MockClock
) -> None:
    client, server = await rig.connect()
    rig.proxy.time_out(after=5.0)
    rig.proxy.black_hole()
    await server.send_all(b"held")
    with trio.move_on_after(60) as silent:
        await client.receive_some()
    rig.proxy.heal()
    assert silent.cancelled_caught  # silent, and not closed at the 5 s deadline
    assert await receive_exactly(client, 4) == b"held"
    assert rig.proxy.statistics().timeouts == 0
