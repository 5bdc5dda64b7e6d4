"""The ``aries-engine`` command as a user runs it: a real process, real sockets, real signals."""

from __future__ import annotations

import json
import os
import signal
import socket
import subprocess
import sys
import tempfile
from pathlib import Path

import trio

ROOT = Path(__file__).resolve().parents[2]
COMMAND = [sys.executable, "-m", "engine"]


SCRATCH = tempfile.mkdtemp(prefix="aries-engine-cli-")
ENV = {
    **os.environ,
    "XDG_DATA_HOME": SCRATCH,  # the journal goes there, not into $HOME
    "ARIES_TEST_TOKEN": "t0ken-for-test",  # for REMOTE_VENUE
}


# A venue the engine never reaches: these tests stop before anything connects. (The built-in
# simulator starts empty every run, so its journal is never restored and never checked.)
REMOTE_VENUE = """[[accounts]]
id = "ACC-1"
[venue]
kind = "aries"
rest_base = "http://127.0.0.1:9"
ws_base = "ws://127.0.0.1:9"
access_token_env = "ARIES_TEST_TOKEN"
"""


def run_cli(*args: str, cwd: Path = ROOT) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [*COMMAND, *args],
        cwd=cwd,
        capture_output=True,
        text=True,
        timeout=60,
        check=False,
        env=ENV,
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
    assert "Traceback" not in result.stderr
    lines = [json.loads(line) for line in result.stderr.splitlines() if line.startswith("{")]
    events = [line["event"] for line in lines]
    for expected in (
        "engine.simulator_started",
        "connection.connected",
        "connection.authenticated",
        "connection.subscribed",
        "account.snapshot",
        "market.first_quote",
        "order.sending",
        "order.placed",
        "order.filled",
        "position.changed",
        "balance.changed",
        "engine.stopped",
    ):
        assert expected in events, f"{expected} missing from the log"
    statuses = [line["status"] for line in lines if line["event"] == "order.updated"]
    assert "NEW" in statuses
    assert "FILLED" in statuses
    snapshot = next(line for line in lines if line["event"] == "account.snapshot")
    assert snapshot["stock_buying_power"] == "200000.00"


def test_missing_live_token_exits_2_with_one_line(tmp_path: Path) -> None:
    config = tmp_path / "engine.toml"
    config.write_text(
        '[[accounts]]\nid = "ACC-1"\n[venue]\nkind = "aries"\n'
        'access_token_env = "ARIES_TEST_TOKEN_THAT_IS_NOT_SET"\n'
    )
    result = run_cli("run", str(config))
    assert result.returncode == 2
    assert result.stderr.strip().splitlines() == [
        "aries-engine: venue.access_token_env: environment variable "
        "ARIES_TEST_TOKEN_THAT_IS_NOT_SET is not set (needed for venue.kind = 'aries')"
    ]


def test_duration_also_bounds_a_start_up_that_cannot_connect(tmp_path: Path) -> None:
    with socket.socket() as unused:  # a loopback port with nobody listening
        unused.bind(("127.0.0.1", 0))
        port = unused.getsockname()[1]
    config = tmp_path / "engine.toml"
    config.write_text(
        f'[[accounts]]\nid = "ACC-1"\n[market]\nenabled = false\n[venue]\nkind = "aries"\n'
        f'rest_base = "http://127.0.0.1:{port}"\nws_base = "ws://127.0.0.1:{port}"\n'
        f'access_token_env = "ARIES_TEST_TOKEN"\n'
    )
    result = subprocess.run(
        [*COMMAND, "run", str(config), "--duration", "2", "--log-format", "json"],
        cwd=ROOT,
        capture_output=True,
        text=True,
        timeout=60,
        check=False,
        env={**ENV, "ARIES_TEST_TOKEN": "t0ken-for-test"},
    )
    assert result.returncode == 0, result.stderr[-2000:]
    assert '"event": "connection.retrying"' in result.stderr
    assert '"event": "engine.duration_elapsed"' in result.stderr
    assert "t0ken-for-test" not in result.stderr


async def test_ctrl_c_stops_cleanly_with_status_0() -> None:
    process = await trio.lowlevel.open_process(
        [*COMMAND, "run", "engine.toml", "--log-format", "json"],
        cwd=ROOT,
        stderr=subprocess.PIPE,
        env={**ENV, "PYTHONUNBUFFERED": "1"},
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


def test_no_secret_in_a_whole_debug_session() -> None:
    result = run_cli("run", "engine.toml", "--duration", "4", "--log-level", "debug")
    assert result.returncode == 0, result.stderr[-2000:]
    output = result.stdout + result.stderr
    assert "[debug" in output  # the debug lines were really printed
    assert "order.placed" in output  # and the session traded
    assert "sim-access-token" not in output


def test_an_unreadable_journal_stops_start_up_with_one_actionable_line(tmp_path: Path) -> None:
    journal = tmp_path / "journal.sqlite"
    journal.write_text("not a database")
    config = tmp_path / "engine.toml"
    config.write_text(REMOTE_VENUE + f'[journal]\npath = "{journal}"\n')
    result = run_cli("run", str(config), "--duration", "5", "--log-format", "json")
    assert result.returncode == 1
    [failed] = [
        json.loads(line) for line in result.stderr.splitlines() if '"engine.failed"' in line
    ]
    assert failed["kind"] == "JournalError"
    assert "move it aside" in failed["error"]
    assert "Traceback" not in result.stderr


def test_a_journal_with_a_gap_is_not_trusted_for_a_restore(tmp_path: Path) -> None:
    from engine.journal import JournalGap, JournalWriter

    journal = tmp_path / "journal.sqlite"

    async def write_gap() -> None:
        writer = JournalWriter(journal)
        async with trio.open_nursery() as nursery:
            await nursery.start(writer.run)
            writer.record_event(JournalGap(dropped=7))
            nursery.cancel_scope.cancel()  # the shutdown flush writes it

    trio.run(write_gap)
    config = tmp_path / "engine.toml"
    config.write_text(REMOTE_VENUE + f'[journal]\npath = "{journal}"\n')
    result = run_cli("run", str(config), "--duration", "5", "--log-format", "json")
    assert result.returncode == 1
    [failed] = [
        json.loads(line) for line in result.stderr.splitlines() if '"engine.failed"' in line
    ]
    assert "1 gap(s) (7 records dropped under load)" in failed["error"]


def test_report_writes_one_html_file_and_a_missing_journal_exits_2(tmp_path: Path) -> None:
    from engine.journal import JournalWriter
    from tests.journal.conftest import fill

    journal = tmp_path / "journal.sqlite"

    async def write_fill() -> None:
        writer = JournalWriter(journal)
        async with trio.open_nursery() as nursery:
            await nursery.start(writer.run)
            writer.record_event(fill(1))
            nursery.cancel_scope.cancel()  # the shutdown flush writes it

    trio.run(write_fill)
    out = tmp_path / "out" / "report.html"
    result = run_cli("report", str(journal), "--out", str(out))
    assert result.returncode == 0, result.stderr
    assert result.stdout.startswith(f"wrote {out}")
    assert "1 fills" in result.stdout
    assert "<svg" in out.read_text() or "No P&amp;L data" in out.read_text()
    missing = run_cli("report", str(tmp_path / "nope.sqlite"), "--out", str(out))
    assert missing.returncode == 2
    assert "does not exist" in missing.stderr
