"""``aries-engine replay`` as a user runs it: a real process, its output and its exit status."""

from __future__ import annotations

import hashlib
import os
import subprocess
import sys
from pathlib import Path

from engine.config import EngineConfig
from tests.replay.conftest import SESSION_TOML

ROOT = Path(__file__).resolve().parents[2]


def run_cli(*args: str, scratch: Path) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [sys.executable, "-m", "engine", *args],
        cwd=ROOT,
        capture_output=True,
        text=True,
        timeout=120,
        check=False,
        env={**os.environ, "XDG_DATA_HOME": str(scratch)},
    )


def test_replay_prints_the_same_summary_every_time(
    recorded_session: tuple[Path, EngineConfig], tmp_path: Path
) -> None:
    journal, _ = recorded_session
    config = tmp_path / "engine.toml"
    config.write_text(SESSION_TOML)
    out = tmp_path / "intents.jsonl"
    args = ("replay", str(journal), "--config", str(config), "--out", str(out), "--show", "2")
    first = run_cli(*args, scratch=tmp_path)
    written = out.read_bytes()
    second = run_cli(*args, scratch=tmp_path)
    assert first.returncode == 0, first.stderr
    assert second.returncode == 0, second.stderr
    assert first.stdout == second.stdout
    assert out.read_bytes() == written
    lines = first.stdout.splitlines()
    assert lines[0] == f"replay of {journal} with {config}"
    assert "commands: 4" in lines
    assert any(
        line.startswith("  touch-quoter: 4 submits (AAPL BUY 2, AAPL SELL 2)") for line in lines
    )
    assert "    … 2 more (--show N, or --out FILE.jsonl)" in lines
    assert "    the live run recorded the same 4 command(s)" in lines
    assert "verdicts: 4 approved, 0 rejected, 0 held" in lines
    digest = hashlib.sha256(written).hexdigest()
    assert f"digest sha256:{digest} (4 commands)" in lines
    assert lines[-1] == f"wrote 4 commands to {out}"
    assert len(written.splitlines()) == 4


def test_replay_usage_errors_exit_2_with_one_line(
    recorded_session: tuple[Path, EngineConfig], tmp_path: Path
) -> None:
    journal, _ = recorded_session
    config = tmp_path / "engine.toml"
    config.write_text(SESSION_TOML)

    missing = run_cli(
        "replay", str(tmp_path / "nope.sqlite"), "--config", str(config), scratch=tmp_path
    )
    assert missing.returncode == 2
    assert (
        missing.stderr.strip()
        == f"aries-engine replay: {tmp_path / 'nope.sqlite'}: no such journal file"
    )

    garbage = tmp_path / "garbage.sqlite"
    garbage.write_text("not a journal\n" * 200)
    foreign = run_cli("replay", str(garbage), "--config", str(config), scratch=tmp_path)
    assert foreign.returncode == 2
    assert "not a readable journal" in foreign.stderr

    unknown = run_cli(
        "replay", str(journal), "--config", str(config), "--strategy", "nope", scratch=tmp_path
    )
    assert unknown.returncode == 2
    assert "--strategy nope: not in the config's [[strategies]] (configured: touch-quoter)" in (
        unknown.stderr
    )

    no_config = run_cli(
        "replay", str(journal), "--config", str(tmp_path / "x.toml"), scratch=tmp_path
    )
    assert no_config.returncode == 2
    assert "x.toml: file not found" in no_config.stderr

    bad_tag = run_cli("replay", str(journal), "--run-tag", "a-b", scratch=tmp_path)
    assert bad_tag.returncode == 2


def test_replay_help_explains_what_is_replayed(tmp_path: Path) -> None:
    result = run_cli("replay", "--help", scratch=tmp_path)
    assert result.returncode == 0
    text = " ".join(result.stdout.split())
    assert "this is not a backtest" in text
    assert "belong to the live run's orders, not to the replayed ones" in text
    assert "exit status:" in text
