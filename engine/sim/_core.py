"""The simulator's shared state, handed to the REST handlers and the socket sessions."""

from __future__ import annotations

from collections.abc import Callable
from datetime import datetime

import attrs

from engine.sim._config import SimConfig
from engine.sim._hub import Hub
from engine.sim._ledger import Ledger
from engine.sim._market import MarketModel
from engine.sim._oauth import OAuthServer
from engine.sim._users import UserRegistry


def _users(core: SimCore) -> UserRegistry:
    return UserRegistry.from_config(core.config)


def _oauth(core: SimCore) -> OAuthServer:
    return OAuthServer(
        core.users,
        client_id=core.config.oauth_client_id,
        client_secret=core.config.oauth_client_secret,
    )


@attrs.define(eq=False)
class SimCore:
    """Config, clock, market, ledger, hub and users of one simulator (single trio run).

    ``users`` is the token registry both sides share: the sockets resolve an auth token with
    ``core.users.user_for_token(token, trio.current_time())`` and check an account with
    ``core.users.owns(user, account_id)``.
    """

    config: SimConfig
    now: Callable[[], datetime]
    market: MarketModel
    ledger: Ledger
    hub: Hub
    _sessions_opened: int = 0
    users: UserRegistry = attrs.field(default=attrs.Factory(_users, takes_self=True))
    oauth: OAuthServer = attrs.field(default=attrs.Factory(_oauth, takes_self=True))

    def __attrs_post_init__(self) -> None:
        opened_at = self.now()
        for account in self.config.all_accounts:
            if not self.ledger.owns(account.account_id):
                self.ledger.add_account(account, opened_at=opened_at)

    def next_session_number(self) -> int:
        """A fresh number for a new socket session (for logs and its batching RNG)."""
        self._sessions_opened += 1
        return self._sessions_opened
