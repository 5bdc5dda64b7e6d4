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


ACCOUNTS_TOML = """
[oauth]
client_id = "my-client"

[[users]]
user_id = "alice"
access_token = "alice-token"

[[users.accounts]]
account_id = "ALICE-1"
cash = "50000"
pattern_day_trader = true

[[users.accounts.positions]]
symbol = "AAPL"
quantity = "10"
avg_price = "170.25"

[[users]]
user_id = "bob"

[[users.accounts]]
account_id = "BOB-CASH"
account_type = "CASH"
options_level = "LEVEL_0"
"""


def test_accounts_file_defines_users_and_accounts(tmp_path: Path) -> None:
    from decimal import Decimal

    from engine.sim._standalone import load_accounts_file

    path = tmp_path / "accounts.toml"
    path.write_text(ACCOUNTS_TOML)
    config = load_accounts_file(path)
    assert (config.default_user_id, config.token) == ("alice", "alice-token")
    assert config.accounts[0].account_id == "ALICE-1"
    assert config.accounts[0].cash == Decimal(50000)
    assert config.accounts[0].pattern_day_trader
    assert config.accounts[0].positions[0].avg_price == Decimal("170.25")
    assert config.oauth_client_id == "my-client"
    (bob,) = config.users
    assert bob.access_token == "sim-token-bob"
    assert bob.accounts[0].options_level == "LEVEL_0"
    assert [a.account_id for a in config.all_accounts] == ["ALICE-1", "BOB-CASH"]


def test_bad_accounts_files_name_the_problem(tmp_path: Path) -> None:
    import pytest

    from engine.sim._standalone import AccountsFileError, load_accounts_file

    cases = {
        "users = 3": "expected at least one [[users]]",
        '[[users]]\nuser_id = "a"\n': "expected at least one [[users.accounts]]",
        '[[users]]\nuser_id = "a"\n[[users.accounts]]\naccount_id = "X"\ncolour = 1\n': "colour",
        '[[users]]\nuser_id = "a"\n[[users.accounts]]\naccount_id = "X"\ncash = 1.5\n': "cash",
        '[[users]]\nuser_id = "a"\n[[users.accounts]]\naccount_id = "X"\n'
        '[[users]]\nuser_id = "b"\n[[users.accounts]]\naccount_id = "X"\n': "unique",
        "not toml [": "accounts.toml",
    }
    for text, fragment in cases.items():
        path = tmp_path / "accounts.toml"
        path.write_text(text)
        with pytest.raises(AccountsFileError, match=fragment.replace("[", r"\[")):
            load_accounts_file(path)
    with pytest.raises(AccountsFileError, match="file not found"):
        load_accounts_file(tmp_path / "missing.toml")


async def test_cli_sim_serves_the_accounts_file_and_logs_orders(tmp_path: Path) -> None:
    path = tmp_path / "accounts.toml"
    path.write_text(ACCOUNTS_TOML)
    env = {**os.environ, "PYTHONUNBUFFERED": "1"}
    process = await trio.lowlevel.open_process(
        [sys.executable, "-m", "engine", "sim", "--accounts", str(path), "--session-seconds",
         "60", "--seed", "3"],
        stdout=subprocess.PIPE,
        stderr=subprocess.STDOUT,
        cwd=ROOT,
        env=env,
    )  # fmt: skip
    assert process.stdout is not None
    output = b""
    try:
        with trio.fail_after(15):
            while b"Press Ctrl-C" not in output:
                chunk = await process.stdout.receive_some()
                assert chunk, f"exited early: {output.decode()}"
                output += chunk
            lines = output.decode().splitlines()
            tokens = [line.split()[-1] for line in lines if line.strip().startswith("Token")]
            assert tokens == ["alice-token", "sim-token-bob"]
            accounts = [line.split()[-1] for line in lines if line.strip().startswith("Account ")]
            assert accounts == ["ALICE-1", "BOB-CASH"]
            rest_base = next(ln for ln in lines if ln.strip().startswith("REST")).split()[-1]
            async with httpx.AsyncClient(
                base_url=rest_base, headers={"Authorization": "Bearer sim-token-bob"}
            ) as http:
                body = {
                    "tradingAccountId": "BOB-CASH", "symbol": "AAPL", "side": "BUY",
                    "type": "LIMIT", "price": "1.00", "qty": "1", "timeInForce": "DAY",
                }  # fmt: skip
                response = await http.post("/v1/orders", json=body)
            assert response.json()["success"] is True
            while b"sim.order.placed" not in output:
                chunk = await process.stdout.receive_some()
                assert chunk, output.decode()
                output += chunk
            process.send_signal(signal.SIGINT)
            while chunk := await process.stdout.receive_some():
                output += chunk
            assert await process.wait() == 0
    finally:
        if process.returncode is None:
            process.kill()
            await process.wait()
    assert b"Traceback" not in output, output.decode()


def test_cli_sim_reports_a_bad_accounts_file_with_exit_2(tmp_path: Path) -> None:
    path = tmp_path / "accounts.toml"
    path.write_text("users = 3")
    result = subprocess.run(
        [sys.executable, "-m", "engine", "sim", "--accounts", str(path)],
        cwd=ROOT,
        capture_output=True,
        text=True,
        timeout=60,
        check=False,
    )
    assert result.returncode == 2
    assert result.stderr.startswith("aries-engine: ")
    assert "Traceback" not in result.stderr
