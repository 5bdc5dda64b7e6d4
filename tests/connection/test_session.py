"""``SessionRefresher``: refresh timing, single flight, Retry-After, dead refresh tokens, secrecy
(``autojump_clock`` + ``httpx.MockTransport``), and one run against the simulator."""

from __future__ import annotations

import ssl
from pathlib import Path
from typing import Any

import httpx
import pytest
import trio
import trio.testing
from structlog.testing import capture_logs

from engine.aries.rest import TokenGrantError
from engine.connection.session import SessionFailedError, SessionRefresher
from engine.connection.tokens import OAuthRefreshSource, RefreshTokenStore, StaticTokenSource
from engine.errors import CertificateError
from engine.runtime.backoff import Backoff
from engine.secrets import Secret
from engine.sim import SimAccount, SimConfig
from engine.sim._config import SimUser
from engine.testing import open_simulator
from tests.connection.helpers import (
    CLIENT_SECRET,
    SEED_REFRESH,
    TokenEndpoint,
    error,
    issue,
)

NO_JITTER = Backoff(jitter=0.0)
INVALID_GRANT = error(400, {"error": "invalid_grant", "error_description": "refresh token used"})


def untrusted(_n: int) -> httpx.Response:
    """The token endpoint's certificate fails verification (as httpx reports it)."""
    request = httpx.Request("POST", "https://aries.test/v1/oauth2/token")
    try:
        raise ssl.SSLCertVerificationError(1, "certificate verify failed: self-signed certificate")
    except ssl.SSLCertVerificationError as exc:
        raise httpx.ConnectError("", request=request) from exc


async def _start(nursery: trio.Nursery, refresher: SessionRefresher) -> None:
    with trio.fail_after(5):
        await nursery.start(refresher.run)


async def test_refreshes_at_80_percent_of_a_long_token(
    nursery: trio.Nursery, autojump_clock: trio.testing.MockClock
) -> None:
    endpoint = TokenEndpoint()
    refresher = SessionRefresher(endpoint.source(), skew=60.0)
    await _start(nursery, refresher)
    assert (await refresher.get_token()).reveal() == "access-1-SECRETACCESS"
    assert refresher.statistics().expires_in == 3600
    await trio.sleep(6000)
    # 3600 s tokens: min(0.8 × 3600, 3600 − 60) = 2880 s after each issue.
    assert endpoint.times == [0, 2880, 5760]
    assert (await refresher.get_token()).reveal() == "access-3-SECRETACCESS"
    assert [b["refresh_token"] for b in endpoint.bodies] == [
        SEED_REFRESH,
        "refresh-1-SECRETREFRESH",
        "refresh-2-SECRETREFRESH",
    ]
    stats = refresher.statistics()
    assert (stats.refreshes, stats.failures, stats.failed) == (2, 0, False)
    assert stats.expires_in == 5760 + 3600 - 6000


async def test_refreshes_skew_seconds_before_a_short_token_expires(
    nursery: trio.Nursery, autojump_clock: trio.testing.MockClock
) -> None:
    endpoint = TokenEndpoint([lambda n: issue(n, expires_in=200)])
    refresher = SessionRefresher(endpoint.source(), skew=60.0)
    await _start(nursery, refresher)
    await trio.sleep(300)
    # 200 s tokens: min(0.8 × 200, 200 − 60) = 140 s after each issue.
    assert endpoint.times == [0, 140, 280]


async def test_a_token_shorter_than_twice_the_skew_is_refreshed_at_half_life(
    nursery: trio.Nursery, autojump_clock: trio.testing.MockClock
) -> None:
    endpoint = TokenEndpoint([lambda n: issue(n, expires_in=30)])
    refresher = SessionRefresher(endpoint.source(), skew=60.0)
    await _start(nursery, refresher)
    await trio.sleep(50)
    assert endpoint.times == [0, 15, 30, 45]  # no refresh storm


async def test_get_token_waits_for_the_refresh_near_expiry(
    nursery: trio.Nursery, autojump_clock: trio.testing.MockClock
) -> None:
    # Token 1 lives 100 s (refresh due at 80 s); the endpoint then fails with 500 until 95 s.
    down = error(500, {"message": "down"})
    endpoint = TokenEndpoint([lambda n: issue(n, expires_in=100), down, down, down, down, issue])
    refresher = SessionRefresher(endpoint.source(), skew=10.0, backoff=NO_JITTER)
    await _start(nursery, refresher)
    await trio.sleep(89)
    assert (await refresher.get_token()).reveal() == "access-1-SECRETACCESS"  # still usable
    await trio.sleep(1)
    token = await refresher.get_token()  # 90 s: within the 10 s margin, so it waits
    assert token.reveal() == "access-6-SECRETACCESS"  # the 6th request
    assert endpoint.times == [0, 80, 81, 83, 87, 95]  # backoff 1, 2, 4, 8 s
    assert trio.current_time() == 95
    stats = refresher.statistics()
    assert stats.failures == 4
    assert "HTTP 500" in stats.last_error


async def test_concurrent_refreshes_share_one_request(
    nursery: trio.Nursery, autojump_clock: trio.testing.MockClock
) -> None:
    endpoint = TokenEndpoint()
    refresher = SessionRefresher(endpoint.source())
    await _start(nursery, refresher)
    await trio.sleep(100)
    results: list[str] = []

    async def caller() -> None:
        results.append((await refresher.refresh("refreshAuth")).reveal())

    async with trio.open_nursery() as callers:
        for _ in range(10):
            callers.start_soon(caller)
    assert endpoint.count == 2
    assert results == ["access-2-SECRETACCESS"] * 10
    assert endpoint.times == [0, 100]
    await trio.sleep(2881)  # the schedule restarts from the forced refresh
    assert endpoint.times == [0, 100, 2980]


async def test_429_retry_after_is_honoured_exactly(
    nursery: trio.Nursery, autojump_clock: trio.testing.MockClock
) -> None:
    limited = error(429, {"error": "slow_down"}, **{"Retry-After": "7"})
    endpoint = TokenEndpoint([issue, limited, issue])
    refresher = SessionRefresher(endpoint.source(), backoff=NO_JITTER)
    await _start(nursery, refresher)
    await trio.sleep(10)
    token = await refresher.refresh("INVALID_TOKEN")
    assert token.reveal() == "access-3-SECRETACCESS"
    assert endpoint.times == [0, 10, 17]
    assert refresher.statistics().failures == 1


async def test_503_without_retry_after_backs_off(
    nursery: trio.Nursery, autojump_clock: trio.testing.MockClock
) -> None:
    busy = error(503, {"message": "busy"})
    endpoint = TokenEndpoint([busy, busy, issue])
    refresher = SessionRefresher(endpoint.source(), backoff=NO_JITTER)
    await _start(nursery, refresher)  # transient failures before the first token are retried
    assert endpoint.times == [0, 1, 3]


async def test_invalid_grant_stops_refreshing_with_an_actionable_error(
    nursery: trio.Nursery, autojump_clock: trio.testing.MockClock, tmp_path: Path
) -> None:
    endpoint = TokenEndpoint([issue, INVALID_GRANT])
    store = RefreshTokenStore(tmp_path / "refresh")
    refresher = SessionRefresher(endpoint.source(store))
    await _start(nursery, refresher)
    with capture_logs() as logs:
        await trio.sleep(3000)  # the scheduled refresh at 2880 s is refused
    assert endpoint.times == [0, 2880]
    assert refresher.failed
    assert not refresher.can_refresh
    for call in (refresher.get_token, lambda: refresher.refresh("refreshAuth")):
        with pytest.raises(SessionFailedError) as caught:
            await call()
        message = str(caught.value)
        assert caught.value.code == "invalid_grant"
        assert message.startswith("invalid_grant: ARIES_REFRESH_TOKEN was refused")  # code once
        assert "Re-run the OAuth consent" in message
        assert str(tmp_path / "refresh") in message
    errors = [e for e in logs if e["log_level"] == "error"]
    assert [e["event"] for e in errors] == ["session.credential_refused"]
    await trio.sleep(80_000)
    assert endpoint.count == 2  # no further requests
    assert refresher.statistics().failed


async def test_waiting_callers_get_the_error_when_the_grant_is_refused(
    nursery: trio.Nursery, autojump_clock: trio.testing.MockClock
) -> None:
    endpoint = TokenEndpoint([issue, INVALID_GRANT])
    refresher = SessionRefresher(endpoint.source())
    await _start(nursery, refresher)
    with pytest.raises(SessionFailedError, match="ARIES_REFRESH_TOKEN"):
        await refresher.refresh("refreshAuth")


async def test_invalid_grant_before_the_first_token_fails_the_start(
    nursery: trio.Nursery, autojump_clock: trio.testing.MockClock
) -> None:
    endpoint = TokenEndpoint([INVALID_GRANT])
    refresher = SessionRefresher(endpoint.source())
    with pytest.raises(TokenGrantError, match="Re-run the OAuth consent"):
        await nursery.start(refresher.run)
    assert endpoint.count == 1


async def test_an_untrusted_token_endpoint_before_the_first_token_fails_the_start(
    nursery: trio.Nursery, autojump_clock: trio.testing.MockClock
) -> None:
    endpoint = TokenEndpoint([untrusted])
    refresher = SessionRefresher(endpoint.source())
    with capture_logs() as logs, pytest.raises(CertificateError) as caught:
        await nursery.start(refresher.run)
    message = str(caught.value)
    assert "certificate verify failed" in message
    assert "check venue.rest_base, or trust its CA with venue.ca_file" in message
    assert endpoint.count == 1  # never retried
    assert "session.certificate_refused" in [e["event"] for e in logs]


async def test_an_untrusted_token_endpoint_after_start_stops_refreshing(
    nursery: trio.Nursery, autojump_clock: trio.testing.MockClock
) -> None:
    endpoint = TokenEndpoint([issue, untrusted])
    refresher = SessionRefresher(endpoint.source())
    await _start(nursery, refresher)
    await trio.sleep(3000)  # the scheduled refresh at 2880 s meets the certificate
    assert refresher.failed
    assert not refresher.can_refresh
    with pytest.raises(SessionFailedError) as caught:
        await refresher.get_token()
    assert caught.value.code == "UNTRUSTED_CERTIFICATE"
    assert str(caught.value).startswith("UNTRUSTED_CERTIFICATE: the OAuth token endpoint's TLS")
    assert "venue.ca_file" in str(caught.value)
    await trio.sleep(80_000)
    assert endpoint.count == 2  # no further requests


async def test_static_source(nursery: trio.Nursery) -> None:
    refresher = SessionRefresher(StaticTokenSource(Secret("static-SECRETSTATIC")))
    await _start(nursery, refresher)
    assert not refresher.can_refresh
    assert (await refresher.get_token()).reveal() == "static-SECRETSTATIC"
    assert (await refresher.refresh("INVALID_TOKEN")).reveal() == "static-SECRETSTATIC"
    assert refresher.statistics().expires_in is None
    assert "SECRETSTATIC" not in repr(refresher)


async def test_no_token_in_logs_or_reprs(
    nursery: trio.Nursery, autojump_clock: trio.testing.MockClock, tmp_path: Path
) -> None:
    echo = error(
        400,
        {"error": "invalid_grant", "error_description": f"bad {SEED_REFRESH} {CLIENT_SECRET}"},
    )
    limited = error(429, {"error": "slow_down"}, **{"Retry-After": "3"})
    endpoint = TokenEndpoint([issue, error(500, {"message": "x"}), limited, issue, echo])
    store = RefreshTokenStore(tmp_path / "refresh")
    source = endpoint.source(store)
    refresher = SessionRefresher(source)
    objects: list[Any] = []
    with capture_logs() as logs:
        await _start(nursery, refresher)
        objects += [refresher, source, refresher.statistics()]
        await refresher.refresh("refreshAuth")
        objects += [refresher, source, refresher.statistics(), store]
        with pytest.raises(SessionFailedError) as caught:
            await refresher.refresh("INVALID_TOKEN")
        objects += [refresher, source, refresher.statistics(), caught.value]
    assert logs  # the refresher did log
    text = repr(logs) + "".join(repr(o) + str(o) for o in objects)
    for secret in ("SECRETACCESS", "SECRETREFRESH", SEED_REFRESH, CLIENT_SECRET):
        assert secret not in text


REDIRECT = "http://127.0.0.1/cb"


async def _mint_refresh_token(http: httpx.AsyncClient, config: SimConfig) -> str:
    """The browser consent of tests/sim/test_oauth.py: authorize, confirm, exchange the code."""
    client = {"client_id": config.oauth_client_id, "client_secret": config.oauth_client_secret}
    step = await http.post(
        "/v1/oauth2/authorize",
        json={
            "client_id": config.oauth_client_id,
            "email": "bob@sim.invalid",
            "password": "sim-password",
            "redirect_uri": REDIRECT,
            "response_type": "code",
        },
    )
    assert step.status_code == 200, step.text
    confirm = await http.post(
        "/v1/oauth2/authorize/confirm",
        json={"next_step_auth_id": step.json()["next_step_auth_id"]},
    )
    code = confirm.json()["code"]
    grant = {"grant_type": "authorization_code", "code": code, "redirect_uri": REDIRECT}
    tokens = await http.post("/v1/oauth2/token", json={**grant, **client})
    assert tokens.status_code == 200, tokens.text
    refresh_token = tokens.json()["refresh_token"]
    assert isinstance(refresh_token, str)
    return refresh_token


async def test_against_the_simulator_with_rotation(tmp_path: Path) -> None:
    config = SimConfig(
        tick_interval=0.05,
        users=(SimUser(user_id="bob", accounts=(SimAccount(account_id="BOB-1"),)),),
    )
    client = {"client_id": config.oauth_client_id, "client_secret": config.oauth_client_secret}
    store = RefreshTokenStore(tmp_path / "refresh")
    with trio.fail_after(20):
        async with (
            open_simulator(config) as sim,
            httpx.AsyncClient(base_url=sim.endpoints.rest_base) as http,
            trio.open_nursery() as nursery,
        ):
            minted = await _mint_refresh_token(http, config)
            source = OAuthRefreshSource(
                sim.endpoints.rest_base,
                client_id=config.oauth_client_id,
                client_secret=Secret(config.oauth_client_secret),
                refresh_token=Secret(minted),
                store=store,
            )
            refresher = SessionRefresher(source)
            await nursery.start(refresher.run)
            first = await refresher.get_token()
            rotated = store.load()
            assert rotated is not None
            assert rotated.reveal() != minted
            second = await refresher.refresh("refreshAuth")
            assert second != first
            assert store.load() == source.refresh_token != rotated
            for token in (first, second):
                me = await http.get(
                    "/v1/users/me/accounts", headers={"Authorization": f"Bearer {token.reveal()}"}
                )
                assert me.status_code == 200, me.text
            # The minted refresh token was rotated away: the simulator refuses it now.
            stale = await http.post(
                "/v1/oauth2/token",
                json={"grant_type": "refresh_token", "refresh_token": minted, **client},
            )
            assert stale.status_code == 400
            assert refresher.statistics().refreshes == 1
            nursery.cancel_scope.cancel()
