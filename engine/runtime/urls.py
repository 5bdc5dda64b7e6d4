"""Which venue URLs the engine will use: TLS everywhere except on the loopback interface.

``ws://`` and ``http://`` carry the access token in clear, so they are accepted only for hosts
that never leave the machine (the built-in simulator). The host is taken from the parsed URL,
never matched as text, so ``ws://localhost.evil.com`` or ``ws://localhost:80@evil.example/``
are refused; userinfo in a URL is refused outright.
"""

from __future__ import annotations

import ipaddress
from typing import Literal
from urllib.parse import urlsplit

SECURE_SCHEMES = {"http": "https", "ws": "wss"}


def is_loopback_host(host: str) -> bool:
    """True for ``localhost`` and any loopback IP literal (127.0.0.0/8, ::1)."""
    if host.lower() == "localhost":
        return True
    try:
        return ipaddress.ip_address(host).is_loopback
    except ValueError:
        return False


def url_problem(url: str, kind: Literal["http", "ws"]) -> str | None:
    """Why ``url`` must not be used as a ``kind`` venue URL, or ``None`` if it is fine."""
    secure = SECURE_SCHEMES[kind]
    try:
        parts = urlsplit(url)
        host = parts.hostname
        parts.port  # noqa: B018 - raises ValueError for a malformed port
    except ValueError as exc:
        return f"not a valid URL ({exc})"
    if parts.scheme not in (kind, secure):
        return f"expected a {secure}:// URL, got scheme {parts.scheme or '(none)'!r}"
    if not host:
        return "the URL has no host"
    if parts.username is not None or parts.password is not None:
        return "credentials in the URL are not allowed"
    if parts.scheme == kind and not is_loopback_host(host):
        return f"{kind}:// is only allowed for loopback hosts; use {secure}:// for {host!r}"
    return None
