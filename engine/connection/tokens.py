"""Token providers and sources: where a connection gets the access token it authenticates with.

A *provider* (``TokenProvider``) is what the supervisors and the REST client ask for a token: a
``StaticTokenProvider`` or the ``SessionRefresher`` actor (``engine.connection.session``). A
*source* (``TokenSource``) is how the refresher obtains one: ``StaticTokenSource`` (an environment
variable, the simulator's token) or ``OAuthRefreshSource`` (the OAuth2 refresh-token grant, §7.4,
with rotation persisted by a ``RefreshTokenStore``).

Tokens are ``Secret`` everywhere: no repr, log line or exception in this module shows one.
"""

from __future__ import annotations

import contextlib
import os
import stat
import tempfile
from pathlib import Path
from typing import Protocol

import attrs
import httpx
import structlog
import trio

from engine.aries.rest import TokenGrantError, exchange_token
from engine.errors import AuthError, CertificateError, ConfigError
from engine.secrets import Secret

log = structlog.get_logger(__name__)

__all__ = [
    "IssuedToken",
    "OAuthRefreshSource",
    "RefreshTokenStore",
    "StaticTokenProvider",
    "StaticTokenSource",
    "TokenProvider",
    "TokenSource",
]


class TokenProvider(Protocol):
    """Hands out the current access token (refreshing it first if needed)."""

    async def get_token(self) -> Secret:
        """A token valid now (waits for a refresh if the current one is expired or about to)."""
        ...

    async def refresh(self, reason: str) -> Secret:
        """Force a new token (after ``refreshAuth`` or ``INVALID_TOKEN``); single-flight."""
        ...

    @property
    def can_refresh(self) -> bool:
        """``False`` for static tokens: an ``INVALID_TOKEN`` is then final."""
        ...


@attrs.frozen
class StaticTokenProvider:
    """A fixed token: the simulator's, or one taken from an environment variable."""

    token: Secret

    @property
    def can_refresh(self) -> bool:
        """Always ``False``: there is nothing to refresh a static token with."""
        return False

    async def get_token(self) -> Secret:
        """The token (a checkpoint, so callers behave the same as with a refreshing provider)."""
        await trio.lowlevel.checkpoint()
        return self.token

    async def refresh(self, reason: str) -> Secret:
        """The same token: a static token cannot be refreshed (see ``can_refresh``)."""
        await trio.lowlevel.checkpoint()
        return self.token


@attrs.frozen
class IssuedToken:
    """An access token and when it expires (``trio.current_time()`` clock; ``None``: unknown)."""

    access_token: Secret
    expires_at: float | None


class TokenSource(Protocol):
    """How the ``SessionRefresher`` obtains a token. ``fetch`` is never called concurrently."""

    @property
    def can_refresh(self) -> bool:
        """Whether a second ``fetch`` can return a different, fresh token."""
        ...

    async def fetch(self) -> IssuedToken:
        """A fresh token.

        Raises:
            AuthError: the credential was refused; retrying cannot help (the message says what
                to do).
            CertificateError: the token endpoint's TLS certificate is not trusted; retrying
                cannot help either (the message says what to do).
            RateLimitedError: 429/503; wait ``retry_after`` seconds.
            RequestError: anything transient (5xx, network): retry after a backoff.
        """
        ...


@attrs.frozen
class StaticTokenSource:
    """A fixed token that never expires as far as we know (env var, simulator token)."""

    token: Secret

    @property
    def can_refresh(self) -> bool:
        """Always ``False``."""
        return False

    async def fetch(self) -> IssuedToken:
        """The token, with an unknown expiry."""
        await trio.lowlevel.checkpoint()
        return IssuedToken(self.token, None)


@attrs.frozen
class RefreshTokenStore:
    """A file holding the current (rotated) refresh token, mode 0600.

    ``save`` is atomic: a temporary file (0600) in the same directory is written and fsynced,
    then ``os.replace``d over ``path``, so a crash or a failed write leaves the old file intact.
    The I/O is synchronous on purpose: a few bytes once an hour, and it keeps the rotation step
    free of scheduling points.
    """

    path: Path = attrs.field(converter=Path)

    def load(self) -> Secret | None:
        """The stored refresh token, or ``None`` if the file does not exist.

        Raises:
            ConfigError: the file is readable or writable by group or others, empty, or
                unreadable.
        """
        try:
            mode = self.path.stat().st_mode
        except FileNotFoundError:
            return None
        except OSError as exc:
            raise ConfigError(
                f"refresh token store {self.path}: cannot stat: {exc.strerror}"
            ) from None
        if mode & (stat.S_IRWXG | stat.S_IRWXO):
            raise ConfigError(
                f"refresh token store {self.path} is accessible by group or others "
                f"(mode {stat.S_IMODE(mode):04o}); it holds a credential, so the engine refuses "
                f"to use it: run `chmod 600 {self.path}`"
            )
        try:
            text = self.path.read_text(encoding="utf-8").strip()
        except (OSError, UnicodeDecodeError) as exc:
            raise ConfigError(f"refresh token store {self.path}: unreadable: {exc}") from None
        if not text:
            raise ConfigError(
                f"refresh token store {self.path} is empty: delete it to use the configured "
                "refresh token"
            )
        return Secret(text)

    def save(self, token: Secret) -> None:
        """Replace the stored token atomically (temp file 0600, fsync, ``os.replace``).

        Raises:
            OSError: the write failed; the previous file is unchanged and no temp file is left.
        """
        directory = self.path.parent
        fd, temp = tempfile.mkstemp(prefix=f".{self.path.name}.", suffix=".tmp", dir=directory)
        try:
            os.fchmod(fd, 0o600)
            with os.fdopen(fd, "w", encoding="utf-8") as file:
                file.write(token.reveal() + "\n")
                file.flush()
                os.fsync(file.fileno())
            os.replace(temp, self.path)
        except BaseException:
            with contextlib.suppress(OSError):
                os.unlink(temp)
            raise
        with contextlib.suppress(OSError):  # make the rename itself durable (POSIX)
            dir_fd = os.open(directory, os.O_RDONLY)
            try:
                os.fsync(dir_fd)
            finally:
                os.close(dir_fd)


@attrs.define(eq=False)
class OAuthRefreshSource:
    """The OAuth2 refresh-token grant (``POST /v1/oauth2/token``, ARIES.md §7.4) with rotation.

    A ``refresh_token`` in the response replaces the current one in memory and, if a ``store``
    is given, on disk (atomically). At construction the store is read if present; it wins over
    the configured ``refresh_token``, which may already have been rotated away. ``credential``
    names the configured refresh token in error messages (e.g. the environment variable).
    """

    rest_base: str
    client_id: str = attrs.field(kw_only=True)
    client_secret: Secret = attrs.field(kw_only=True)
    refresh_token: Secret = attrs.field(kw_only=True)
    store: RefreshTokenStore | None = attrs.field(default=None, kw_only=True)
    transport: httpx.AsyncBaseTransport | None = attrs.field(default=None, kw_only=True)
    credential: str = attrs.field(default="the OAuth refresh token", kw_only=True)

    def __attrs_post_init__(self) -> None:
        if self.store is not None:
            stored = self.store.load()
            if stored is not None:
                log.info("session.refresh_token_loaded", path=str(self.store.path))
                self.refresh_token = stored

    @property
    def can_refresh(self) -> bool:
        """Always ``True``."""
        return True

    async def fetch(self) -> IssuedToken:
        """Exchange the refresh token for a new access token (and maybe a new refresh token).

        Raises:
            TokenGrantError: ``invalid_grant``: the refresh token is dead; the message says how
                to get a new one.
            AuthError: the client credentials were refused (``invalid_client``).
            CertificateError: the token endpoint's certificate is not trusted.
            RateLimitedError, RequestError: as ``exchange_token``.
        """
        try:
            response = await exchange_token(
                self.rest_base,
                grant_type="refresh_token",
                client_id=self.client_id,
                client_secret=self.client_secret,
                refresh_token=self.refresh_token,
                transport=self.transport,
            )
        except TokenGrantError as exc:
            raise TokenGrantError(exc.code, self._dead_refresh_token_message(exc)) from exc
        except AuthError as exc:
            raise AuthError(
                exc.code,
                f"the token endpoint refused the OAuth client credentials (client_id "
                f"{self.client_id!r}) ({exc}); check the client id and client secret of the "
                "registered OAuth application",
            ) from exc
        except CertificateError as exc:  # before the client secret or the token was sent
            raise CertificateError(
                f"the OAuth token endpoint's TLS certificate is not trusted ({exc}): check "
                "venue.rest_base, or trust its CA with venue.ca_file"
            ) from exc
        now = trio.current_time()
        if response.refresh_token is not None and response.refresh_token != self.refresh_token:
            self.refresh_token = response.refresh_token
            self._persist(response.refresh_token)
        expires_at: float | None = None
        if response.expires_in is not None and response.expires_in > 0:
            expires_at = now + response.expires_in
        elif response.expires_in is not None:
            log.warning("session.bad_expires_in", expires_in=response.expires_in)
        return IssuedToken(response.access_token, expires_at)

    def _persist(self, token: Secret) -> None:
        if self.store is None:
            return
        try:
            self.store.save(token)
        except OSError as exc:
            # The rotated token is kept in memory, so this run goes on; a restart would reuse the
            # old (now dead) stored token and fail with invalid_grant: an error, not a warning.
            log.error(
                "session.refresh_token_not_saved",
                path=str(self.store.path),
                error=f"{type(exc).__name__}: {exc.strerror}",
            )
        else:
            log.info("session.refresh_token_rotated", path=str(self.store.path))

    def _dead_refresh_token_message(self, exc: TokenGrantError) -> str:
        message = (
            f"{self.credential} was refused by the token endpoint ({exc.code}: expired, "
            f"revoked or already used). Re-run the OAuth consent to get a new refresh token, "
            f"then set {self.credential}"
        )
        if self.store is not None:
            message += (
                f" and delete {self.store.path} (it holds the last rotated refresh token and "
                "takes precedence over the configured one)"
            )
        return message + "."
