"""Time from a dropped accounts socket to re-subscribed: the engine against its simulator.

    .venv/bin/python bench/reconnect.py [--drops 20]

The simulator drops the accounts socket (close 1011); we time until the engine's supervisor is
SUBSCRIBED again (the snapshot applied). The backoff is pinned at its 1 s first delay (cap 1 s,
no jitter), so the figure is 1 s + the engine's own reconnect work. Baseline, same run: a bare
trio-websocket client doing the same connect → auth → subscribe → snapshot against the same
simulator. Prints a table and appends one JSON line to bench/results.jsonl.
"""

from __future__ import annotations

import argparse
import json
import statistics
import time
from functools import partial
from pathlib import Path

import trio
import trio_websocket

from engine.app import run_engine
from engine.config import parse_config
from engine.hooks.manager import load_plugins
from engine.logging import configure_logging
from engine.model import ConnectionState, Endpoint

FIRST_DELAY = 1.0
RESULTS = Path(__file__).with_name("results.jsonl")


async def bare_reconnect(ws_base: str, token: str) -> float:
    """Seconds for a plain client to connect, authenticate, subscribe and get the snapshot."""
    start = time.perf_counter()
    async with trio_websocket.open_websocket_url(f"{ws_base}/v1/accounts/ws") as ws:
        auth = {
            "type": "request",
            "id": "a",
            "payload": {
                "method": "post",
                "path": "/auth",
                "body": {"action": "auth", "token": token},
            },
        }
        await ws.send_message(json.dumps(auth))
        while "authSuccess" not in await ws.get_message():
            pass
        sub = {
            "type": "subscribe",
            "id": "s",
            "topic": "account",
            "params": {"accountId": "SIM-001"},
        }
        await ws.send_message(json.dumps(sub))
        while '"subscribed"' not in await ws.get_message():
            pass
    return time.perf_counter() - start


async def measure(drops: int) -> dict[str, object]:
    config = parse_config(
        {
            "accounts": [{"id": "SIM-001"}],
            "market": {"enabled": False},
            "connection": {
                "backoff_initial": FIRST_DELAY,
                "backoff_cap": FIRST_DELAY,
                "backoff_jitter": 0.0,
            },
        }
    )
    pm, plugins = load_plugins(config, entry_points=False)
    engine_times: list[float] = []
    bare_times: list[float] = []
    async with trio.open_nursery() as nursery:
        engine = await nursery.start(partial(run_engine, config, pm, plugins))
        assert engine.simulator is not None
        [accounts] = [c for c in engine.connections if c.handler.endpoint is Endpoint.ACCOUNTS]
        ws_base = engine.simulator.endpoints.ws_base
        token = engine.simulator.config.token
        for _ in range(drops):  # alternate, so drift on this VM hits both alike
            bare_times.append(await bare_reconnect(ws_base, token))
            start = time.perf_counter()
            await engine.simulator.drop_connections("/v1/accounts/ws")
            await accounts.wait_state(ConnectionState.DISCONNECTED)
            await accounts.wait_state(ConnectionState.SUBSCRIBED)
            engine_times.append(time.perf_counter() - start)
        engine.stop()
    median_engine = statistics.median(engine_times)
    median_bare = statistics.median(bare_times)
    overhead = median_engine - FIRST_DELAY
    return {
        "bench": "reconnect",
        "drops": drops,
        "engine_median_s": round(median_engine, 4),
        "engine_max_s": round(max(engine_times), 4),
        "backoff_s": FIRST_DELAY,
        "engine_overhead_median_s": round(overhead, 4),
        "bare_median_s": round(median_bare, 4),
        "overhead_vs_bare": round(overhead / median_bare, 2),
    }


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--drops", type=int, default=20)
    args = parser.parse_args()
    configure_logging("error")
    result = trio.run(measure, args.drops)
    print(f"{'drops':<32}{result['drops']}")
    print(
        f"{'dropped → subscribed, median':<32}{result['engine_median_s']:.4f} s "
        f"(max {result['engine_max_s']:.4f} s)"
    )
    print(f"{'of which backoff delay':<32}{result['backoff_s']:.4f} s")
    print(f"{'engine overhead, median':<32}{result['engine_overhead_median_s']:.4f} s")
    print(f"{'bare client reconnect':<32}{result['bare_median_s']:.4f} s  (baseline, same run)")
    print(f"{'overhead / baseline':<32}{result['overhead_vs_bare']}x")
    with RESULTS.open("a", encoding="utf-8") as results:
        results.write(json.dumps({**result, "at": time.time()}) + "\n")


if __name__ == "__main__":
    main()
