"""The simulator of ``bench/scale.py``, in a process of its own: one user, ``--accounts`` accounts.

    .venv/bin/python bench/_scale_sim.py --accounts 100 [--tick 0.25] [--position 10] [--cpu 1]

Accounts are ``SCALE-0000`` … (``account_id(i)``), each with 1,000,000 cash and ``--position``
AAPL shares at the start price (a held position makes its P&L move on every market tick, so its
``pnl`` stream is live). The user's ready-made token is ``TOKEN``. Once listening, one JSON line
goes to stdout: ``{"rest_base", "ws_base", "token", "pid"}``. The simulator runs until its stdin
closes (the parent's end of the pipe: it also stops if the parent dies) or SIGTERM/SIGINT.
Traffic is not logged (``log_traffic`` off), unlike ``aries-engine sim``.

One simulator setting is changed, and printed by ``bench/scale.py``: each socket's outbound
buffer (``engine.sim._profile.OUTBOUND_BUFFER_MESSAGES``, 2,000 messages, not a ``SimConfig``
field) is raised to ``--outbound-buffer``. Subscribing N accounts with their P&L makes the
simulator queue about 3N replies at once (snapshot, ``pnl`` ack, ``pnl`` history per account);
at N = 1,000 that overflows 2,000 and the simulator closes the accounts socket as a slow
consumer (1008) on every attempt, so the engine never starts.
"""

from __future__ import annotations

import argparse
import json
import os
import signal
import sys
from decimal import Decimal

import trio

from engine.logging import configure_logging
from engine.sim import SimAccount, SimConfig, SimPosition, Simulator, _sessions
from engine.sim._profile import START_PRICES

TOKEN = "scale-bench-token"
SYMBOL = "AAPL"
CASH = Decimal("1000000")
OUTBOUND_BUFFER = 50_000


def account_id(index: int) -> str:
    """The id of the ``index``-th account (shared with the engine side by this rule)."""
    return f"SCALE-{index:04d}"


def sim_config(accounts: int, tick: float, position: int) -> SimConfig:
    """``accounts`` accounts of one user whose token is ``TOKEN``."""
    held = (SimPosition(SYMBOL, Decimal(position), START_PRICES[SYMBOL]),) if position > 0 else ()
    return SimConfig(
        tick_interval=tick,
        token=TOKEN,
        accounts=tuple(
            SimAccount(account_id=account_id(i), cash=CASH, positions=held) for i in range(accounts)
        ),
    )


async def _until_stdin_closes() -> None:
    stdin = trio.lowlevel.FdStream(os.dup(sys.stdin.fileno()))
    async with stdin:
        while await stdin.receive_some():
            pass


async def serve(config: SimConfig) -> None:
    """Serve until stdin closes or a signal arrives; print the endpoints once listening."""
    with trio.open_signal_receiver(signal.SIGINT, signal.SIGTERM) as signals:
        async with trio.open_nursery() as nursery:
            endpoints = await nursery.start(Simulator(config).run)
            line = {
                "rest_base": endpoints.rest_base,
                "ws_base": endpoints.ws_base,
                "token": config.token,
                "pid": os.getpid(),
            }
            print(json.dumps(line), flush=True)

            async def stop_on_signal() -> None:
                async for _ in signals:
                    break
                nursery.cancel_scope.cancel()

            nursery.start_soon(stop_on_signal)
            await _until_stdin_closes()
            nursery.cancel_scope.cancel()


def main() -> None:
    parser = argparse.ArgumentParser(description=(__doc__ or "").splitlines()[0])
    parser.add_argument("--accounts", type=int, required=True)
    parser.add_argument("--tick", type=float, default=0.25, help="market tick, seconds")
    parser.add_argument("--position", type=int, default=10, help="AAPL shares held per account")
    parser.add_argument("--cpu", type=int, default=None, help="pin to this CPU")
    parser.add_argument("--outbound-buffer", type=int, default=OUTBOUND_BUFFER)
    parser.add_argument("--log-level", default="error", help="the simulator's log level")
    args = parser.parse_args()
    if args.cpu is not None:
        os.sched_setaffinity(0, {args.cpu})
    # Read by each Session when it opens its outbox (see the module docstring).
    _sessions.OUTBOUND_BUFFER_MESSAGES = args.outbound_buffer  # type: ignore[attr-defined]
    configure_logging(args.log_level)
    trio.run(serve, sim_config(args.accounts, args.tick, args.position))


if __name__ == "__main__":
    main()
