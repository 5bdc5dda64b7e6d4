"""Tokens, refresh tokens and the client secret never show in anything a run produced.

The centrepiece runs the real engine against the simulator in OAuth mode, with DEBUG logging,
through token refreshes (ahead of expiry, on a ``refreshAuth`` warning, after an
``INVALID_TOKEN``), a reconnect, orders that fill, rest and are cancelled, risk and venue
rejections, and finally a refresh token that dies; then it searches every log line, exception
text, repr, journal row, the metrics page, the report and every file the run wrote for any
fragment of any secret issued or configured.
"""

from __future__ import annotations

import base64
import secrets
import stat
from collections.abc import Callable
from pathlib import Path
from typing import Any
from urllib.parse import quote

import httpx
import pytest
import trio

from engine import StrategyContext, hookimpl
from engine.connection.session import SessionFailedError
from engine.errors import AuthError
from engine.model import (
    ConnectionState,
    ConnectionStateChanged,
    Endpoint,
    Event,
    OrderRejected,
    OrderStatus,
    OrderUpdated,
    Quote,
    Side,
)
from engine.report.writer import write_report
from engine.sim import SimConfig, Simulator
from engine.testing import Fault, open_simulator
from tests.integration.conftest import engine_config, running_engine, wait_for
from tests.integration.test_connection_faults import connection
from tests.security._support import (
    CLIENT_ID,
    FRAGMENT,
    TokenRecorder,
    exception_text,
    file_texts,
    find_leaks,
    journal_rows,
    leaves,
    new_client_secret,
    oauth_section,
)
from tests.security.conftest import CapturedLogs

ACCOUNTS_PATH = "/v1/accounts/ws"
RISK_PLUGINS = [
    {
        "name": "order-size",
        "path": "plugins.limits:OrderSizeLimit",
        "config": {"max_order_qty": 100},
    },
    {"name": "buying-power", "path": "plugins.buying_power:BuyingPowerCheck"},
]


def oauth_venue(sim: Simulator, **oauth: str) -> dict[str, Any]:
    """``[venue]`` for the OAuth refresh grant against a running simulator."""
    return {
        "kind": "aries",
        "rest_base": sim.endpoints.rest_base,
        "ws_base": sim.endpoints.ws_base,
        "oauth": oauth_section(sim.config, **oauth),
    }


class Trader:
    """On the first AAPL quote: a buy that fills, a buy that rests (cancelled once the venue has
    it), one over the order-size limit (refused by risk) and one of a symbol the venue does not
    know (refused by the venue)."""

    def __init__(self) -> None:
        self.ids: dict[str, str] = {}
        self.filled = trio.Event()
        self.cancelled = trio.Event()
        self.risk_refused = trio.Event()
        self.venue_refused = trio.Event()

    @hookimpl
    def aries_on_quote(self, quote: Quote, ctx: StrategyContext) -> None:
        if self.ids or quote.symbol != "AAPL" or quote.ask is None or quote.bid is None:
            return
        self.ids = {
            "fills": ctx.submit("AAPL", Side.BUY, 10, price=quote.ask + 1),
            "rests": ctx.submit("AAPL", Side.BUY, 10, price=quote.bid - 5),
            "oversized": ctx.submit("AAPL", Side.BUY, 500, price=quote.ask + 1),
            "unknown": ctx.submit("ZZZZ", Side.BUY, 1, price=10),
        }

    @hookimpl
    def aries_on_order_updated(self, event: OrderUpdated, ctx: StrategyContext) -> None:
        order = event.order
        if order.client_order_id == self.ids["fills"] and order.status is OrderStatus.FILLED:
            self.filled.set()
        if order.client_order_id == self.ids["rests"]:
            if order.status is OrderStatus.NEW:
                ctx.cancel(order.client_order_id)
            elif order.status is OrderStatus.CANCELED:
                self.cancelled.set()

    @hookimpl
    def aries_on_order_rejected(self, event: OrderRejected) -> None:
        if event.client_order_id == self.ids["oversized"]:
            self.risk_refused.set()
        elif event.client_order_id == self.ids["unknown"]:
            self.venue_refused.set()

    async def wait_done(self) -> None:
        """Until all four orders met their fate."""
        for done in (self.filled, self.cancelled, self.risk_refused, self.venue_refused):
            await done.wait()


def accounts_in(state: ConnectionState, why: str = "") -> Callable[[Event], bool]:
    """Predicate: the accounts socket moved to ``state`` (with ``why`` in the reason)."""

    def matches(event: Event) -> bool:
        return (
            isinstance(event, ConnectionStateChanged)
            and event.endpoint is Endpoint.ACCOUNTS
            and event.state is state
            and why in event.reason
        )

    return matches


async def test_no_secret_shows_in_anything_an_oauth_run_produced(
    debug_logs: CapturedLogs,
    monkeypatch: pytest.MonkeyPatch,
    capfd: pytest.CaptureFixture[str],
    tmp_path: Path,
) -> None:
    client_secret = new_client_secret()
    sim_config = SimConfig(
        tick_interval=5.0,
        symbols=("AAPL",),
        token=f"static-{secrets.token_urlsafe(24)}",  # the simulator's own, never the engine's
        # Real time (the journal's worker threads would let a virtual clock jump past start-up):
        # each token is refreshed after 1.5 s, and the venue warns 1 s before it expires.
        access_token_ttl=3.0,
        refresh_warning_lead=1.0,
        oauth_client_id=CLIENT_ID,
        oauth_client_secret=client_secret,
    )
    run_dir = tmp_path / "run"
    store = run_dir / "refresh-token"  # the one file allowed to hold a (refresh) token
    texts: dict[str, str] = {}
    seen: list[Event] = []
    async with open_simulator(sim_config) as sim:
        tokens = TokenRecorder(sim, monkeypatch)
        seed = tokens.seed_refresh_token(trio.current_time())
        monkeypatch.setenv("SEC_CLIENT_SECRET", client_secret)
        monkeypatch.setenv("SEC_REFRESH_TOKEN", seed)
        config = engine_config(
            venue=oauth_venue(sim, refresh_token_store=str(store)),
            journal={"path": str(run_dir / "journal.sqlite")},
            plugins=RISK_PLUGINS,
            engine={"log_level": "debug"},
        )
        trader = Trader()
        async with running_engine(config, ("trader", trader)) as engine:
            states = engine.bus.subscribe("test", accepts=(ConnectionStateChanged,))
            accounts = connection(engine.connections, Endpoint.ACCOUNTS)
            with trio.fail_after(30):
                await trader.wait_done()
                # Refreshed ahead of expiry, then again on the venue's warning, in place.
                await wait_for(states, accounts_in(ConnectionState.REFRESH_WARNING), seen=seen)
                await wait_for(states, accounts_in(ConnectionState.SUBSCRIBED), seen=seen)
                # A reconnect whose first auth is refused: a refresh, then subscribed again.
                await sim.faults.apply(Fault.reject_auth(count=1, path=ACCOUNTS_PATH))
                await sim.drop_connections(ACCOUNTS_PATH)
                await wait_for(
                    states, accounts_in(ConnectionState.DISCONNECTED, "INVALID_TOKEN"), seen=seen
                )
                await wait_for(states, accounts_in(ConnectionState.SUBSCRIBED), seen=seen)
                # The refresh token dies: the next refresh is refused and the socket gives up.
                assert sim.users.take_refresh_token(tokens.refresh[-1]) is not None
                await sim.faults.apply(Fault.reject_auth(count=None, path=ACCOUNTS_PATH))
                await sim.drop_connections(ACCOUNTS_PATH)
                await wait_for(states, accounts_in(ConnectionState.FAILED), seen=seen)
                with pytest.raises(SessionFailedError) as failed:
                    await engine.session.get_token()
                async with httpx.AsyncClient() as http:
                    scrape = await http.get(f"http://127.0.0.1:{engine.metrics_port}/metrics")
            texts["exception SessionFailedError"] = exception_text(failed.value)
            texts["metrics page"] = scrape.text
            texts["repr of the engine"] = repr(engine)
            texts["repr of the config"] = repr(config)
            texts["statistics"] = repr(
                (
                    engine.session.statistics(),
                    [c.statistics() for c in engine.connections],
                    engine.dispatcher.statistics(),
                    engine.host.statistics(),
                )
            )
            texts["connection events"] = repr(seen)
            session_stats = engine.session.statistics()
            gave_up = accounts.statistics()

    journal = run_dir / "journal.sqlite"
    report = write_report(journal, run_dir / "report.html")
    rows: dict[str, list[str]] = {}
    for table, row in journal_rows(journal):
        rows.setdefault(table, []).append(row)
    texts |= {f"journal table {table}": "\n".join(lines) for table, lines in rows.items()}
    texts |= file_texts(run_dir, skip=[store])
    texts |= debug_logs.texts()
    output = capfd.readouterr()
    texts |= {"stdout": output.out, "stderr": output.err, "report summary": repr(report)}

    # The run did what it claims, so the search below is not vacuous.
    assert session_stats.refreshes >= 3  # ahead of expiry, refreshAuth, INVALID_TOKEN
    assert len(tokens.access) >= 4
    assert len(tokens.refresh) >= 4
    assert gave_up.state is ConnectionState.FAILED
    assert "invalid_grant" in gave_up.last_error
    assert {"frames", "events", "intents", "verdicts", "requests"} <= rows.keys()
    assert '"level": "debug"' in texts["structlog lines"]
    for event in ("session.token_issued", "connection.reauthenticated", "connection.gave_up"):
        assert event in texts["structlog lines"], event
    assert "aries_" in texts["metrics page"]
    assert "file report.html" in texts
    # The rotated refresh token is kept where it belongs, and only there.
    assert store.read_text().strip() == tokens.refresh[-1]
    assert stat.S_IMODE(store.stat().st_mode) == 0o600

    secret_values = {
        "client secret": client_secret,
        "simulator's own token": sim_config.token,
        **tokens.secrets(),
    }
    assert find_leaks(secret_values, texts) == []


@pytest.mark.parametrize("refused", ["used refresh token", "wrong client secret"])
async def test_a_refused_credential_fails_the_start_up_without_showing_it(
    refused: str,
    debug_logs: CapturedLogs,
    monkeypatch: pytest.MonkeyPatch,
    capfd: pytest.CaptureFixture[str],
) -> None:
    client_secret = new_client_secret()
    wrong_secret = new_client_secret()
    sim_config = SimConfig(
        tick_interval=5.0,
        symbols=("AAPL",),
        oauth_client_id=CLIENT_ID,
        oauth_client_secret=client_secret,
    )
    async with open_simulator(sim_config) as sim:
        tokens = TokenRecorder(sim, monkeypatch)
        seed = tokens.seed_refresh_token(trio.current_time())
        if refused == "used refresh token":
            assert sim.users.take_refresh_token(seed) is not None  # rotated away by another run
        sent_secret = wrong_secret if refused == "wrong client secret" else client_secret
        monkeypatch.setenv("SEC_CLIENT_SECRET", sent_secret)
        monkeypatch.setenv("SEC_REFRESH_TOKEN", seed)
        config = engine_config(venue=oauth_venue(sim))
        with pytest.RaisesGroup(AuthError, flatten_subgroups=True) as failed, trio.fail_after(15):
            async with running_engine(config):
                pass
    [refusal] = leaves(failed.value)
    message = str(refusal)
    expected = "$SEC_REFRESH_TOKEN" if refused == "used refresh token" else "client secret"
    assert expected in message  # actionable: says which credential to renew
    output = capfd.readouterr()
    texts = {
        "exception": exception_text(failed.value),
        "stdout": output.out,
        "stderr": output.err,
        **debug_logs.texts(),
    }
    assert "session.credential_refused" in texts["structlog lines"]
    secret_values = {
        "client secret": client_secret,
        "wrong client secret": wrong_secret,
        "refresh token": seed,
        **tokens.secrets(),
    }
    assert find_leaks(secret_values, texts) == []


def test_the_search_finds_fragments_and_encodings_of_a_secret() -> None:
    plain = new_client_secret()
    # Every 12 characters of this one hold a character that base64 and URL-encoding change, so
    # only the search for its encoded forms can find those.
    awkward = "+/=".join(secrets.token_urlsafe(6) for _ in range(6))
    basic = base64.b64encode(f"{CLIENT_ID}:{awkward}".encode()).decode()
    planted = {
        "a fragment": f"token=...{plain[7 : 7 + FRAGMENT]}...",
        "base64 (a Basic header)": f"Authorization: Basic {basic}",
        "url-encoded": f"?client_secret={quote(awkward, safe='')}&x=1",
    }
    found = find_leaks({"plain": plain, "awkward": awkward}, planted)
    assert [line.split(" at ")[0] for line in found] == [
        "plain in a fragment",
        "awkward in base64 (a Basic header)",
        "awkward in url-encoded",
    ]
    shorter = {"shorter": f"secret={plain[: FRAGMENT - 1]}*** client_id={CLIENT_ID}"}
    assert find_leaks({"plain": plain}, shorter) == []
