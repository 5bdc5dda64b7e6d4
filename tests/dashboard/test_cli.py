"""``aries-engine run --dashboard`` as a user runs it: a real process, its output and its log."""

from __future__ import annotations

import os
import subprocess
from pathlib import Path

from tests.integration.test_cli import COMMAND, ROOT


def test_run_with_dashboard_exits_0_and_writes_its_log_to_the_data_directory(
    tmp_path: Path,
) -> None:
    result = subprocess.run(
        [*COMMAND, "run", "engine.toml", "--duration", "4", "--dashboard"],
        cwd=ROOT,
        capture_output=True,
        text=True,
        timeout=60,
        check=False,
        env={**os.environ, "XDG_DATA_HOME": str(tmp_path)},
    )
    assert result.returncode == 0, result.stderr
    # stdout is a pipe, not a terminal: the view is printed once, its last frame, at the end.
    assert "aries-engine" in result.stdout
    assert "account SIM-001" in result.stdout
    assert "Last fills (" in result.stdout
    assert "\x1b[" not in result.stdout  # no cursor movement into a file
    # The log: in the file, and on stderr too since nothing is drawn on a terminal.
    log_file = tmp_path / "aries-engine" / "engine.log"
    assert "engine.started" in log_file.read_text()
    assert "engine.started" in result.stderr
    assert "engine.stopped" in result.stderr
