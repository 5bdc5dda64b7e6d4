"""Fixtures of the fault scenarios, and the table of their results printed at the end of the run.

A scenario test takes ``clock`` (virtual time; pytest-trio takes the clock only from the test's
own arguments) and ``fault_token``, and runs ``open_fault_rig`` from ``tests.faults.rig`` (the
kill-and-restart scenarios bring their own clock and engine process, see
``test_kill_restart.py``). Each test reports under the name ``scenario_name`` gives it (its
parameter id, else its name); a scenario marked ``xfail`` for an engine bug shows as such.
"""

from __future__ import annotations

import pytest
import trio.testing

from tests.faults.rig import TOKEN_ENV

NOT_SCENARIOS = ("test_invariants.py",)
"""Test modules here that check the harness rather than the engine (left out of the table)."""
_RESULTS: dict[str, tuple[str, float]] = {}
_DESELECTED: list[str] = []


@pytest.fixture
def clock() -> trio.testing.MockClock:
    """Virtual time that jumps only after 10 ms of real idleness, so a frame in flight on
    loopback is never overtaken by a timer."""
    return trio.testing.MockClock(autojump_threshold=0.01)


@pytest.fixture
def fault_token(monkeypatch: pytest.MonkeyPatch) -> str:
    """The simulator's default access token, where the engine's config says to read it."""
    from engine.sim import SimConfig

    token = SimConfig().token
    monkeypatch.setenv(TOKEN_ENV, token)
    return token


def scenario_name(nodeid: str) -> str:
    """``test_matrix[reset-auth]`` → ``reset × auth``; otherwise the test's name."""
    name = nodeid.rsplit("::", 1)[-1]
    if "[" in name:
        return name[name.index("[") + 1 : -1].replace("-", " × ", 1)
    return name.removeprefix("test_").replace("_", " ")


def _is_scenario(nodeid: str) -> bool:
    path = nodeid.split("::", 1)[0]
    return "tests/faults/" in path and not path.endswith(NOT_SCENARIOS)


def pytest_runtest_logreport(report: pytest.TestReport) -> None:
    """Keep each scenario's outcome for the table."""
    if not _is_scenario(report.nodeid):
        return
    name = scenario_name(report.nodeid)
    xfail = hasattr(report, "wasxfail")
    if report.when == "call":
        if xfail:
            result = "XFAIL (engine bug)" if report.skipped else "XPASS"
        else:
            result = {"passed": "PASS", "failed": "FAIL", "skipped": "SKIP"}[report.outcome]
        _RESULTS[name] = (result, report.duration)
    elif report.outcome != "passed" and name not in _RESULTS:  # setup/teardown went wrong
        _RESULTS[name] = ("SKIP" if report.skipped else "ERROR", report.duration)


def pytest_deselected(items: list[pytest.Item]) -> None:
    """Count the scenarios left out of this run (the slow ones, by default)."""
    _DESELECTED.extend(scenario_name(item.nodeid) for item in items if _is_scenario(item.nodeid))


def pytest_terminal_summary(terminalreporter: pytest.TerminalReporter) -> None:
    """Print the table (scenario, result) of the fault scenarios that ran."""
    if not _RESULTS:
        return
    width = max(len(name) for name in _RESULTS)
    terminalreporter.section("fault scenarios")
    terminalreporter.write_line(f"{'scenario'.ljust(width)}  result              real s")
    for name, (result, seconds) in _RESULTS.items():
        terminalreporter.write_line(f"{name.ljust(width)}  {result.ljust(18)}  {seconds:6.2f}")
    if _DESELECTED:
        terminalreporter.write_line(
            f"({len(_DESELECTED)} more scenarios not run: slow ones run with `-m slow`)"
        )
