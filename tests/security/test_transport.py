"""The way to the venue: no plain text off the machine, no certificate the engine cannot verify.

TLS is proved against the real simulator behind a TLS terminator (``TlsFront``) whose
certificate comes from a throwaway authority (trustme): trusted through ``venue.ca_file`` the
engine runs; otherwise it refuses before a byte of a credential leaves.
"""

from __future__ import annotations

import ssl
from collections.abc import AsyncIterator
from functools import partial
from pathlib import Path
from typing import Any
from urllib.parse import urlsplit

import attrs
import pytest
import trio
import trio.testing
import trustme

from engine.aries.rest import exchange_token
from engine.config import EngineConfig, VenueSection, load_config
from engine.connection.supervisor import open_venue_websocket
from engine.errors import CertificateError, ConfigError
from engine.model import ConnectionState
from engine.secrets import Secret
from engine.sim import SimConfig, Simulator
from engine.testing import open_simulator
from tests.integration.conftest import engine_config, running_engine
from tests.security._support import (
    CLIENT_ID,
    TokenRecorder,
    leaves,
    oauth_section,
    write_live_config,
)
from tests.security.conftest import CommandLine

PLAIN_TEXT_TO_ANOTHER_HOST = [
    ("ws_base", "ws://api.aries.com"),
    ("ws_base", "ws://10.1.2.3:8080"),
    ("ws_base", "ws://localhost.evil.example"),
    ("ws_base", "ws://127.0.0.1@evil.example/"),
    ("rest_base", "http://api.aries.com"),
    ("rest_base", "http://[2001:db8::1]:8080"),
]
LOOPBACK = [
    ("ws_base", "ws://127.0.0.1:8765"),
    ("ws_base", "ws://localhost:8765"),
    ("rest_base", "http://[::1]:8765"),
    ("rest_base", "http://127.8.9.10"),
]


@pytest.mark.parametrize(("key", "url"), PLAIN_TEXT_TO_ANOTHER_HOST)
def test_plain_text_to_another_host_is_refused_by_every_way_in(
    key: str, url: str, tmp_path: Path, cli: CommandLine
) -> None:
    config = write_live_config(tmp_path / "engine.toml", {key: url})
    with pytest.raises(ConfigError, match=rf"venue\.{key}: ") as refused:
        load_config(config)
    assert "allowed" in str(refused.value)  # says why: only loopback, or no credentials
    fields: dict[str, Any] = {key: url}
    with pytest.raises(ValueError, match="allowed"):
        VenueSection(kind="aries", **fields)
    with pytest.raises(ValueError, match="allowed"):
        attrs.evolve(VenueSection(kind="aries"), **fields)
    # `run` stops before anything connects, `check` says the config is not ready.
    run_status, run_output = cli("run", str(config))
    check_status, check_output = cli("check", str(config))
    assert (run_status, check_status) == (2, 2)
    assert f"venue.{key}: " in run_output
    assert f"venue.{key}: " in check_output


@pytest.mark.parametrize(("key", "url"), LOOPBACK)
def test_plain_text_stays_allowed_on_the_loopback_interface(
    key: str, url: str, tmp_path: Path
) -> None:
    config = load_config(write_live_config(tmp_path / "engine.toml", {key: url}))
    assert getattr(config.venue, key) == url


@pytest.mark.parametrize("door", ["open_venue_websocket", "exchange_token"])
async def test_the_transports_themselves_refuse_plain_text_to_another_host(
    door: str, monkeypatch: pytest.MonkeyPatch
) -> None:
    dialled: list[str] = []

    async def no_network(host: str, port: int, **_options: Any) -> trio.SocketStream:
        dialled.append(host)
        raise OSError("the test has no network")

    monkeypatch.setattr(trio, "open_tcp_stream", no_network)

    async def attempt() -> None:
        if door == "open_venue_websocket":
            async with open_venue_websocket("ws://api.aries.com/v1/accounts/ws"):
                pass
        else:
            await exchange_token(
                "http://api.aries.com",
                grant_type="refresh_token",
                client_id=CLIENT_ID,
                client_secret=Secret("would-go-in-clear"),
                refresh_token=Secret("would-go-in-clear-too"),
            )

    with pytest.raises(Exception):  # noqa: B017, PT011 - whichever refusal, before dialling
        await attempt()
    assert dialled == []


@attrs.define(eq=False)
class TlsFront:
    """A TLS terminator on 127.0.0.1 in front of a running simulator, its certificate issued
    by ``ca`` for ``names``; ``forwarded`` counts the bytes it passed on to the simulator."""

    target_port: int
    ca: trustme.CA
    names: tuple[str, ...] = ("127.0.0.1",)
    forwarded: int = 0

    async def run(self, *, task_status: trio.TaskStatus[int] = trio.TASK_STATUS_IGNORED) -> None:
        """Serve until cancelled; ``started`` with the port."""
        context = ssl.create_default_context(ssl.Purpose.CLIENT_AUTH)
        self.ca.issue_cert(*self.names).configure_cert(context)
        async with trio.open_nursery() as nursery:
            listeners = await nursery.start(
                partial(trio.serve_ssl_over_tcp, self._relay, 0, context, host="127.0.0.1")
            )
            task_status.started(listeners[0].transport_listener.socket.getsockname()[1])

    async def _relay(self, client: trio.SSLStream[trio.SocketStream]) -> None:
        try:
            await client.do_handshake()
        except trio.BrokenResourceError:
            return  # the engine refused our certificate: nothing reaches the simulator
        async with (
            client,
            await trio.open_tcp_stream("127.0.0.1", self.target_port) as venue,
            trio.open_nursery() as pipes,
        ):
            pipes.start_soon(self._pipe, client, venue, pipes.cancel_scope, True)
            pipes.start_soon(self._pipe, venue, client, pipes.cancel_scope, False)

    async def _pipe(self, source: Any, sink: Any, both: trio.CancelScope, counted: bool) -> None:
        try:
            while data := await source.receive_some(65536):
                if counted:
                    self.forwarded += len(data)
                await sink.send_all(data)
        except (trio.BrokenResourceError, trio.ClosedResourceError):
            pass
        both.cancel()  # one side closed: close the other


@attrs.frozen
class Venue:
    """The simulator behind its TLS front, and a CA file that trusts the front's certificate."""

    sim: Simulator
    front: TlsFront
    port: int
    ca: trustme.CA
    ca_file: str

    def config(self, *, trusted: bool, **venue: Any) -> EngineConfig:
        """The engine's config for this venue over https/wss, with ``ca_file`` if ``trusted``."""
        section = {
            "kind": "aries",
            "rest_base": f"https://127.0.0.1:{self.port}",
            "ws_base": f"wss://127.0.0.1:{self.port}",
            "access_token_env": "SEC_ACCESS_TOKEN",
            **({"ca_file": self.ca_file} if trusted else {}),
            **venue,
        }
        return engine_config(venue=section, market={"enabled": False})

    def oauth_without_its_ca(
        self, monkeypatch: pytest.MonkeyPatch
    ) -> tuple[TokenRecorder, EngineConfig]:
        """The OAuth refresh grant (tokens recorded), without trusting the front's CA."""
        tokens = TokenRecorder(self.sim, monkeypatch)
        monkeypatch.setenv("SEC_CLIENT_SECRET", self.sim.config.oauth_client_secret)
        monkeypatch.setenv("SEC_REFRESH_TOKEN", tokens.seed_refresh_token(trio.current_time()))
        oauth = oauth_section(self.sim.config)
        return tokens, self.config(trusted=False, oauth=oauth)


@pytest.fixture
async def venue(
    nursery: trio.Nursery, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> AsyncIterator[Venue]:
    """A simulator behind TLS; ``$SEC_ACCESS_TOKEN`` holds its user's access token."""
    ca = trustme.CA()
    ca_file = tmp_path / "private-ca.pem"
    ca.cert_pem.write_to_path(str(ca_file))
    sim_config = SimConfig(tick_interval=5.0, symbols=("AAPL",), oauth_client_id=CLIENT_ID)
    async with open_simulator(sim_config) as sim:
        port = urlsplit(sim.endpoints.rest_base).port
        assert port is not None
        front = TlsFront(port, ca)
        front_port = await nursery.start(front.run)
        monkeypatch.setenv("SEC_ACCESS_TOKEN", sim_config.token)
        yield Venue(sim, front, front_port, ca, str(ca_file))


async def test_a_certificate_trusted_through_ca_file_connects(venue: Venue) -> None:
    with trio.fail_after(15):
        async with running_engine(venue.config(trusted=True)) as engine:
            [accounts] = engine.connections
            assert accounts.state is ConnectionState.SUBSCRIBED
    assert venue.front.forwarded > 0
    assert venue.sim.statistics().auths_succeeded.get("/v1/accounts/ws") == 1


@pytest.mark.parametrize("case", ["private CA not trusted", "another CA", "another host name"])
async def test_an_untrusted_certificate_is_refused_before_the_token_is_sent(
    case: str, nursery: trio.Nursery, venue: Venue
) -> None:
    if case == "private CA not trusted":  # no ca_file: the system's authorities only
        front, trusted = venue.front, False
    elif case == "another CA":  # ca_file trusts the private CA, the certificate is another's
        front, trusted = TlsFront(venue.front.target_port, trustme.CA()), True
    else:  # the trusted CA's certificate, but for another name than the one dialled
        front, trusted = TlsFront(venue.front.target_port, venue.ca, ("venue.example",)), True
    port = venue.port if front is venue.front else await nursery.start(front.run)
    config = attrs.evolve(venue, port=port).config(trusted=trusted)
    with (
        trio.fail_after(15),
        pytest.RaisesGroup(CertificateError, flatten_subgroups=True) as refused,
    ):
        async with running_engine(config):
            pass
    [error] = leaves(refused.value)
    assert "certificate verify failed" in str(error)
    assert front.forwarded == 0
    assert sum(venue.sim.statistics().connections_accepted.values()) == 0


async def test_the_client_secret_never_goes_to_an_untrusted_token_endpoint(
    virtual_clock: trio.testing.MockClock, venue: Venue, monkeypatch: pytest.MonkeyPatch
) -> None:
    tokens, config = venue.oauth_without_its_ca(monkeypatch)
    with pytest.raises(ExceptionGroup):  # a CertificateError: the next test checks it
        async with running_engine(config):
            pass
    assert venue.front.forwarded == 0
    assert tokens.access == []


async def test_an_untrusted_token_endpoint_fails_the_start_up_saying_why(
    virtual_clock: trio.testing.MockClock, venue: Venue, monkeypatch: pytest.MonkeyPatch
) -> None:
    _, config = venue.oauth_without_its_ca(monkeypatch)
    with pytest.RaisesGroup(
        pytest.RaisesExc(CertificateError, match="certificate verify failed"),
        flatten_subgroups=True,
    ):
        async with running_engine(config):
            pass
