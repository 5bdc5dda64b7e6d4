"""``run_standalone``: prints where it listens, serves, and stops cleanly on Ctrl-C."""

from __future__ import annotations

import os
import signal
import subprocess
import sys
from pathlib import Path

import httpx
import trio

ROOT = Path(__file__).resolve().parents[2]
SCRIPT = (
    "from engine.sim import SimConfig, run_standalone\n"
    "raise SystemExit(run_standalone(SimConfig()))"
)


async def test_standalone_prints_urls_and_stops_cleanly_on_sigint() -> None:
    env = {**os.environ, "PYTHONUNBUFFERED": "1"}
    process = await trio.lowlevel.open_process(
        [sys.executable, "-c", SCRIPT],
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        cwd=ROOT,
        env=env,
    )
    assert process.stdout is not None
    assert process.stderr is not None
    output = b""
    stderr = b""
    try:
        with trio.fail_after(10):
            while b"Token" not in output:
                chunk = await process.stdout.receive_some()
                assert chunk, f"exited early: {output.decode()}"
                output += chunk
            lines = output.decode().splitlines()
            assert "Aries simulator listening:" in lines
            rest_line = next(line for line in lines if line.strip().startswith("REST"))
            rest_base = rest_line.split()[-1]
            assert rest_base.startswith("http://127.0.0.1:")
            assert any("ws://127.0.0.1:" in line and "/v1/accounts/ws" in line for line in lines)
            assert any(line.split()[-1] == "sim-access-token" for line in lines if "Token" in line)
            async with httpx.AsyncClient(base_url=rest_base) as http:
                response = await http.post("/v1/orders", json={})
            assert response.status_code == 401
            process.send_signal(signal.SIGINT)
            async with trio.open_nursery() as nursery:

                async def drain_stderr() -> None:
                    nonlocal stderr
                    assert process.stderr is not None
                    while chunk := await process.stderr.receive_some():
                        stderr += chunk

                nursery.start_soon(drain_stderr)
                while await process.stdout.receive_some():
                    pass
                code = await process.wait()
    finally:
        if process.returncode is None:
            process.kill()
            await process.wait()
    assert code == 0
    assert b"Traceback" not in stderr, stderr.decode()
