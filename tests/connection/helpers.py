"""A fake ``POST /v1/oauth2/token`` for ``httpx.MockTransport``: counts and records requests."""

from __future__ import annotations

import json
from collections.abc import Callable
from typing import Any

import attrs
import httpx
import trio

from engine.connection.tokens import OAuthRefreshSource, RefreshTokenStore
from engine.secrets import Secret

CLIENT_ID = "client-abc"
CLIENT_SECRET = "client-secret-XYZZY"
SEED_REFRESH = "refresh-seed-QWERTY"

Reply = Callable[[int], httpx.Response]


def issue(n: int, *, expires_in: int = 3600, rotate: bool = True) -> httpx.Response:
    """A successful token response: access token ``access-<n>``, refresh token ``refresh-<n>``."""
    body: dict[str, Any] = {
        "access_token": f"access-{n}-SECRETACCESS",
        "token_type": "Bearer",
        "expires_in": expires_in,
        "scope": "account:information",
    }
    if rotate:
        body["refresh_token"] = f"refresh-{n}-SECRETREFRESH"
    return httpx.Response(200, json=body)


@attrs.define
class TokenEndpoint:
    """Answers with ``replies[i]`` for the i-th request (the last reply repeats)."""

    replies: list[Reply] = attrs.field(factory=lambda: [issue])
    times: list[float] = attrs.field(factory=list)
    bodies: list[dict[str, Any]] = attrs.field(factory=list)

    @property
    def count(self) -> int:
        return len(self.times)

    def handle(self, request: httpx.Request) -> httpx.Response:
        assert request.method == "POST"
        assert request.url.path == "/v1/oauth2/token"
        self.times.append(trio.current_time())
        self.bodies.append(json.loads(request.content))
        n = len(self.times)
        return self.replies[min(n, len(self.replies)) - 1](n)

    def transport(self) -> httpx.MockTransport:
        return httpx.MockTransport(self.handle)

    def source(self, store: RefreshTokenStore | None = None) -> OAuthRefreshSource:
        return OAuthRefreshSource(
            "https://aries.test",
            client_id=CLIENT_ID,
            client_secret=Secret(CLIENT_SECRET),
            refresh_token=Secret(SEED_REFRESH),
            store=store,
            transport=self.transport(),
            credential="ARIES_REFRESH_TOKEN",
        )


def error(status: int, body: dict[str, Any], **headers: str) -> Reply:
    return lambda _n: httpx.Response(status, json=body, headers=headers)
