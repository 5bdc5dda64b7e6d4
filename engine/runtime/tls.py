"""TLS for venue connections: always verified, optionally trusting an extra CA."""

from __future__ import annotations

import ssl


def client_ssl_context(ca_file: str | None = None) -> ssl.SSLContext:
    """A client context that verifies certificates and host names (TLS 1.2 or later).

    ``ca_file`` adds the certificates of a private authority to the system's; there is no way
    to switch verification off.
    """
    context = ssl.create_default_context()
    context.minimum_version = ssl.TLSVersion.TLSv1_2
    if ca_file is not None:
        context.load_verify_locations(cafile=ca_file)
    return context
