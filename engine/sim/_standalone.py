"""``aries-engine sim``: run the simulator in the foreground until Ctrl-C."""

from __future__ import annotations

import signal
import sys

import trio

from engine.sim._config import SimConfig
from engine.sim._profile import ACCOUNTS_WS_PATH, CHARTS_WS_PATH, MARKET_WS_PATH
from engine.sim._server import SimEndpoints, Simulator


def _banner(endpoints: SimEndpoints, config: SimConfig) -> str:
    accounts = ", ".join(a.account_id for a in config.accounts)
    return "\n".join(
        [
            "Aries simulator listening:",
            f"  REST      {endpoints.rest_base}",
            f"  WS base   {endpoints.ws_base}",
            f"  Accounts  {endpoints.ws_base}{ACCOUNTS_WS_PATH}",
            f"  Market    {endpoints.ws_base}{MARKET_WS_PATH}",
            f"  Charts    {endpoints.ws_base}{CHARTS_WS_PATH}",
            f"  Token     {config.token}",
            f"  Account   {accounts}",
            "Press Ctrl-C to stop.",
        ]
    )


async def _serve_until_signal(config: SimConfig) -> None:
    simulator = Simulator(config)
    with trio.open_signal_receiver(signal.SIGINT, signal.SIGTERM) as signals:
        async with trio.open_nursery() as nursery:
            endpoints = await nursery.start(simulator.run)
            print(_banner(endpoints, config), flush=True)
            async for _ in signals:
                break
            nursery.cancel_scope.cancel()


def run_standalone(config: SimConfig) -> int:
    """Run the simulator until Ctrl-C (or SIGTERM); print its URLs and token once listening.

    Returns the process exit status (0 on a clean stop).
    """
    interrupted = False
    try:
        trio.run(_serve_until_signal, config)
    except* KeyboardInterrupt:  # a second Ctrl-C during shutdown
        interrupted = True
    if interrupted:
        print("Aries simulator interrupted.", file=sys.stderr, flush=True)
    else:
        print("Aries simulator stopped.", flush=True)
    return 0
