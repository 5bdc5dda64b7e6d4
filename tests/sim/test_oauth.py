"""OAuth2 (§7.3, §7.4): authorize + confirm, code and refresh grants with rotation, RFC 6749
errors, and issued tokens accepted by REST until they expire."""

from __future__ import annotations

import base64
import hashlib

import trio

from engine.sim import SimAccount, SimConfig
from engine.sim._config import SimUser
from engine.sim._oauth import OAuthError, OAuthServer, pkce_challenge
from engine.sim._users import UserRegistry
from tests.sim.helpers import WAIT, rest, start_sim

CLIENT = {"client_id": "sim-client", "client_secret": "sim-secret"}
REDIRECT = "http://127.0.0.1/callback"


def _server(ttl: float = 3600) -> tuple[OAuthServer, UserRegistry]:
    users = UserRegistry(
        [
            SimUser(user_id="u1", access_token="static-1", accounts=(SimAccount(account_id="A"),)),
            SimUser(user_id="u2", accounts=(SimAccount(account_id="B"),), password="pw-2"),
        ],
        access_token_ttl=ttl,
    )
    return OAuthServer(users, client_id="sim-client", client_secret="sim-secret"), users


def _code(server: OAuthServer, **extra: str) -> str:
    step = server.authorize(
        {
            "client_id": "sim-client",
            "email": "u2@sim.invalid",
            "password": "pw-2",
            "redirect_uri": REDIRECT,
            "response_type": "code",
            "scope": "account:information order:execution",
            "state": "xyz",
            **extra,
        }
    )
    assert not isinstance(step, OAuthError), step
    assert step["consent_required"] is True
    confirmed = server.confirm({"next_step_auth_id": step["next_step_auth_id"]}, 0.0)
    assert not isinstance(confirmed, OAuthError), confirmed
    assert confirmed["redirect_uri"] == REDIRECT
    assert confirmed["state"] == "xyz"
    code = confirmed["code"]
    assert isinstance(code, str)
    return code


def test_code_grant_then_refresh_rotation() -> None:
    server, users = _server(ttl=60)
    code = _code(server)
    grant = {"grant_type": "authorization_code", "code": code, "redirect_uri": REDIRECT, **CLIENT}
    tokens = server.token(grant, 10.0)
    assert not isinstance(tokens, OAuthError), tokens
    assert tokens["token_type"] == "Bearer"
    assert tokens["expires_in"] == 60
    assert tokens["refresh_token_expires_in"] == 2592000
    assert tokens["scope"] == "account:information order:execution"
    user = users.user_for_token(tokens["access_token"], 69.9)
    assert user is not None
    assert user.user_id == "u2"
    assert users.user_for_token(tokens["access_token"], 70.0) is None  # expired
    again = server.token(grant, 11.0)
    assert isinstance(again, OAuthError)
    assert (again.status, again.error) == (400, "invalid_grant")  # a code is single use
    refresh = {"grant_type": "refresh_token", "refresh_token": tokens["refresh_token"], **CLIENT}
    fresh = server.token(refresh, 20.0)
    assert not isinstance(fresh, OAuthError)
    assert fresh["refresh_token"] != tokens["refresh_token"]
    reused = server.token(refresh, 21.0)
    assert isinstance(reused, OAuthError)
    assert reused.body() == {
        "error": "invalid_grant",
        "error_description": "unknown, used or expired refresh_token",
    }


def test_client_errors_are_401_invalid_client() -> None:
    server, _ = _server()
    code = _code(server)
    bad_secret = server.token(
        {"grant_type": "authorization_code", "code": code, "client_id": "sim-client",
         "client_secret": "nope"},
        0.0,
    )  # fmt: skip
    assert isinstance(bad_secret, OAuthError)
    assert (bad_secret.status, bad_secret.error) == (401, "invalid_client")
    unknown = server.token({"grant_type": "refresh_token", "client_id": "x"}, 0.0)
    assert isinstance(unknown, OAuthError)
    assert unknown.status == 401
    no_secret_refresh = server.token(
        {"grant_type": "refresh_token", "refresh_token": "r", "client_id": "sim-client"}, 0.0
    )
    assert isinstance(no_secret_refresh, OAuthError)
    assert no_secret_refresh.error == "invalid_client"
    unsupported = server.token({"grant_type": "client_credentials", **CLIENT}, 0.0)
    assert isinstance(unsupported, OAuthError)
    assert (unsupported.status, unsupported.error) == (400, "unsupported_grant_type")


def test_pkce_code_grant() -> None:
    server, _ = _server()
    verifier = "dBjftJeZ4CVP-mB92K27uhbUJU1p1r_wW1gFWFOEjXk"
    challenge = pkce_challenge(verifier, "S256")
    expected = base64.urlsafe_b64encode(hashlib.sha256(verifier.encode()).digest()).rstrip(b"=")
    assert challenge == expected.decode()
    code = _code(server, code_challenge=challenge, code_challenge_method="S256")
    wrong = server.token(
        {"grant_type": "code", "code": code, "client_id": "sim-client", "code_verifier": "x",
         "redirect_uri": REDIRECT},
        0.0,
    )  # fmt: skip
    assert isinstance(wrong, OAuthError)
    assert wrong.error == "invalid_grant"
    code = _code(server, code_challenge=challenge, code_challenge_method="S256")
    ok = server.token(
        {"grant_type": "code", "code": code, "client_id": "sim-client", "code_verifier": verifier,
         "redirect_uri": REDIRECT},
        0.0,
    )  # fmt: skip
    assert not isinstance(ok, OAuthError)


def test_authorize_rejects_bad_credentials() -> None:
    server, _ = _server()
    denied = server.authorize(
        {"client_id": "sim-client", "email": "u2@sim.invalid", "password": "wrong",
         "redirect_uri": REDIRECT},
    )  # fmt: skip
    assert isinstance(denied, OAuthError)
    assert denied.status == 401
    missing = server.confirm({"next_step_auth_id": "nope"}, 0.0)
    assert isinstance(missing, OAuthError)
    assert missing.status == 400


def test_static_tokens_never_expire_and_ownership_is_per_user() -> None:
    _, users = _server()
    user = users.user_for_token("static-1", 1e12)
    assert user is not None
    assert users.owns(user, "A")
    assert not users.owns(user, "B")
    assert users.user_for_token("nope", 0.0) is None


async def test_token_endpoint_over_http_json_and_form_and_the_token_works_on_rest(
    nursery: trio.Nursery,
) -> None:
    config = SimConfig(
        tick_interval=0.02,
        access_token_ttl=30,
        users=(SimUser(user_id="bob", accounts=(SimAccount(account_id="BOB-1"),)),),
    )
    sim = await start_sim(nursery, config)
    with trio.fail_after(WAIT):
        async with rest(sim.endpoints, token=None) as http:
            step = await http.post(
                "/v1/oauth2/authorize",
                json={"client_id": "sim-client", "email": "bob@sim.invalid",
                      "password": "sim-password", "redirect_uri": REDIRECT,
                      "response_type": "code"},
            )  # fmt: skip
            assert step.status_code == 200, step.text
            confirm = await http.post(
                "/v1/oauth2/authorize/confirm",
                json={"next_step_auth_id": step.json()["next_step_auth_id"]},
            )
            code = confirm.json()["code"]
            form = await http.post(
                "/v1/oauth2/token",
                data={"grant_type": "authorization_code", "code": code,
                      "redirect_uri": REDIRECT, **CLIENT},
            )  # fmt: skip
            assert form.status_code == 200, form.text
            assert form.headers["cache-control"] == "no-store"
            tokens = form.json()
            assert tokens["expires_in"] == 30
            bearer = {"Authorization": f"Bearer {tokens['access_token']}"}
            accounts = await http.get("/v1/users/me/accounts", headers=bearer)
            assert accounts.status_code == 200
            ids = [a["sterling_account_id"] for a in accounts.json()["accounts"]]
            assert ids == ["BOB-1"]
            other = await http.get("/v1/accounts/SIM-001/balances", headers=bearer)
            assert other.status_code == 403
            used = await http.post(
                "/v1/oauth2/token",
                json={"grant_type": "authorization_code", "code": code,
                      "redirect_uri": REDIRECT, **CLIENT},
            )  # fmt: skip
            assert used.status_code == 400
            assert used.json()["error"] == "invalid_grant"
            refreshed = await http.post(
                "/v1/oauth2/token",
                json={"grant_type": "refresh_token", "refresh_token": tokens["refresh_token"],
                      **CLIENT},
            )  # fmt: skip
            assert refreshed.status_code == 200
            bad_client = await http.post(
                "/v1/oauth2/token", json={"grant_type": "refresh_token", "client_id": "x"}
            )
            assert bad_client.status_code == 401
            assert bad_client.json()["error"] == "invalid_client"
            garbage = await http.post(
                "/v1/oauth2/token",
                content=b"{nope",
                headers={"content-type": "application/json"},
            )
            assert garbage.status_code == 400
