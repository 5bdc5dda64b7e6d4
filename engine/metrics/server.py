"""``MetricsServer``: a tiny trio HTTP/1.x server for ``GET /metrics``.

One request per connection (``Connection: close``), read with a deadline and a size bound;
``GET``/``HEAD /metrics`` answers the registry in the Prometheus text format, ``/`` a pointer to
it, anything else 404 or 405. It runs on the engine's trio loop — no thread — and
``generate_latest`` is one synchronous pass over the collectors, which only read snapshots.

A client that is slow, sends garbage or hangs up costs its own connection only; an error in a
collector answers 500 and is logged, and the engine goes on.
"""

from __future__ import annotations

import ipaddress
from typing import NoReturn

import attrs
import structlog
import trio
from prometheus_client import CONTENT_TYPE_PLAIN_0_0_4, CollectorRegistry, generate_latest

from engine.errors import EngineError

__all__ = ["MetricsError", "MetricsServer", "metrics_url"]

log = structlog.get_logger(__name__)

MAX_REQUEST_HEAD = 8192
"""Bytes of request line and headers accepted; more is answered 431."""
LINGER_TIMEOUT = 1.0
MAX_LINGER_BYTES = 1 << 20
"""After answering, how long and how much of the client's leftover input is read and dropped."""

_REASONS = {
    200: "OK",
    400: "Bad Request",
    404: "Not Found",
    405: "Method Not Allowed",
    431: "Request Header Fields Too Large",
    500: "Internal Server Error",
}
_TEXT = "text/plain; charset=utf-8"


class MetricsError(EngineError):
    """The metrics endpoint could not listen (the address is taken or not local)."""


def metrics_url(host: str, port: int) -> str:
    """``http://host:port/metrics`` (an IPv6 address in brackets)."""
    shown = f"[{host}]" if ":" in host else host
    return f"http://{shown}:{port}/metrics"


@attrs.define(eq=False)
class MetricsServer:
    """Serves ``registry`` on ``host:port`` (``port`` 0: one the OS picks)."""

    registry: CollectorRegistry
    host: str = "127.0.0.1"
    port: int = 0
    request_timeout: float = 5.0

    async def run(
        self, *, task_status: trio.TaskStatus[int] = trio.TASK_STATUS_IGNORED
    ) -> NoReturn:
        """Listen, report ``started(port)`` with the bound port, then serve for ever.

        Raises:
            MetricsError: the address cannot be listened on.
        """
        try:
            listeners = await trio.open_tcp_listeners(self.port, host=self.host)
        except OSError as exc:
            raise MetricsError(
                f"metrics: cannot listen on {self.host}:{self.port} ({exc.strerror or exc}); "
                "change [metrics] host/port, or set enabled = false"
            ) from exc
        port: int = listeners[0].socket.getsockname()[1]
        url = metrics_url(self.host, port)
        log.info("metrics.serving", url=url)
        if not _is_loopback(self.host):
            log.warning("metrics.not_loopback", url=url, hint="it shows account equity")
        task_status.started(port)
        await trio.serve_listeners(self._serve_one, listeners)

    async def _serve_one(self, stream: trio.SocketStream) -> None:
        async with stream:
            try:
                with trio.fail_after(self.request_timeout):
                    head = await _read_head(stream)
                    if head is not None:
                        await stream.send_all(self.respond(head))
                        await _linger(stream)
            except (trio.TooSlowError, trio.BrokenResourceError, trio.ClosedResourceError) as exc:
                log.debug("metrics.request_abandoned", error=type(exc).__name__)

    def respond(self, head: bytes) -> bytes:
        """The whole response to a request whose line and headers are ``head``."""
        if len(head) > MAX_REQUEST_HEAD:
            return _response(431, b"request too large\n")
        parts = head.split(b"\r\n", 1)[0].decode("latin-1").split(" ")
        if len(parts) != 3 or not parts[2].startswith("HTTP/1."):
            return _response(400, b"expected an HTTP/1.x request line\n")
        method, target, _version = parts
        path = target.split("?", 1)[0]
        if path not in ("/", "/metrics"):
            return _response(404, b"not found; the metrics are at /metrics\n")
        if method not in ("GET", "HEAD"):
            return _response(405, b"only GET and HEAD\n", extra="Allow: GET, HEAD\r\n")
        head_only = method == "HEAD"
        if path == "/":
            return _response(
                200, b"aries-engine: the metrics are at /metrics\n", head_only=head_only
            )
        try:
            body = generate_latest(self.registry)
        except Exception:
            log.exception("metrics.collect_failed")
            return _response(500, b"collecting the metrics failed; see the engine's log\n")
        return _response(200, body, content_type=CONTENT_TYPE_PLAIN_0_0_4, head_only=head_only)


async def _read_head(stream: trio.SocketStream) -> bytes | None:
    """The request up to the blank line after its headers; ``None`` if the client hung up
    first. Stops reading past ``MAX_REQUEST_HEAD`` bytes (what was read is returned)."""
    buffer = bytearray()
    while b"\r\n\r\n" not in buffer:
        if len(buffer) > MAX_REQUEST_HEAD:
            return bytes(buffer)
        chunk = await stream.receive_some(4096)
        if not chunk:
            return None
        buffer += chunk
    return bytes(buffer[: buffer.index(b"\r\n\r\n")])


async def _linger(stream: trio.SocketStream) -> None:
    """Half-close, then read what the client still sends (briefly, boundedly) before closing:
    closing with unread input would reset the connection and could destroy the response."""
    await stream.send_eof()
    with trio.move_on_after(LINGER_TIMEOUT):
        drained = 0
        while drained < MAX_LINGER_BYTES:
            chunk = await stream.receive_some(65536)
            if not chunk:
                return
            drained += len(chunk)


def _response(
    status: int,
    body: bytes,
    *,
    content_type: str = _TEXT,
    extra: str = "",
    head_only: bool = False,
) -> bytes:
    head = (
        f"HTTP/1.1 {status} {_REASONS[status]}\r\n"
        f"Content-Type: {content_type}\r\n"
        f"Content-Length: {len(body)}\r\n"
        f"{extra}"
        "Connection: close\r\n\r\n"
    )
    return head.encode("latin-1") + (b"" if head_only else body)


def _is_loopback(host: str) -> bool:
    if host == "localhost":
        return True
    try:
        return ipaddress.ip_address(host).is_loopback
    except ValueError:
        return False
