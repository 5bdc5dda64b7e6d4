"""``SessionRefresher``: the actor that owns the access token (ARCHITECTURE.md §3).

``run()`` fetches the first token from its ``TokenSource``, reports ``started()``, then keeps a
valid token for ever:

* **When.** A token issued at ``t`` with lifetime ``L`` (``expires_in``) is refreshed at
  ``t + min(0.8 × L, L − margin)`` where ``margin = min(skew, L / 2)``: ARIES.md §7.4's 80 % rule
  or ``skew`` seconds before expiry, whichever is *earlier*, and never in the first half of the
  lifetime (a token shorter than ``2 × skew`` cannot cause a refresh storm). For the venue's
  3600 s tokens and the default 60 s skew that is 2880 s after issue. ``get_token()`` hands out
  the current token until ``margin`` before its expiry; past that it waits for the new one.
* **Single flight.** Only ``run()`` talks to the source. ``refresh(reason)`` asks it for a new
  token and waits; every caller waiting at the time gets the result of the same request.
* **Failures.** 429/503 wait ``Retry-After`` (backoff if absent); other transient failures (5xx,
  network) back off (``engine.runtime.Backoff``). An ``AuthError`` from the source (a dead refresh
  token: ``invalid_grant``; bad client credentials) or a ``CertificateError`` (the token endpoint's
  certificate is not trusted) is final: ``run()`` logs it once, stops, and
  ``get_token()``/``refresh()`` raise ``SessionFailedError`` with the source's actionable message
  (code ``UNTRUSTED_CERTIFICATE`` for a certificate). Before ``started()`` it propagates instead,
  so a bad credential or an untrusted endpoint fails the start-up.

Callers bound their own waits (``trio.fail_after``); ``get_token()`` before the first token
waits for ``run()``. Time is ``trio.current_time()``. No token is ever logged.
"""

from __future__ import annotations

import math
import random

import attrs
import structlog
import trio

from engine.connection.tokens import IssuedToken, TokenSource
from engine.errors import AuthError, CertificateError, RateLimitedError, RequestError
from engine.runtime.backoff import Backoff
from engine.secrets import Secret

log = structlog.get_logger(__name__)

__all__ = ["SessionFailedError", "SessionRefresher", "SessionStatistics"]


class SessionFailedError(AuthError):
    """Raised by ``SessionRefresher.get_token()``/``refresh()`` once the token source refused the
    credential (or the token endpoint's certificate): no token can be had until a person fixes
    it (the message says how)."""


@attrs.frozen(kw_only=True)
class SessionStatistics:
    """Counters of the refresher. ``refreshes`` counts tokens obtained after the first one;
    ``failures`` counts failed token requests; ``expires_in`` is seconds left on the current
    token (``None``: no token yet, or no known expiry)."""

    refreshes: int
    failures: int
    last_error: str
    expires_in: float | None
    failed: bool


@attrs.define(eq=False)
class SessionRefresher:
    """Owns the access token; implements ``TokenProvider``. See the module docstring."""

    source: TokenSource
    skew: float = 60.0
    backoff: Backoff = attrs.field(factory=Backoff)
    rng: random.Random = attrs.field(factory=random.Random, repr=False)
    _token: IssuedToken | None = attrs.field(default=None, init=False)
    _issued_at: float = attrs.field(default=0.0, init=False)
    _generation: int = attrs.field(default=0, init=False)
    _changed: trio.Event = attrs.field(factory=trio.Event, init=False, repr=False)
    _wanted: trio.Event = attrs.field(factory=trio.Event, init=False, repr=False)
    _wanted_reason: str = attrs.field(default="", init=False)
    _failure: AuthError | CertificateError | None = attrs.field(default=None, init=False)
    _refreshes: int = attrs.field(default=0, init=False)
    _failures: int = attrs.field(default=0, init=False)
    _last_error: str = attrs.field(default="", init=False)

    @property
    def can_refresh(self) -> bool:
        """Whether ``refresh()`` can produce a different token (``False`` for static tokens)."""
        return self.source.can_refresh and self._failure is None

    @property
    def failed(self) -> bool:
        """Whether the source failed for good (see ``SessionFailedError``)."""
        return self._failure is not None

    async def run(self, *, task_status: trio.TaskStatus[None] = trio.TASK_STATUS_IGNORED) -> None:
        """Fetch the first token, report ``started()``, then refresh ahead of expiry for ever.

        Returns only if the source failed for good after start-up (or cannot refresh).

        Raises:
            AuthError: the source refused the credential before the first token.
            CertificateError: the token endpoint's certificate was refused before the first
                token.
        """
        structlog.contextvars.bind_contextvars(actor="session")
        if not await self._obtain("start"):
            assert self._failure is not None
            raise self._failure
        task_status.started()
        if not self.source.can_refresh:
            return
        while True:
            with trio.move_on_at(self._refresh_at()):
                await self._wanted.wait()
            reason = self._wanted_reason or "expiry"
            if not await self._obtain(reason):
                return

    async def get_token(self) -> Secret:
        """A token valid now; waits for ``run()`` if there is none yet or it is about to expire.

        Raises:
            SessionFailedError: the credential was refused; the message says what to do.
        """
        await trio.lowlevel.checkpoint()
        while True:
            self._raise_if_failed()
            token = self._token
            if token is not None and trio.current_time() < self._usable_until(token):
                return token.access_token
            generation = self._generation
            if token is not None:
                self._want("expiring")
            await self._wait_past(generation)

    def current_token(self) -> Secret:
        """The latest token without waiting, for per-request REST headers.

        Raises:
            SessionFailedError: the credential was refused.
            RuntimeError: ``run()`` has not obtained a first token yet.
        """
        self._raise_if_failed()
        if self._token is None:
            raise RuntimeError("no access token yet: start SessionRefresher.run first")
        return self._token.access_token

    async def refresh(self, reason: str) -> Secret:
        """A new token (after ``refreshAuth`` or ``INVALID_TOKEN``), shared by concurrent callers.

        With a source that cannot refresh, returns the current token.

        Raises:
            SessionFailedError: the credential was refused; the message says what to do.
        """
        self._raise_if_failed()
        if not self.source.can_refresh:
            return await self.get_token()
        generation = self._generation
        self._want(reason)
        await self._wait_past(generation)
        self._raise_if_failed()
        assert self._token is not None
        return self._token.access_token

    def statistics(self) -> SessionStatistics:
        """Counters for health logging."""
        expires_in: float | None = None
        if self._token is not None and self._token.expires_at is not None:
            expires_in = self._token.expires_at - trio.current_time()
        return SessionStatistics(
            refreshes=self._refreshes,
            failures=self._failures,
            last_error=self._last_error,
            expires_in=expires_in,
            failed=self.failed,
        )

    def _margin(self, token: IssuedToken) -> float:
        assert token.expires_at is not None
        return min(self.skew, (token.expires_at - self._issued_at) / 2)

    def _usable_until(self, token: IssuedToken) -> float:
        if token.expires_at is None:
            return math.inf
        return token.expires_at - self._margin(token)

    def _refresh_at(self) -> float:
        token = self._token
        if token is None or token.expires_at is None:
            return math.inf
        lifetime = token.expires_at - self._issued_at
        return min(self._issued_at + 0.8 * lifetime, token.expires_at - self._margin(token))

    def _want(self, reason: str) -> None:
        if not self._wanted.is_set():
            self._wanted_reason = reason
            self._wanted.set()

    async def _wait_past(self, generation: int) -> None:
        while self._generation <= generation and self._failure is None:
            await self._changed.wait()

    def _wake_waiters(self) -> None:
        changed, self._changed = self._changed, trio.Event()
        changed.set()

    def _raise_if_failed(self) -> None:
        failure = self._failure
        if failure is not None:
            message = failure.message if isinstance(failure, AuthError) else str(failure)
            raise SessionFailedError(failure.code, message)

    async def _obtain(self, reason: str) -> bool:
        """Fetch until a token arrives (``True``) or the source fails for good (``False``)."""
        attempt = 0
        while True:
            try:
                issued = await self.source.fetch()
            except (AuthError, CertificateError) as exc:  # before RequestError: some are both
                self._record_error(exc)
                self._failure = exc
                event = (
                    "session.credential_refused"
                    if isinstance(exc, AuthError)
                    else "session.certificate_refused"
                )
                log.error(event, reason=reason, error=str(exc))
                self._wake_waiters()
                return False
            except RateLimitedError as exc:
                self._record_error(exc)
                if exc.retry_after is not None:
                    delay = exc.retry_after
                else:
                    delay = self.backoff.delay(attempt, self.rng)
                    attempt += 1
                log.warning("session.rate_limited", reason=reason, retry_in=delay)
            except RequestError as exc:
                self._record_error(exc)
                delay = self.backoff.delay(attempt, self.rng)
                attempt += 1
                log.warning("session.refresh_failed", reason=reason, error=str(exc), retry_in=delay)
            else:
                self._install(issued, reason)
                return True
            await trio.sleep(delay)

    def _record_error(self, exc: Exception) -> None:
        self._failures += 1
        self._last_error = f"{type(exc).__name__}: {exc}"

    def _install(self, issued: IssuedToken, reason: str) -> None:
        if self._token is not None:
            self._refreshes += 1
        self._token = issued
        self._issued_at = trio.current_time()
        self._generation += 1
        self._wanted = trio.Event()
        self._wanted_reason = ""
        expires_in = None if issued.expires_at is None else issued.expires_at - self._issued_at
        log.info("session.token_issued", reason=reason, expires_in=expires_in)
        self._wake_waiters()
