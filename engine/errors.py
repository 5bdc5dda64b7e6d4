"""The engine's exceptions, one hierarchy.

```
EngineError
├── ConfigError            bad engine.toml, bad plugin config (the CLI exits with status 2)
├── PluginError            a plugin could not be imported, configured or registered
└── AriesError             anything the venue (or the way to it) did wrong
    ├── ProtocolError      a frame or message that does not match the protocol
    ├── ConnectionLostError the socket closed, reset or went silent
    ├── CertificateError   the venue's TLS certificate failed verification
    ├── AuthError          the venue refused our token (INVALID_TOKEN, AUTH_REQUIRED …)
    ├── SubscriptionError  the venue refused a subscription the engine cannot run without
    └── RequestError       a REST call failed; ``outcome_unknown`` when it may have taken effect
        ├── RateLimitedError  HTTP 429 / 503 with an optional ``Retry-After``
        └── CertificateRequestError  a REST call refused the venue's certificate (nothing was
                                     sent); also a ``CertificateError``
```

Library exceptions (``httpx``, ``trio_websocket``) are translated into these at the boundary in
``engine.aries`` and ``engine.connection``; nothing above them sees the library types.
"""

from __future__ import annotations


class EngineError(Exception):
    """Base class of every error the engine raises on purpose."""


class ConfigError(EngineError):
    """Raised by ``engine.config`` when the configuration is missing, malformed or invalid.

    The message is one line per problem, each naming the key path and what was expected.
    """


class PluginError(EngineError):
    """Raised at start-up when a plugin cannot be imported, configured or registered."""


class AriesError(EngineError):
    """Base class of errors that come from the venue or the connection to it."""


class ProtocolError(AriesError):
    """Raised by the decoder when a message does not match the protocol.

    Names the message type and the field at fault; ``excerpt`` is a short, safe prefix of the
    offending frame for the log line.
    """

    def __init__(self, message_type: str, field: str, problem: str, excerpt: str = "") -> None:
        # Every part may quote the offending input: bounded, so a huge value cannot make a
        # huge log line.
        self.message_type = _bounded(message_type, 64)
        self.field = _bounded(field, 120)
        self.problem = _bounded(problem, 200)
        self.excerpt = _bounded(excerpt, 120)
        super().__init__(f"{self.message_type}: field {self.field!r}: {self.problem}")


def _bounded(text: str, limit: int) -> str:
    """``text`` cut to ``limit`` characters, saying so when it was cut."""
    if len(text) <= limit:
        return text
    return text[: limit - 1] + "…"


class ConnectionLostError(AriesError):
    """Raised by a connection when its socket closed, reset or stayed silent too long."""


class CertificateError(AriesError):
    """Raised when connecting (``wss://``, or ``https://`` for REST and the OAuth token
    endpoint) if the venue's certificate is not trusted.

    Never retried and never worked around: the operator must fix the URL or trust the CA.
    """

    code = "UNTRUSTED_CERTIFICATE"


class AuthError(AriesError):
    """Raised when the venue refuses to authenticate us (``code`` is the Aries error code).

    ``str()`` is ``"<code>: <message>"``; ``message`` is the text without the code.
    """

    def __init__(self, code: str, message: str) -> None:
        self.code = code
        self.message = message
        super().__init__(f"{code}: {message}")


class SubscriptionError(AriesError):
    """Raised by a connection when the venue refuses a subscription the engine cannot do without.

    E.g. ``ACCESS_DENIED`` or ``MISSING_ACCOUNT_ID`` for an account in ``[[accounts]]``: retrying
    cannot help, so the engine stops and says which subscription and why.
    """

    def __init__(self, code: str, message: str, *, subscription: str) -> None:
        self.code = code
        self.subscription = subscription
        super().__init__(f"{subscription} refused: {code}: {message}")


class RequestError(AriesError):
    """Raised by the REST client when a call fails.

    ``status`` is the HTTP status (``None`` if no response arrived); ``code`` the first Aries error
    code of the body, if any. ``outcome_unknown`` is true when the request may have reached the
    venue (a timeout or a 5xx after sending): such a request is never retried blindly.
    """

    def __init__(
        self,
        message: str,
        *,
        status: int | None = None,
        code: str = "",
        outcome_unknown: bool = False,
    ) -> None:
        self.status = status
        self.code = code
        self.outcome_unknown = outcome_unknown
        super().__init__(message)


class RateLimitedError(RequestError):
    """Raised on HTTP 429 or 503; ``retry_after`` is the ``Retry-After`` delay in seconds."""

    def __init__(self, message: str, *, status: int, retry_after: float | None) -> None:
        self.retry_after = retry_after
        super().__init__(message, status=status, code="RATE_LIMITED")


class CertificateRequestError(RequestError, CertificateError):
    """Raised by the REST client (and ``exchange_token``) when the TLS handshake refused the
    venue's certificate: nothing was sent.

    A ``RequestError`` (``status`` ``None``, ``outcome_unknown`` false, ``code``
    ``UNTRUSTED_CERTIFICATE``), so order entry reports the order as failed, and a
    ``CertificateError``, so whoever can stop on it (the token refresher) never retries it.
    """

    def __init__(self, message: str) -> None:
        super().__init__(message, status=None, code=CertificateError.code, outcome_unknown=False)
