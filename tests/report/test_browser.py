"""The report opens and renders in headless Chromium, offline.

Skipped where Chromium is not installed (CI): ``scripts/check_report.sh`` is the same check by
hand. Chromium runs with its own profile under ``tmp_path`` and a file:// URL, so it touches
nothing outside the test and needs no network.
"""

from __future__ import annotations

import re
import shutil
import struct
import subprocess
from pathlib import Path

import pytest
import trio

from engine.report import write_report
from tests.report.conftest import session_events, write_journal

CHROMIUM = shutil.which("chromium") or (
    "/usr/bin/chromium" if Path("/usr/bin/chromium").exists() else None
)
WINDOW = (1280, 1600)

pytestmark = pytest.mark.skipif(
    CHROMIUM is None,
    reason="headless Chromium is not installed (Debian: apt-get install chromium); "
    "scripts/check_report.sh documents the same check by hand",
)


async def chromium(profile: Path, *args: str) -> subprocess.CompletedProcess[bytes]:
    assert CHROMIUM is not None
    command = [
        CHROMIUM,
        "--headless",
        "--disable-gpu",
        "--no-sandbox",
        "--hide-scrollbars",
        "--disable-dev-shm-usage",
        f"--user-data-dir={profile}",
        *args,
    ]
    with trio.fail_after(120):
        return await trio.run_process(command, capture_stdout=True, capture_stderr=True)


async def screenshot(page: Path, png: Path, profile: Path) -> bytes:
    width, height = WINDOW
    await chromium(profile, f"--screenshot={png}", f"--window-size={width},{height}", page.as_uri())
    return await trio.Path(png).read_bytes()


def png_size(data: bytes) -> tuple[int, int]:
    assert data[:8] == b"\x89PNG\r\n\x1a\n", "not a PNG"
    assert data[12:16] == b"IHDR"
    width, height = struct.unpack(">II", data[16:24])
    return width, height


async def test_report_renders_in_headless_chromium(tmp_path: Path) -> None:
    journal = await write_journal(tmp_path / "journal.sqlite", session_events())
    report = tmp_path / "report.html"
    write_report(journal, report)

    # The DOM Chromium built: the chart and tables are there, and the journal's markup stayed
    # text (no <script> or <img> element came out of a rejection reason).
    dom = (await chromium(tmp_path / "profile", "--dump-dom", report.as_uri())).stdout.decode()
    assert '<polyline class="series"' in dom
    assert len(re.findall(r"<tr>", dom)) >= 6 + 2 + 3 + 2
    assert "<script" not in dom.lower()
    assert "<img" not in dom.lower()
    assert "&lt;script&gt;" in dom

    # The screenshot: a PNG of the window, far richer than a blank page's.
    png = await screenshot(report, tmp_path / "report.png", tmp_path / "profile")
    assert png_size(png) == WINDOW
    blank_page = tmp_path / "blank.html"
    await trio.Path(blank_page).write_text("<!DOCTYPE html><html><body></body></html>")
    blank = await screenshot(blank_page, tmp_path / "blank.png", tmp_path / "profile")
    assert png_size(blank) == WINDOW
    assert len(png) > 4 * len(blank), (len(png), len(blank))
