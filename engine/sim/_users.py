"""Users, their accounts and the access tokens that name them (pure, sync).

One registry per simulator (``SimCore.users``), shared by REST and the sockets:

* ``user_for_token(token, now)`` → the ``SimUser`` a bearer / socket token belongs to, or ``None``
  for an unknown or expired token. ``now`` is trio's clock (``trio.current_time()``), in seconds.
  Configured ready-made tokens (``SimConfig.token``, ``SimUser.access_token``) never expire;
  tokens issued by ``POST /v1/oauth2/token`` expire ``SimConfig.access_token_ttl`` after issue.
* ``owns(user, account_id)`` → whether the account is that user's (``ACCESS_DENIED`` / 403).

Refresh tokens and authorization codes live here too, so that the OAuth2 grants
(``engine.sim._oauth``) and the token checks see one store.
"""

from __future__ import annotations

import secrets
from collections.abc import Sequence

import attrs

from engine.sim._config import SimConfig, SimUser
from engine.sim._profile import (
    OAUTH_CODE_PREFIX,
    OAUTH_REFRESH_PREFIX,
    OAUTH_STEP_PREFIX,
    OAUTH_TOKEN_PREFIX,
)


@attrs.frozen(kw_only=True)
class IssuedToken:
    """An access token issued by the token endpoint."""

    token: str
    user_id: str
    expires_at: float
    scope: str


@attrs.frozen(kw_only=True)
class RefreshGrant:
    """A live refresh token (single use: rotation invalidates it)."""

    token: str
    user_id: str
    client_id: str
    expires_at: float
    scope: str


@attrs.frozen(kw_only=True)
class AuthorizationCode:
    """A minted authorization code (single use, short-lived)."""

    code: str
    user_id: str
    client_id: str
    redirect_uri: str
    scope: str
    expires_at: float
    code_challenge: str = ""
    code_challenge_method: str = ""


@attrs.frozen(kw_only=True)
class PendingConsent:
    """An ``authorize`` step waiting for ``confirm`` (§7.3)."""

    step_id: str
    user_id: str
    client_id: str
    redirect_uri: str
    scope: str
    state: str
    code_challenge: str
    code_challenge_method: str


class UserRegistry:
    """Every simulated user, their accounts and the token store."""

    def __init__(self, users: Sequence[SimUser], *, access_token_ttl: float) -> None:
        self._users = {u.user_id: u for u in users}
        self._by_account = {a.account_id: u.user_id for u in users for a in u.accounts}
        self._static_tokens = {u.access_token: u.user_id for u in users if u.access_token}
        self._issued: dict[str, IssuedToken] = {}
        self._refresh: dict[str, RefreshGrant] = {}
        self._codes: dict[str, AuthorizationCode] = {}
        self._consents: dict[str, PendingConsent] = {}
        self.access_token_ttl = access_token_ttl

    @classmethod
    def from_config(cls, config: SimConfig) -> UserRegistry:
        """The registry of ``config.all_users``."""
        return cls(config.all_users, access_token_ttl=config.access_token_ttl)

    # -- users and accounts ----------------------------------------------------------------

    @property
    def users(self) -> tuple[SimUser, ...]:
        """Every user, default user first."""
        return tuple(self._users.values())

    def user(self, user_id: str) -> SimUser | None:
        """A user by id."""
        return self._users.get(user_id)

    def user_by_email(self, email: str) -> SimUser | None:
        """A user by login e-mail (case-insensitive)."""
        wanted = email.strip().lower()
        return next((u for u in self._users.values() if u.email.lower() == wanted), None)

    def owner_of(self, account_id: str) -> SimUser | None:
        """The user owning ``account_id``, if any."""
        user_id = self._by_account.get(account_id)
        return self._users[user_id] if user_id is not None else None

    def owns(self, user: SimUser, account_id: str) -> bool:
        """Whether ``account_id`` is one of ``user``'s accounts."""
        return self._by_account.get(account_id) == user.user_id

    # -- access tokens ---------------------------------------------------------------------

    def user_for_token(self, token: str, now: float) -> SimUser | None:
        """The user ``token`` authenticates at trio time ``now``; ``None`` if unknown/expired."""
        user_id = self._static_tokens.get(token)
        if user_id is None:
            issued = self._issued.get(token)
            if issued is None:
                return None
            if now >= issued.expires_at:
                del self._issued[token]
                return None
            user_id = issued.user_id
        return self._users.get(user_id)

    def token_expires_at(self, token: str) -> float | None:
        """When an issued token expires (``None`` for a ready-made or unknown token)."""
        issued = self._issued.get(token)
        return issued.expires_at if issued is not None else None

    def issue_access_token(self, user_id: str, scope: str, now: float) -> IssuedToken:
        """A fresh access token for ``user_id``, valid for ``access_token_ttl`` seconds."""
        issued = IssuedToken(
            token=OAUTH_TOKEN_PREFIX + secrets.token_urlsafe(24),
            user_id=user_id,
            expires_at=now + self.access_token_ttl,
            scope=scope,
        )
        self._issued[issued.token] = issued
        return issued

    def revoke_access_token(self, token: str) -> None:
        """Forget an issued token (fault injection / tests)."""
        self._issued.pop(token, None)

    # -- refresh tokens, codes, consents ---------------------------------------------------

    def issue_refresh_token(
        self, user_id: str, client_id: str, scope: str, now: float, ttl: float
    ) -> RefreshGrant:
        """A fresh single-use refresh token."""
        grant = RefreshGrant(
            token=OAUTH_REFRESH_PREFIX + secrets.token_urlsafe(32),
            user_id=user_id,
            client_id=client_id,
            expires_at=now + ttl,
            scope=scope,
        )
        self._refresh[grant.token] = grant
        return grant

    def take_refresh_token(self, token: str) -> RefreshGrant | None:
        """Remove and return a refresh token (rotation: a used one is gone)."""
        return self._refresh.pop(token, None)

    def add_code(self, code: AuthorizationCode) -> None:
        """Store a minted authorization code."""
        self._codes[code.code] = code

    def take_code(self, code: str) -> AuthorizationCode | None:
        """Remove and return an authorization code (single use)."""
        return self._codes.pop(code, None)

    def add_consent(self, consent: PendingConsent) -> None:
        """Store an authorize step waiting for confirmation."""
        self._consents[consent.step_id] = consent

    def take_consent(self, step_id: str) -> PendingConsent | None:
        """Remove and return a pending consent."""
        return self._consents.pop(step_id, None)

    @staticmethod
    def new_code() -> str:
        """A fresh authorization code value."""
        return OAUTH_CODE_PREFIX + secrets.token_urlsafe(24)

    @staticmethod
    def new_step_id() -> str:
        """A fresh ``next_step_auth_id``."""
        return OAUTH_STEP_PREFIX + secrets.token_hex(8)
