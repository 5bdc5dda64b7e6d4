"""``MetricsServer``: the HTTP side, over real loopback sockets."""

from __future__ import annotations

from collections.abc import AsyncIterator, Iterator
from contextlib import asynccontextmanager

import httpx
import pytest
import structlog.testing
import trio
from prometheus_client import CollectorRegistry
from prometheus_client.metrics_core import GaugeMetricFamily, Metric

from engine.metrics import MetricsError, MetricsServer
from engine.metrics.server import MAX_REQUEST_HEAD, metrics_url
from tests.metrics.helpers import parse, value


class OneGauge:
    def __init__(self) -> None:
        self.value = 42.0
        self.broken = False

    def collect(self) -> Iterator[Metric]:
        if self.broken:
            raise RuntimeError("collector bug")
        yield GaugeMetricFamily("aries_test_value", "A test gauge.", self.value)


@asynccontextmanager
async def serving(
    collector: OneGauge, *, request_timeout: float = 5.0
) -> AsyncIterator[tuple[MetricsServer, int]]:
    registry = CollectorRegistry()
    registry.register(collector)
    server = MetricsServer(registry, request_timeout=request_timeout)
    async with trio.open_nursery() as nursery:
        port: int = await nursery.start(server.run)
        yield server, port
        nursery.cancel_scope.cancel()


async def raw_request(port: int, data: bytes) -> bytes:
    """Send ``data`` and read until the server closes the connection."""
    stream = await trio.open_tcp_stream("127.0.0.1", port)
    async with stream:
        await stream.send_all(data)
        received = bytearray()
        while chunk := await stream.receive_some(65536):
            received += chunk
    return bytes(received)


async def test_get_metrics_answers_the_registry_in_the_text_format() -> None:
    collector = OneGauge()
    with trio.fail_after(10):
        async with serving(collector) as (_, port), httpx.AsyncClient() as client:
            response = await client.get(f"http://127.0.0.1:{port}/metrics")
            collector.value = 7.0
            again = await client.get(f"http://127.0.0.1:{port}/metrics?debug=1")
    assert response.status_code == 200
    assert response.headers["content-type"].startswith("text/plain; version=0.0.4")
    assert value(parse(response.text), "aries_test_value") == 42
    assert value(parse(again.text), "aries_test_value") == 7  # read at scrape time


async def test_head_other_paths_and_other_methods() -> None:
    with trio.fail_after(10):
        async with serving(OneGauge()) as (_, port), httpx.AsyncClient() as client:
            base = f"http://127.0.0.1:{port}"
            head = await client.head(f"{base}/metrics")
            root = await client.get(f"{base}/")
            missing = await client.get(f"{base}/nope")
            post = await client.post(f"{base}/metrics", content=b"")
    assert head.status_code == 200
    assert head.content == b""
    assert int(head.headers["content-length"]) > 0
    assert root.status_code == 200
    assert "/metrics" in root.text
    assert missing.status_code == 404
    assert post.status_code == 405
    assert post.headers["allow"] == "GET, HEAD"


async def test_malformed_and_oversized_requests_are_refused_and_serving_goes_on() -> None:
    with trio.fail_after(10):
        async with serving(OneGauge()) as (_, port):
            garbage = await raw_request(port, b"hello there\r\n\r\n")
            huge = await raw_request(port, b"GET /metrics HTTP/1.1\r\nX: " + b"a" * 20_000)
            fine = await raw_request(port, b"GET /metrics HTTP/1.0\r\n\r\n")
    assert garbage.startswith(b"HTTP/1.1 400 ")
    assert MAX_REQUEST_HEAD < 20_000
    assert huge.startswith(b"HTTP/1.1 431 ")
    assert fine.startswith(b"HTTP/1.1 200 ")
    assert b"aries_test_value 42.0" in fine


async def test_a_silent_client_is_dropped_after_the_timeout_and_others_are_served() -> None:
    with trio.fail_after(10):
        async with serving(OneGauge(), request_timeout=0.1) as (_, port):
            silent = await trio.open_tcp_stream("127.0.0.1", port)
            async with silent:
                assert await silent.receive_some(1024) == b""  # closed by the server, unanswered
            answer = await raw_request(port, b"GET /metrics HTTP/1.1\r\n\r\n")
    assert answer.startswith(b"HTTP/1.1 200 ")


async def test_a_failing_collector_answers_500_and_is_logged() -> None:
    collector = OneGauge()
    collector.broken = True
    with trio.fail_after(10), structlog.testing.capture_logs() as logs:
        async with serving(collector) as (_, port), httpx.AsyncClient() as client:
            broken = await client.get(f"http://127.0.0.1:{port}/metrics")
            collector.broken = False
            mended = await client.get(f"http://127.0.0.1:{port}/metrics")
    assert broken.status_code == 500
    assert mended.status_code == 200
    assert [e["event"] for e in logs if e["log_level"] == "error"] == ["metrics.collect_failed"]


async def test_the_url_is_logged_and_a_taken_port_is_a_clear_error() -> None:
    with trio.fail_after(10), structlog.testing.capture_logs() as logs:
        async with serving(OneGauge()) as (_, port):
            second = MetricsServer(CollectorRegistry(), port=port)
            with pytest.raises(MetricsError, match=rf"cannot listen on 127\.0\.0\.1:{port}"):
                await second.run()
    [serving_line] = [e for e in logs if e["event"] == "metrics.serving"]
    assert serving_line["url"] == f"http://127.0.0.1:{port}/metrics"


def test_metrics_url_brackets_an_ipv6_address() -> None:
    assert metrics_url("::1", 9464) == "http://[::1]:9464/metrics"
    assert metrics_url("127.0.0.1", 9464) == "http://127.0.0.1:9464/metrics"
