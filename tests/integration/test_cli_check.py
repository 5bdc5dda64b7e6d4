"""``aries-engine check`` and the command line's help, as a user runs them: a real process."""

from __future__ import annotations

import argparse
import os
import subprocess
import sys
import textwrap
from pathlib import Path

import pytest

from engine.cli import _parser

ROOT = Path(__file__).resolve().parents[2]
COMMAND = [sys.executable, "-m", "engine"]
CLIENT_SECRET = "cl1ent-s3cret-value-for-test"
REFRESH_TOKEN = "r3fresh-t0ken-value-for-test"
ACCESS_TOKEN = "acc3ss-t0ken-value-for-test"
SECRETS = (CLIENT_SECRET, REFRESH_TOKEN, ACCESS_TOKEN)
CREDENTIAL_VARIABLES = (
    "ARIES_ACCESS_TOKEN",
    "ARIES_CLIENT_SECRET",
    "ARIES_REFRESH_TOKEN",
    "CHECK_TEST_TOKEN",
)


@pytest.fixture
def data_home(tmp_path: Path) -> Path:
    """``$XDG_DATA_HOME`` of the process: the default journal goes there (never into $HOME)."""
    home = tmp_path / "xdg-data"
    home.mkdir()
    return home


def check(
    config: str | Path,
    data_home: Path,
    *,
    env: dict[str, str] | None = None,
    pythonpath: Path | None = None,
) -> subprocess.CompletedProcess[str]:
    """Run ``aries-engine check CONFIG`` with no credential in the environment but ``env``'s."""
    environment = {k: v for k, v in os.environ.items() if k not in CREDENTIAL_VARIABLES}
    environment["XDG_DATA_HOME"] = str(data_home)
    if pythonpath is not None:
        environment["PYTHONPATH"] = os.pathsep.join([str(pythonpath), str(ROOT)])
    environment.update(env or {})
    return subprocess.run(
        [*COMMAND, "check", str(config)],
        cwd=ROOT,
        capture_output=True,
        text=True,
        timeout=60,
        check=False,
        env=environment,
    )


def problems(result: subprocess.CompletedProcess[str]) -> list[str]:
    """The problem lines ``check`` printed on stderr."""
    return [line for line in result.stderr.splitlines() if line.startswith("aries-engine: ")]


def assert_no_secret(result: subprocess.CompletedProcess[str]) -> None:
    output = result.stdout + result.stderr
    for secret in SECRETS:
        assert secret not in output


def write_config(tmp_path: Path, text: str) -> Path:
    path = tmp_path / "engine.toml"
    path.write_text(textwrap.dedent(text))
    return path


LIVE_WITH_STORE = """\
[[accounts]]
id = "ACC-1"
[venue]
kind = "aries"
[venue.oauth]
client_id = "cid"
refresh_token_store = "{store}"
"""


# --- the shipped configurations --------------------------------------------------------------


def test_check_of_the_shipped_engine_toml_prints_the_summary_and_creates_nothing(
    data_home: Path,
) -> None:
    result = check("engine.toml", data_home)
    assert result.returncode == 0, result.stderr
    out = result.stdout
    assert "built-in simulator" in out
    assert "none needed" in out  # no credentials for the simulator
    assert "touch-quoter" in out
    assert "strategies.touch_quoter:TouchQuoter" in out
    assert "account SIM-001" in out
    for plugin in ("buying-power", "margin", "order-size", "daily-loss", "account-rules"):
        assert plugin in out
    journal = data_home / "aries-engine" / "simulator-journal.sqlite"
    assert f"{journal} (will be created" in out
    assert "10 requests/s (burst 20) for all accounts, 5/s (burst 10) per account" in out
    assert out.rstrip().endswith("engine.toml: OK, ready to run")
    assert problems(result) == []
    assert list(data_home.iterdir()) == []  # the journal (and its directory) not created


def test_check_of_engine_live_toml_passes_with_the_credentials_set(data_home: Path) -> None:
    result = check(
        "engine.live.toml",
        data_home,
        env={"ARIES_CLIENT_SECRET": CLIENT_SECRET, "ARIES_REFRESH_TOKEN": REFRESH_TOKEN},
    )
    assert result.returncode == 0, result.stderr
    assert "Aries: REST https://api.aries.com, WebSocket wss://api.aries.com" in result.stdout
    assert "client secret from $ARIES_CLIENT_SECRET (set)" in result.stdout
    assert "refresh token from $ARIES_REFRESH_TOKEN (set)" in result.stdout
    assert "pattern-day-trader" in result.stdout
    assert result.stdout.rstrip().endswith("engine.live.toml: OK, ready to run")
    assert_no_secret(result)


def test_check_of_engine_live_toml_fails_without_them_naming_each_variable(
    data_home: Path,
) -> None:
    result = check("engine.live.toml", data_home)
    assert result.returncode == 2
    lines = problems(result)
    assert len(lines) == 2
    assert (
        "venue.oauth.client_secret_env: environment variable ARIES_CLIENT_SECRET is not set"
        in (lines[0])
    )
    assert "venue.oauth.refresh_token_env: environment variable ARIES_REFRESH_TOKEN" in lines[1]
    assert "NOT ready to run: 2 problems" in result.stdout


def test_with_one_secret_set_its_value_is_never_printed(data_home: Path) -> None:
    result = check("engine.live.toml", data_home, env={"ARIES_CLIENT_SECRET": CLIENT_SECRET})
    assert result.returncode == 2
    [line] = problems(result)
    assert "ARIES_REFRESH_TOKEN is not set" in line
    assert "$ARIES_CLIENT_SECRET (set)" in result.stdout
    assert_no_secret(result)


# --- credentials -----------------------------------------------------------------------------


def test_a_fixed_access_token_is_looked_up_by_name(tmp_path: Path, data_home: Path) -> None:
    config = write_config(
        tmp_path,
        """\
        [[accounts]]
        id = "ACC-1"
        [venue]
        kind = "aries"
        access_token_env = "CHECK_TEST_TOKEN"
        """,
    )
    missing = check(config, data_home)
    assert missing.returncode == 2
    assert problems(missing) == [
        "aries-engine: venue.access_token_env: environment variable CHECK_TEST_TOKEN is not set "
        "(needed for venue.kind = 'aries')"
    ]
    present = check(config, data_home, env={"CHECK_TEST_TOKEN": ACCESS_TOKEN})
    assert present.returncode == 0, present.stderr
    assert "access token from $CHECK_TEST_TOKEN (set)" in present.stdout
    assert "no [[plugins]]" in present.stdout  # a note, not a failure
    assert_no_secret(present)


def test_a_private_refresh_token_store_stands_in_for_the_variable(
    tmp_path: Path, data_home: Path
) -> None:
    store = tmp_path / "refresh-token"
    store.write_text(REFRESH_TOKEN + "\n")
    store.chmod(0o600)
    config = write_config(tmp_path, LIVE_WITH_STORE.format(store=store))
    result = check(config, data_home, env={"ARIES_CLIENT_SECRET": CLIENT_SECRET})
    assert result.returncode == 0, result.stderr
    assert f"refresh token from {store} (private file" in result.stdout
    assert_no_secret(result)


def test_a_refresh_token_store_readable_by_others_is_refused(
    tmp_path: Path, data_home: Path
) -> None:
    store = tmp_path / "refresh-token"
    store.write_text(REFRESH_TOKEN + "\n")
    store.chmod(0o644)
    config = write_config(tmp_path, LIVE_WITH_STORE.format(store=store))
    result = check(
        config,
        data_home,
        env={"ARIES_CLIENT_SECRET": CLIENT_SECRET, "ARIES_REFRESH_TOKEN": REFRESH_TOKEN},
    )
    assert result.returncode == 2
    [line] = problems(result)
    assert line.startswith("aries-engine: venue.oauth.refresh_token_store: ")
    assert "mode 0644" in line
    assert f"chmod 600 {store}" in line
    assert_no_secret(result)


def test_a_refresh_token_store_in_a_missing_directory_is_refused(
    tmp_path: Path, data_home: Path
) -> None:
    store = tmp_path / "no-such-dir" / "refresh-token"
    config = write_config(tmp_path, LIVE_WITH_STORE.format(store=store))
    result = check(
        config,
        data_home,
        env={"ARIES_CLIENT_SECRET": CLIENT_SECRET, "ARIES_REFRESH_TOKEN": REFRESH_TOKEN},
    )
    assert result.returncode == 2
    assert problems(result) == [
        f"aries-engine: venue.oauth.refresh_token_store: directory {store.parent} does not "
        f"exist: create it (mkdir -m 700 {store.parent}) so that rotated refresh tokens can be "
        "saved"
    ]
    assert not store.parent.exists()


def test_a_missing_ca_file_is_a_problem(tmp_path: Path, data_home: Path) -> None:
    config = write_config(
        tmp_path,
        f"""\
        [[accounts]]
        id = "ACC-1"
        [venue]
        kind = "aries"
        access_token_env = "CHECK_TEST_TOKEN"
        ca_file = "{tmp_path / "missing-ca.pem"}"
        """,
    )
    result = check(config, data_home, env={"CHECK_TEST_TOKEN": ACCESS_TOKEN})
    assert result.returncode == 2
    assert problems(result) == [
        f"aries-engine: venue.ca_file: {tmp_path / 'missing-ca.pem'} does not exist"
    ]


def test_a_literal_secret_in_the_file_is_refused_without_printing_it(
    tmp_path: Path, data_home: Path
) -> None:
    config = write_config(
        tmp_path,
        f"""\
        [[accounts]]
        id = "ACC-1"
        [venue]
        kind = "aries"
        access_token = "{ACCESS_TOKEN}"
        """,
    )
    result = check(config, data_home)
    assert result.returncode == 2
    [line] = problems(result)
    assert line.startswith(
        f"aries-engine: {config}: venue.access_token: secrets are not accepted in the config file"
    )
    assert "venue.access_token_env" in line
    assert_no_secret(result)


# --- the journal path ------------------------------------------------------------------------


def test_a_journal_path_that_cannot_be_created_is_a_problem(
    tmp_path: Path, data_home: Path
) -> None:
    blocker = tmp_path / "a-file"
    blocker.write_text("")
    journal = blocker / "journal.sqlite"
    config = write_config(
        tmp_path, f'[[accounts]]\nid = "SIM-001"\n[journal]\npath = "{journal}"\n'
    )
    result = check(config, data_home)
    assert result.returncode == 2
    assert problems(result) == [
        f"aries-engine: journal.path: {journal}: cannot be created: {blocker} is not a directory"
    ]


def test_an_existing_file_that_is_not_a_journal_is_a_problem(
    tmp_path: Path, data_home: Path
) -> None:
    journal = tmp_path / "journal.sqlite"
    journal.write_text("not a database")
    config = write_config(
        tmp_path, f'[[accounts]]\nid = "SIM-001"\n[journal]\npath = "{journal}"\n'
    )
    result = check(config, data_home)
    assert result.returncode == 2
    [line] = problems(result)
    assert line.startswith(f"aries-engine: journal.path: {journal}: is not an SQLite journal")
    assert journal.read_text() == "not a database"  # only looked at


def test_a_journal_in_a_new_directory_is_fine_and_not_created(
    tmp_path: Path, data_home: Path
) -> None:
    journal = tmp_path / "new" / "dirs" / "journal.sqlite"
    config = write_config(
        tmp_path, f'[[accounts]]\nid = "SIM-001"\n[journal]\npath = "{journal}"\n'
    )
    result = check(config, data_home)
    assert result.returncode == 0, result.stderr
    assert f"{journal} (will be created; rows kept 7 days)" in result.stdout
    assert not (tmp_path / "new").exists()


def test_a_disabled_journal_is_shown_as_off(tmp_path: Path, data_home: Path) -> None:
    config = write_config(tmp_path, '[[accounts]]\nid = "SIM-001"\n[journal]\nenabled = false\n')
    result = check(config, data_home)
    assert result.returncode == 0, result.stderr
    assert "journal      off" in result.stdout


# --- configuration and plugin errors ---------------------------------------------------------


def test_config_errors_exit_2_with_one_line_each_and_no_summary(
    tmp_path: Path, data_home: Path
) -> None:
    config = write_config(
        tmp_path,
        """\
        [[accounts]]
        id = "SIM-001"
        [engine]
        timer_interval = 0
        [dispatch]
        account_rate = "fast"
        [[plugins]]
        name = "bp"
        path = "plugins.buying_power:BuyingPowerCheck"
        [plugins.config]
        headroom = "-1"
        """,
    )
    result = check(config, data_home)
    assert result.returncode == 2
    assert sorted(problems(result)) == sorted(
        [
            f"aries-engine: {config}: engine.timer_interval: expected a number greater than 0",
            f"aries-engine: {config}: dispatch.account_rate: expected a number, got str 'fast'",
        ]
    )
    assert "venue" not in result.stdout  # no summary of a config that does not load
    assert "Traceback" not in result.stderr


def test_a_bad_plugin_config_is_a_problem_and_the_summary_still_shows(
    tmp_path: Path, data_home: Path
) -> None:
    config = write_config(
        tmp_path,
        """\
        [[accounts]]
        id = "SIM-001"
        [[plugins]]
        name = "bp"
        path = "plugins.buying_power:BuyingPowerCheck"
        [plugins.config]
        headroom = "-1"
        market_buffer_pct = "200"
        """,
    )
    result = check(config, data_home)
    assert result.returncode == 2
    assert problems(result) == [
        "aries-engine: plugin 'bp': config.headroom: expected a number >= 0, got -1",
        "aries-engine: plugin 'bp': config.market_buffer_pct: expected a percentage from 0 to "
        "100, got 200",
    ]
    assert "bp  plugins.buying_power:BuyingPowerCheck" in result.stdout


PLUGIN_MODULE = """\
from engine import hookimpl


class RaisesOnConfigure:
    @hookimpl
    def aries_configure(self, config):
        raise RuntimeError("no way")


class MisspeltHook:
    @hookimpl
    def aries_on_qoute(self, quote):
        pass
"""


@pytest.mark.parametrize(
    ("path", "expected"),
    [
        ("no_such_module:Plugin", "plugin 'p': cannot import 'no_such_module'"),
        ("check_plugins:Missing", "plugin 'p': module 'check_plugins' has no attribute 'Missing'"),
        (
            "check_plugins:RaisesOnConfigure",
            "plugin 'p': aries_configure raised RuntimeError('no way')",
        ),
        ("check_plugins:MisspeltHook", "plugin 'p': unknown hook(s) aries_on_qoute"),
    ],
)
def test_every_plugin_is_imported_registered_and_configured(
    tmp_path: Path, data_home: Path, path: str, expected: str
) -> None:
    (tmp_path / "check_plugins.py").write_text(PLUGIN_MODULE)
    config = write_config(
        tmp_path, f'[[accounts]]\nid = "SIM-001"\n[[plugins]]\nname = "p"\npath = "{path}"\n'
    )
    result = check(config, data_home, pythonpath=tmp_path)
    assert result.returncode == 2
    [line] = problems(result)
    assert line.startswith(f"aries-engine: {expected}")
    assert "Traceback" not in result.stderr


def test_a_missing_config_file_exits_2(tmp_path: Path, data_home: Path) -> None:
    result = check(tmp_path / "missing.toml", data_home)
    assert result.returncode == 2
    assert problems(result) == [f"aries-engine: {tmp_path / 'missing.toml'}: file not found"]


# --- help and usage --------------------------------------------------------------------------


def run_cli(*args: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [*COMMAND, *args],
        cwd=ROOT,
        capture_output=True,
        text=True,
        timeout=60,
        check=False,
        env={**os.environ, "COLUMNS": "100"},
    )


def subparsers() -> dict[str, argparse.ArgumentParser]:
    """The parser of each subcommand, from the real command line."""
    for action in _parser()._actions:
        if isinstance(action, argparse._SubParsersAction):
            return dict(action.choices)
    raise AssertionError("aries-engine has no subcommands")


def options(parser: argparse.ArgumentParser) -> dict[str, str | None]:
    """A subcommand's options (``--duration``) and positionals (``CONFIG``) and their help."""
    return {
        action.option_strings[0] if action.option_strings else str(action.metavar): action.help
        for action in parser._actions
        if action.dest != "help"
    }


def test_top_level_help_names_every_command_and_option_and_the_exit_codes() -> None:
    result = run_cli("--help")
    assert result.returncode == 0
    commands = subparsers()
    assert {"run", "check", "sim"} <= set(commands)
    for name, parser in commands.items():
        assert f"aries-engine {name}" in result.stdout
        for word in options(parser):
            assert word in result.stdout, f"{name} {word} missing from aries-engine --help"
    for status in ("0  success", "1  runtime failure", "2  usage or configuration error"):
        assert status in result.stdout


@pytest.mark.parametrize("command", ["run", "check", "sim"])
def test_each_command_help_documents_every_option(command: str) -> None:
    result = run_cli(command, "--help")
    assert result.returncode == 0
    for word, help_text in options(subparsers()[command]).items():
        assert word in result.stdout
        assert help_text, f"{command} {word} has no help text"
    assert "exit status:" in result.stdout


def test_run_help_still_offers_its_options() -> None:
    out = run_cli("run", "--help").stdout
    for option in ("--duration SECONDS", "--log-format", "--log-level", "CONFIG"):
        assert option in out


@pytest.mark.parametrize("args", [("check",), ("frobnicate",), ()])
def test_usage_errors_exit_2(args: tuple[str, ...]) -> None:
    result = run_cli(*args)
    assert result.returncode == 2
    assert "usage: aries-engine" in result.stderr
