"""Token providers: where a connection gets the OAuth2 access token it authenticates with."""

from __future__ import annotations

from typing import Protocol

import attrs
import trio

from engine.secrets import Secret


class TokenProvider(Protocol):
    """Hands out the current access token (refreshing it first if needed)."""

    async def get_token(self) -> Secret: ...


@attrs.frozen
class StaticTokenProvider:
    """A fixed token: the simulator's, or one taken from an environment variable."""

    token: Secret

    async def get_token(self) -> Secret:
        """The token (a checkpoint, so callers behave the same as with a refreshing provider)."""
        await trio.lowlevel.checkpoint()
        return self.token
