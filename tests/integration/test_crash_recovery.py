"""SIGKILL the engine while its order rests, fill the order while it is dead, restart it: the
fill is reported exactly once, to the strategy that placed the order, and nothing is re-sent."""

from __future__ import annotations

import os
import subprocess
import sys
from decimal import Decimal
from pathlib import Path

import httpx
import trio

from engine.journal import JournalReader
from engine.model import OrderFilled
from engine.sim import SimConfig
from engine.testing import open_simulator

ROOT = Path(__file__).resolve().parents[2]
CONFIG = """
[[accounts]]
id = "SIM-001"
[venue]
kind = "aries"
rest_base = "{rest}"
ws_base = "{ws}"
access_token_env = "ARIES_TEST_TOKEN"
[market]
symbols = ["AAPL"]
[journal]
path = "{journal}"
[[strategies]]
name = "resting"
path = "tests.integration.strategies_for_tests:RestingBuyer"
account = "SIM-001"
"""


class Engine:
    """An ``aries-engine run`` subprocess whose JSON log lines can be waited for."""

    def __init__(self, process: trio.Process) -> None:
        self.process = process
        self.output = b""

    async def wait_for(self, *needles: bytes) -> None:
        assert self.process.stderr is not None
        start = len(self.output)
        for needle in needles:
            while needle not in self.output[start:]:
                chunk = await self.process.stderr.receive_some()
                assert chunk, self.output.decode()[-3000:]
                self.output += chunk
            start = self.output.index(needle, start)


async def start_engine(config_path: Path, token: str, scratch: Path) -> Engine:
    process = await trio.lowlevel.open_process(
        [sys.executable, "-m", "engine", "run", str(config_path), "--log-format", "json",
         "--log-level", "debug"],
        cwd=ROOT, stderr=subprocess.PIPE,
        env={**os.environ, "ARIES_TEST_TOKEN": token, "XDG_DATA_HOME": str(scratch),
             "PYTHONUNBUFFERED": "1"},
    )  # fmt: skip
    return Engine(process)


async def test_a_fill_while_the_engine_was_killed_is_reported_once_after_restart(
    tmp_path: Path,
) -> None:
    journal = tmp_path / "journal.sqlite"
    async with open_simulator(SimConfig(tick_interval=0.05)) as sim:
        config = tmp_path / "engine.toml"
        config.write_text(CONFIG.format(
            rest=sim.endpoints.rest_base, ws=sim.endpoints.ws_base, journal=journal))  # fmt: skip
        with trio.fail_after(60):
            first = await start_engine(config, sim.config.token, tmp_path)
            # Working at the venue, and journaled (a batch written after the NEW update).
            await first.wait_for(b'"status": "NEW"', b'"event": "journal.batch_written"')
            first.process.kill()
            await first.process.wait()

            async with httpx.AsyncClient(
                base_url=sim.endpoints.rest_base,
                headers={"Authorization": f"Bearer {sim.config.token}"},
            ) as http:
                [order] = (await http.get("/v2/accounts/SIM-001/orders")).json()["orders"]
            limit = Decimal(order["price"])
            sim.market.force_quote("AAPL", bid=limit - 2, ask=limit - 1)
            await sim.wait_statistics(lambda s: s.fills >= 1)  # filled while nobody listened

            second = await start_engine(config, sim.config.token, tmp_path)
            await second.wait_for(b'"event": "account.restored"', b'"event": "order.filled"')
            second.process.send_signal(2)  # Ctrl-C: a clean stop flushes the journal
            assert await second.process.wait() == 0
        placed = sim.statistics().orders_placed

    with JournalReader(journal) as reader:
        fills = [e for e in reader.events() if isinstance(e, OrderFilled)]
    assert placed == 1  # the restarted strategy did not place it again
    assert [(f.cl_ord_id, f.qty, f.strategy) for f in fills] == [
        (order["clOrdId"], Decimal(10), "resting")
    ]
