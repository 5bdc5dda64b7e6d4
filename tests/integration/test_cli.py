"""The ``aries-engine`` command as a user runs it: a real process, real sockets, real signals."""

from __future__ import annotations

import os
import signal
import subprocess
import sys
from pathlib import Path

import trio

ROOT = Path(__file__).resolve().parents[2]
COMMAND = [sys.executable, "-m", "engine"]


def run_cli(*args: str, cwd: Path = ROOT) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [*COMMAND, *args], cwd=cwd, capture_output=True, text=True, timeout=60, check=False
    )


def test_missing_config_file_exits_2_with_one_line(tmp_path: Path) -> None:
    result = run_cli("run", str(tmp_path / "missing.toml"))
    assert result.returncode == 2
    assert result.stderr.strip().splitlines() == [
        f"aries-engine: {tmp_path / 'missing.toml'}: file not found"
    ]


def test_unknown_key_and_wrong_type_exit_2_naming_each_key(tmp_path: Path) -> None:
    config = tmp_path / "engine.toml"
    config.write_text(
        '[[accounts]]\nid = "SIM-001"\n[connection]\nping_interval = "often"\n'
        "[engine]\ncolour = 1\n"
    )
    result = run_cli("run", str(config))
    assert result.returncode == 2
    lines = result.stderr.strip().splitlines()
    assert sorted(lines) == sorted(
        [
            f"aries-engine: {config}: engine: unknown key(s): colour",
            f"aries-engine: {config}: connection.ping_interval: expected a number, got str 'often'",
        ]
    )
    assert "Traceback" not in result.stderr


def test_bad_plugin_config_exits_2_naming_the_plugin(tmp_path: Path) -> None:
    config = tmp_path / "engine.toml"
    config.write_text(
        '[[accounts]]\nid = "SIM-001"\n[[strategies]]\nname = "tq"\n'
        'path = "strategies.touch_quoter:TouchQuoter"\n[strategies.config]\nqty = "ten"\n'
    )
    result = run_cli("run", str(config))
    assert result.returncode == 2
    assert "plugin 'tq': config.qty" in result.stderr


def test_run_with_duration_shows_the_whole_flow_and_exits_0() -> None:
    result = run_cli("run", "engine.toml", "--duration", "6", "--log-format", "json")
    assert result.returncode == 0, result.stderr[-3000:]
    events = result.stderr
    for expected in (
        '"event": "engine.simulator_started"',
        '"event": "connection.connected"',
        '"event": "connection.authenticated"',
        '"event": "connection.subscribed"',
        '"event": "account.snapshot"',
        '"event": "market.first_quote"',
        '"event": "order.sending"',
        '"event": "order.placed"',
        '"status": "NEW"',
        '"status": "FILLED"',
        '"event": "position.changed"',
        '"event": "balance.changed"',
        '"event": "engine.stopped"',
    ):
        assert expected in events, f"{expected} missing from the log"
    assert "Traceback" not in events


async def test_ctrl_c_stops_cleanly_with_status_0() -> None:
    process = await trio.lowlevel.open_process(
        [*COMMAND, "run", "engine.toml", "--log-format", "json"],
        cwd=ROOT,
        stderr=subprocess.PIPE,
        env={**os.environ, "PYTHONUNBUFFERED": "1"},
    )
    assert process.stderr is not None
    output = b""
    try:
        with trio.fail_after(30):
            while b'"event": "engine.started"' not in output:
                chunk = await process.stderr.receive_some()
                assert chunk, output.decode()
                output += chunk
            process.send_signal(signal.SIGINT)
            while chunk := await process.stderr.receive_some():
                output += chunk
            await process.wait()
    finally:
        if process.returncode is None:
            process.kill()
            await process.wait()
    text = output.decode()
    assert process.returncode == 0, text[-3000:]
    assert '"event": "engine.stopped"' in text
    assert "Traceback" not in text
