"""wss:// verifies certificates: trusted CA → connected; unknown CA → refused, no fallback."""

from __future__ import annotations

import ssl
from functools import partial
from pathlib import Path

import pytest
import trio
import trio_websocket
import trustme

from engine.bus import EventBus
from engine.connection import AccountsHandler, ConnectionSupervisor, StaticTokenProvider
from engine.connection.supervisor import open_venue_websocket
from engine.errors import CertificateError
from engine.runtime.tls import client_ssl_context
from engine.secrets import Secret


async def echo(request: trio_websocket.WebSocketRequest) -> None:
    ws = await request.accept()
    try:
        while True:
            await ws.send_message(await ws.get_message())
    except trio_websocket.ConnectionClosed:
        pass


async def serve_tls(nursery: trio.Nursery, ca: trustme.CA) -> int:
    server_context = ssl.create_default_context(ssl.Purpose.CLIENT_AUTH)
    ca.issue_cert("127.0.0.1").configure_cert(server_context)
    server = await nursery.start(
        trio_websocket.serve_websocket, echo, "127.0.0.1", 0, server_context
    )
    return int(server.port)


async def test_a_certificate_from_a_trusted_ca_connects(tmp_path: Path) -> None:
    ca = trustme.CA()
    ca_file = tmp_path / "ca.pem"
    ca.cert_pem.write_to_path(str(ca_file))
    async with trio.open_nursery() as nursery:
        port = await serve_tls(nursery, ca)
        context = client_ssl_context(str(ca_file))
        with trio.fail_after(10):
            async with open_venue_websocket(f"wss://127.0.0.1:{port}", ssl_context=context) as ws:
                await ws.send_message("hello")
                assert await ws.get_message() == "hello"
        nursery.cancel_scope.cancel()


async def test_a_certificate_from_an_unknown_ca_is_refused() -> None:
    ca = trustme.CA()
    async with trio.open_nursery() as nursery:
        port = await serve_tls(nursery, ca)
        with trio.fail_after(10), pytest.raises(Exception) as caught:  # noqa: PT011
            async with open_venue_websocket(
                f"wss://127.0.0.1:{port}", ssl_context=client_ssl_context()
            ):
                pass
        nursery.cancel_scope.cancel()
    chain: list[BaseException] = []
    error: BaseException | None = caught.value
    while error is not None:
        chain.append(error)
        error = error.__cause__ or error.__context__
    assert any(isinstance(e, ssl.SSLCertVerificationError) for e in chain), chain


async def test_a_supervisor_gives_up_at_once_on_an_untrusted_certificate() -> None:
    ca = trustme.CA()
    async with trio.open_nursery() as server:
        port = await serve_tls(server, ca)
        connection = ConnectionSupervisor(
            AccountsHandler(("ACC-001",)),
            f"wss://127.0.0.1:{port}",
            StaticTokenProvider(Secret("tok")),
            EventBus(),
            open_websocket=partial(open_venue_websocket, ssl_context=client_ssl_context()),
        )
        with (
            trio.fail_after(10),
            pytest.RaisesGroup(
                pytest.RaisesExc(CertificateError, match="certificate verify failed")
            ),
        ):
            async with trio.open_nursery() as nursery:
                nursery.start_soon(connection.run)
        server.cancel_scope.cancel()
    assert connection.statistics().connects == 0  # one attempt, no retry storm
