"""OAuth2 of the simulator (§7.3, §7.4): authorize + confirm, and the token endpoint (pure, sync).

``OAuthServer`` works on plain dicts of request fields (the REST layer decodes JSON or form
bodies) and returns either the JSON to send or an ``OAuthError`` (RFC 6749 §5.2 shape:
``{"error", "error_description"}``). Times are trio's clock in seconds.

Grants: ``authorization_code`` (also spelled ``code``, §7.4) with ``client_secret`` or a PKCE
``code_verifier`` (``S256`` or ``plain``); ``refresh_token`` with ``client_secret`` (required,
§7.4). Refresh tokens rotate: every refresh returns a new one and the used one is invalid
(ARIES.md §11 item 15 leaves rotation open; the simulator takes the strict reading). Errors:
400 ``invalid_request`` (missing field), 400 ``unsupported_grant_type``, 400 ``invalid_grant``
(unknown, expired, used or mismatched code / refresh token, bad PKCE verifier), 401
``invalid_client`` (unknown client id, wrong or missing secret).
"""

from __future__ import annotations

import base64
import hashlib
import hmac
from collections.abc import Mapping
from typing import Any

import attrs

from engine.sim._profile import (
    AUTH_CODE_TTL,
    OAUTH_CLIENT_NAME,
    OAUTH_SCOPE,
    REFRESH_TOKEN_TTL,
)
from engine.sim._users import AuthorizationCode, PendingConsent, UserRegistry

JSON = dict[str, Any]
_CODE_GRANTS = frozenset({"authorization_code", "code"})


@attrs.frozen(kw_only=True)
class OAuthError:
    """An RFC 6749 error response."""

    status: int
    error: str
    description: str

    def body(self) -> JSON:
        """``{"error", "error_description"}``."""
        return {"error": self.error, "error_description": self.description}


def _field(params: Mapping[str, Any], key: str) -> str:
    value = params.get(key)
    return value.strip() if isinstance(value, str) else ""


def _same(a: str, b: str) -> bool:
    return hmac.compare_digest(a.encode(), b.encode())


def pkce_challenge(verifier: str, method: str) -> str:
    """The ``code_challenge`` a ``code_verifier`` answers (RFC 7636)."""
    if method.upper() == "S256":
        digest = hashlib.sha256(verifier.encode("ascii", errors="replace")).digest()
        return base64.urlsafe_b64encode(digest).rstrip(b"=").decode("ascii")
    return verifier


class OAuthServer:
    """The authorize/confirm/token logic over one ``UserRegistry``."""

    def __init__(self, users: UserRegistry, *, client_id: str, client_secret: str) -> None:
        self._users = users
        self._client_id = client_id
        self._client_secret = client_secret

    def authorize(self, params: Mapping[str, Any]) -> JSON | OAuthError:
        """``POST /v1/oauth2/authorize``: check client and credentials, open a consent step."""
        if not _same(_field(params, "client_id"), self._client_id):
            return OAuthError(status=401, error="invalid_client", description="unknown client_id")
        for key in ("email", "password", "redirect_uri"):
            if not _field(params, key):
                return OAuthError(
                    status=400, error="invalid_request", description=f"{key} is required"
                )
        response_type = _field(params, "response_type") or "code"
        if response_type != "code":
            return OAuthError(
                status=400,
                error="unsupported_response_type",
                description="response_type must be code",
            )
        user = self._users.user_by_email(_field(params, "email"))
        if user is None or not _same(_field(params, "password"), user.password):
            return OAuthError(
                status=401, error="access_denied", description="invalid email or password"
            )
        scope = _field(params, "scope") or OAUTH_SCOPE
        step = PendingConsent(
            step_id=self._users.new_step_id(),
            user_id=user.user_id,
            client_id=self._client_id,
            redirect_uri=_field(params, "redirect_uri"),
            scope=scope,
            state=_field(params, "state"),
            code_challenge=_field(params, "code_challenge"),
            code_challenge_method=_field(params, "code_challenge_method") or "plain",
        )
        self._users.add_consent(step)
        return {
            "client_name": OAUTH_CLIENT_NAME,
            "consent_required": True,
            "is_mfa": False,
            "next_step_auth_id": step.step_id,
            "scopes": scope.split(),
        }

    def confirm(self, params: Mapping[str, Any], now: float) -> JSON | OAuthError:
        """``POST /v1/oauth2/authorize/confirm``: mint a single-use code (~10 min)."""
        step_id = _field(params, "next_step_auth_id")
        if not step_id:
            return OAuthError(
                status=400, error="invalid_request", description="next_step_auth_id is required"
            )
        step = self._users.take_consent(step_id)
        if step is None:
            return OAuthError(
                status=400, error="invalid_request", description="unknown next_step_auth_id"
            )
        code = AuthorizationCode(
            code=self._users.new_code(),
            user_id=step.user_id,
            client_id=step.client_id,
            redirect_uri=step.redirect_uri,
            scope=step.scope,
            expires_at=now + AUTH_CODE_TTL,
            code_challenge=step.code_challenge,
            code_challenge_method=step.code_challenge_method,
        )
        self._users.add_code(code)
        reply: JSON = {"code": code.code, "redirect_uri": step.redirect_uri}
        if step.state:
            reply["state"] = step.state
        return reply

    def mint_code(self, user_id: str, now: float, redirect_uri: str = "") -> str:
        """A code for ``user_id`` without the authorize step (tests, the CLI)."""
        code = AuthorizationCode(
            code=self._users.new_code(),
            user_id=user_id,
            client_id=self._client_id,
            redirect_uri=redirect_uri,
            scope=OAUTH_SCOPE,
            expires_at=now + AUTH_CODE_TTL,
        )
        self._users.add_code(code)
        return code.code

    def token(self, params: Mapping[str, Any], now: float) -> JSON | OAuthError:
        """``POST /v1/oauth2/token``: the two grants of §7.4."""
        grant_type = _field(params, "grant_type")
        if not grant_type:
            return OAuthError(
                status=400, error="invalid_request", description="grant_type is required"
            )
        if grant_type not in _CODE_GRANTS and grant_type != "refresh_token":
            return OAuthError(
                status=400,
                error="unsupported_grant_type",
                description="grant_type must be authorization_code or refresh_token",
            )
        if not _same(_field(params, "client_id"), self._client_id):
            return OAuthError(status=401, error="invalid_client", description="unknown client_id")
        secret = _field(params, "client_secret")
        if secret and not _same(secret, self._client_secret):
            return OAuthError(status=401, error="invalid_client", description="bad client_secret")
        if grant_type == "refresh_token":
            return self._refresh(params, secret, now)
        return self._exchange_code(params, secret, now)

    def _exchange_code(
        self, params: Mapping[str, Any], secret: str, now: float
    ) -> JSON | OAuthError:
        value = _field(params, "code")
        if not value:
            return OAuthError(status=400, error="invalid_request", description="code is required")
        verifier = _field(params, "code_verifier")
        if not secret and not verifier:
            return OAuthError(
                status=401,
                error="invalid_client",
                description="client_secret or code_verifier is required",
            )
        code = self._users.take_code(value)
        if code is None or now >= code.expires_at or code.client_id != self._client_id:
            return OAuthError(
                status=400, error="invalid_grant", description="unknown, used or expired code"
            )
        redirect_uri = _field(params, "redirect_uri")
        if code.redirect_uri and redirect_uri != code.redirect_uri:
            return OAuthError(
                status=400, error="invalid_grant", description="redirect_uri does not match"
            )
        if verifier and not (
            code.code_challenge
            and _same(pkce_challenge(verifier, code.code_challenge_method), code.code_challenge)
        ):
            return OAuthError(
                status=400, error="invalid_grant", description="code_verifier does not match"
            )
        return self._tokens(code.user_id, code.scope, now)

    def _refresh(self, params: Mapping[str, Any], secret: str, now: float) -> JSON | OAuthError:
        if not secret:
            return OAuthError(
                status=401, error="invalid_client", description="client_secret is required"
            )
        value = _field(params, "refresh_token")
        if not value:
            return OAuthError(
                status=400, error="invalid_request", description="refresh_token is required"
            )
        grant = self._users.take_refresh_token(value)
        if grant is None or now >= grant.expires_at or grant.client_id != self._client_id:
            return OAuthError(
                status=400,
                error="invalid_grant",
                description="unknown, used or expired refresh_token",
            )
        return self._tokens(grant.user_id, grant.scope, now)

    def _tokens(self, user_id: str, scope: str, now: float) -> JSON:
        access = self._users.issue_access_token(user_id, scope, now)
        refresh = self._users.issue_refresh_token(
            user_id, self._client_id, scope, now, REFRESH_TOKEN_TTL
        )
        return {
            "access_token": access.token,
            "refresh_token": refresh.token,
            "token_type": "Bearer",
            "expires_in": round(self._users.access_token_ttl),
            "refresh_token_expires_in": REFRESH_TOKEN_TTL,
            "scope": scope,
        }
