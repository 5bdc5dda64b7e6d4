"""The journal holds every frame, order and fill of the accounts: only its owner may read it."""

from __future__ import annotations

import os
import stat
from collections.abc import Iterator
from pathlib import Path

import pytest

from tests.integration.conftest import engine_config, running_engine


@pytest.fixture
def usual_umask() -> Iterator[None]:
    """The common default umask (022: new files 0644), whatever the test runner's is."""
    previous = os.umask(0o022)
    try:
        yield
    finally:
        os.umask(previous)


def file_modes(directory: Path) -> dict[str, int]:
    """The permission bits of each file in ``directory``, by name."""
    return {path.name: stat.S_IMODE(path.stat().st_mode) for path in directory.iterdir()}


@pytest.mark.usefixtures("usual_umask")
async def test_the_journal_is_created_0600(tmp_path: Path) -> None:
    journal = tmp_path / "journal.sqlite"
    async with running_engine(engine_config(journal={"path": str(journal)})):
        modes = file_modes(tmp_path)  # while it runs: SQLite's -wal and -shm files are there too
    assert {"journal.sqlite", "journal.sqlite-wal", "journal.sqlite-shm"} <= modes.keys()
    assert modes == dict.fromkeys(modes, 0o600)
