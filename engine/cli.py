"""The ``aries-engine`` command line: ``run``, ``check``, ``replay``, ``report`` and ``sim``
(``--help`` documents each).

Exit codes: 0 success (including Ctrl-C), 1 runtime failure, 2 usage or configuration error
(``check``: any problem it finds).
"""

from __future__ import annotations

import argparse
import os
import sys
import textwrap
from collections.abc import Sequence
from functools import partial
from pathlib import Path
from typing import TYPE_CHECKING

import attrs
import structlog
import trio

from engine.config import (
    LOG_LEVELS,
    AccountSection,
    EngineConfig,
    OAuthSection,
    load_config,
)
from engine.errors import ConfigError, EngineError, PluginError

if TYPE_CHECKING:
    from engine.hooks.manager import LoadedPlugin

EXIT_OK = 0
EXIT_FAILURE = 1
EXIT_USAGE = 2


class _HelpFormatter(argparse.HelpFormatter):
    """Wraps prose paragraphs to the terminal; keeps lists and examples (indented lines, or a
    paragraph introduced by a line ending in a colon) as written."""

    def _fill_text(self, text: str, width: int, indent: str) -> str:
        paragraphs = []
        for paragraph in text.split("\n\n"):
            lines = paragraph.splitlines()
            if any(line[:1].isspace() or line.endswith(":") for line in lines):
                paragraphs.append("\n".join(indent + line for line in lines))
            else:
                paragraphs.append(
                    textwrap.fill(
                        " ".join(lines), width, initial_indent=indent, subsequent_indent=indent
                    )
                )
        return "\n\n".join(paragraphs)


_EXIT_STATUS = """\
exit status:
  0  success (run: a clean stop at the end of --duration, on Ctrl-C or SIGTERM)
  1  runtime failure
  2  usage or configuration error (one line per problem, naming the key)"""

_SIM_EXIT_STATUS = """\
exit status:
  0  a clean stop (Ctrl-C or SIGTERM)
  1  runtime failure (e.g. the port is taken)
  2  usage error, or a bad --accounts file"""

_CHECK_EXIT_STATUS = """\
exit status:
  0  no problem found: ready to run
  1  the check itself failed unexpectedly
  2  a problem in the config, a plugin, a credential or the journal path (one line
     each, naming the key), or a usage error"""

_REPORT_EXIT_STATUS = """\
exit status:
  0  the report was written
  1  it could not be written (e.g. the output directory is read-only)
  2  usage error, or JOURNAL is missing or not a journal"""

_REPLAY_EXIT_STATUS = """\
exit status:
  0  the replay ran to the end of the journal (plugin faults and risk rejections
     are part of the summary, not errors)
  1  it failed on the way (e.g. the journal is damaged further in, or --out cannot
     be written)
  2  usage or config error, a plugin that cannot be loaded, an unknown --strategy,
     or JOURNAL is missing or not a journal"""

_REPLAY_DESCRIPTION = (
    "Re-run the configured strategies and risk plugins over JOURNAL (the SQLite journal of an "
    "earlier run) under a virtual clock, deterministically, and print what they would have "
    "asked for. Nothing is sent anywhere and nothing is filled: this is not a backtest."
    "\n\n"
    "The plugins hear what the live plugins heard, in recording order: the market data of the "
    "recorded frames, then the recorded order updates, fills, rejections, positions, balances, "
    "trading and connection states. Those facts belong to the live run's orders, not to the "
    "replayed ones: a replayed order the live run never placed is never filled or rejected. "
    "The plugins start once every account has synced, as live; aries_on_timer ticks on the "
    "recorded timeline. Each order or replace goes through the trading-state gate and the risk "
    "plugins against the account view the live engine had at that point of the journal. "
    "Client order ids take the live run's tag (read from the journal; --run-tag to choose), so a "
    "deterministic strategy gets back its live ids. A journal that holds several runs is "
    "replayed as one session."
    "\n\n"
    "The summary lists the events delivered by type; for each plugin its orders, cancels, "
    "replaces and trading-state requests (counts by symbol and side, the first ones as lines) "
    "and how they compare with those the live run recorded; the verdicts by code; and a digest "
    "of the canonical command list (what --out writes): two replays with equal digests asked "
    "for the same things and got the same verdicts."
)

_CONFIG_HELP = "path to the config file, e.g. engine.toml (every key: docs/config.md)"


def _parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(
        prog="aries-engine",
        description="A trading engine for the Aries brokerage API, with a built-in simulator.",
        formatter_class=_HelpFormatter,
    )
    commands = parser.add_subparsers(
        dest="command", required=True, metavar="COMMAND", title="commands"
    )

    run = commands.add_parser(
        "run",
        help="run the engine with a config file",
        formatter_class=_HelpFormatter,
        description="Run the engine. With venue.kind = 'simulator' (the shipped engine.toml) it "
        "starts the built-in simulator on loopback first. Ctrl-C or SIGTERM stops it cleanly: "
        "strategies stop, open orders are cancelled or left (engine.on_shutdown), the engine "
        "waits up to engine.shutdown_grace seconds for the venue, flushes the journal and "
        "exits 0; a second Ctrl-C skips the wait.",
        epilog=_EXIT_STATUS,
    )
    run.add_argument("config", metavar="CONFIG", help=_CONFIG_HELP)
    run.add_argument(
        "--duration",
        type=_positive_float,
        metavar="SECONDS",
        help="stop by itself after this many seconds (default: run until Ctrl-C)",
    )
    run.add_argument(
        "--log-format",
        choices=("console", "json"),
        help="log line format (default: engine.log_format from the config)",
    )
    run.add_argument(
        "--log-level",
        choices=LOG_LEVELS,
        help="minimum log level (default: engine.log_level from the config)",
    )
    run.add_argument(
        "--dashboard",
        action="store_true",
        help="show a live terminal view (sockets, accounts, positions, working orders, last "
        "fills and rejections, refreshed 4 times a second); while it is on screen the log goes "
        "to $XDG_DATA_HOME/aries-engine/engine.log and its last lines into the view",
    )

    check = commands.add_parser(
        "check",
        help="validate a config, its plugins and credentials without connecting",
        formatter_class=_HelpFormatter,
        description="Check that CONFIG is ready to run, without connecting anywhere: validate "
        "every key; import every strategy and plugin and validate its config table; resolve "
        "the environment variables that hold the credentials and check that each is set (never "
        "printing a value), and that a refresh_token_store file is mode 0600; check that the "
        "journal can be written (without creating it). Prints a summary of what `run` would "
        "do, then every problem found, one line each.",
        epilog=_CHECK_EXIT_STATUS,
    )
    check.add_argument("config", metavar="CONFIG", help=_CONFIG_HELP)

    report = commands.add_parser(
        "report",
        help="write the P&L report of a journal as one HTML file",
        formatter_class=_HelpFormatter,
        description="Read JOURNAL (the SQLite journal of earlier runs) and write one "
        "self-contained HTML page: the equity curve from the P&L candles (set pnl_interval on "
        "the account to record them), P&L by symbol, fills, rejections and connection "
        "incidents. It opens without network access.",
        epilog=_REPORT_EXIT_STATUS,
    )
    report.add_argument("journal", metavar="JOURNAL", help="path to a journal .sqlite file")
    report.add_argument(
        "--out", required=True, metavar="FILE.html", help="where to write the report"
    )
    report.add_argument("--title", help="the page title (default: from the journal's name)")

    replay = commands.add_parser(
        "replay",
        help="re-run the strategies over a journal and print what they would have asked for",
        formatter_class=_HelpFormatter,
        description=_REPLAY_DESCRIPTION,
        epilog=_REPLAY_EXIT_STATUS,
    )
    replay.add_argument("journal", metavar="JOURNAL", help="path to a journal .sqlite file")
    replay.add_argument(
        "--config",
        default="engine.toml",
        metavar="CONFIG",
        help="the config whose strategies and plugins to run (default: engine.toml)",
    )
    replay.add_argument(
        "--strategy",
        action="append",
        metavar="NAME",
        help="replay only this [[strategies]] entry (repeat for several; default: all of them); "
        "the [[plugins]] always run",
    )
    replay.add_argument(
        "--out",
        metavar="FILE.jsonl",
        help="also write every command, with its verdict, as one JSON object per line",
    )
    replay.add_argument(
        "--show",
        type=_count,
        default=10,
        metavar="N",
        help="how many commands of each plugin to print as lines (default 10)",
    )
    replay.add_argument(
        "--run-tag",
        type=_run_tag,
        metavar="TAG",
        help="the run tag in the client order ids (default: the live run's, from the journal)",
    )
    replay.add_argument(
        "--log-level",
        choices=LOG_LEVELS,
        default="warning",
        help="minimum level of the plugins' and the engine's log lines, on stderr "
        "(default: warning)",
    )

    sim = commands.add_parser(
        "sim",
        help="run the Aries simulator standalone",
        formatter_class=_HelpFormatter,
        description="Serve the Aries simulator on loopback; print its REST and WebSocket URLs, "
        "each user's ready-made access token and the account ids it serves; log every "
        "connection and order.",
        epilog=f"{_SIM_ACCOUNTS_HELP}\n{_SIM_EXIT_STATUS}",
    )
    sim.add_argument("--host", default="127.0.0.1", help="address to bind (default 127.0.0.1)")
    sim.add_argument("--port", type=_port, default=0, help="port (default: chosen by the OS)")
    sim.add_argument("--seed", type=int, default=7, help="market seed (default 7)")
    sim.add_argument(
        "--accounts",
        metavar="FILE",
        help="TOML file of users and accounts (format below; default: one user, SIM-001)",
    )
    sim.add_argument(
        "--session-seconds",
        type=_positive_float,
        metavar="N",
        help="socket session length in seconds (default 3900 = 65 min); the refresh warning "
        "comes 5 min before, or 1/13 of the session if that is shorter",
    )
    sim.add_argument(
        "--verbose", action="store_true", help="also log sessions and subscriptions at debug"
    )
    synopsis = "\n".join(
        "  " + line[len("usage: ") :]
        for sub in commands.choices.values()
        for line in sub.format_usage().rstrip().splitlines()
    )
    parser.epilog = (
        f"usage of each command (`aries-engine COMMAND --help` explains every option):\n"
        f"{synopsis}\n\n{_EXIT_STATUS}"
    )
    return parser


_SIM_ACCOUNTS_HELP = """\
--accounts FILE format (TOML; the first user is the default one):

  [oauth]                        # optional OAuth2 client for POST /v1/oauth2/token
  client_id = "sim-client"
  client_secret = "sim-secret"

  [[users]]
  user_id = "alice"
  access_token = "alice-token"   # optional; default "sim-token-<user_id>"
  email = "alice@example.com"    # optional (POST /v1/oauth2/authorize login)
  password = "sim-password"      # optional

  [[users.accounts]]
  account_id = "ALICE-1"
  account_type = "MARGIN"        # CASH | MARGIN | IRA | ROTH_IRA | RETIREMENT
  cash = "100000"
  pattern_day_trader = false
  options_level = "LEVEL_2"      # LEVEL_0 .. LEVEL_4

  [[users.accounts.positions]]
  symbol = "AAPL"
  quantity = "100"               # negative = short
  avg_price = "170.25"
"""


def _port(text: str) -> int:
    try:
        value = int(text)
    except ValueError:
        raise argparse.ArgumentTypeError(f"expected a port number, got {text!r}") from None
    if not 0 <= value <= 65535:
        raise argparse.ArgumentTypeError(f"expected a port from 0 to 65535, got {text!r}")
    return value


def _count(text: str) -> int:
    try:
        value = int(text)
    except ValueError:
        raise argparse.ArgumentTypeError(f"expected a whole number, got {text!r}") from None
    if value < 0:
        raise argparse.ArgumentTypeError(f"expected 0 or more, got {text!r}")
    return value


def _run_tag(text: str) -> str:
    if not (text.isascii() and text.isalnum() and len(text) <= 16):
        raise argparse.ArgumentTypeError(f"expected 1 to 16 letters or digits, got {text!r}")
    return text


def _positive_float(text: str) -> float:
    try:
        value = float(text)
    except ValueError:
        raise argparse.ArgumentTypeError(f"expected a number of seconds, got {text!r}") from None
    if not value > 0:
        raise argparse.ArgumentTypeError(f"expected a positive number of seconds, got {text!r}")
    return value


def main(argv: Sequence[str] | None = None) -> int:
    """Entry point of the ``aries-engine`` console script."""
    args = _parser().parse_args(argv)
    try:
        if args.command == "sim":
            return _sim(args)
        if args.command == "report":
            return _report(args)
        if args.command == "replay":
            return _replay(args)
        if args.command == "check":
            return _check(args)
        return _run(args)
    except KeyboardInterrupt:  # Ctrl-C before the engine installed its own handler
        return EXIT_OK


def _run(args: argparse.Namespace) -> int:
    from engine.app import run_engine
    from engine.hooks.manager import load_plugins
    from engine.logging import configure_logging

    try:
        config = load_config(args.config)
        configure_logging(
            args.log_level or config.engine.log_level,
            args.log_format or config.engine.log_format,
        )
        dashboard_log = None
        if args.dashboard:  # before anything logs: the view must not be scribbled over
            from engine.dashboard import DashboardLog, default_log_path

            dashboard_log = DashboardLog(default_log_path())
            dashboard_log.install()
        pm, plugins = load_plugins(config)
        config.check_credentials()  # fail now, with exit 2, if a credential is missing
    except (ConfigError, PluginError) as exc:
        for line in str(exc).splitlines():
            print(f"aries-engine: {line}", file=sys.stderr)
        return EXIT_USAGE
    log = structlog.get_logger("engine.cli")
    engine = partial(run_engine, config, pm, plugins, duration=args.duration, handle_signals=True)
    if dashboard_log is not None:
        from engine.dashboard import run_with_dashboard

        engine = partial(
            run_with_dashboard, engine, log_sink=dashboard_log, metrics_host=config.metrics.host
        )
    try:
        trio.run(engine)
    except KeyboardInterrupt:
        log.info("engine.interrupted")
        return EXIT_OK
    except BaseExceptionGroup as group:
        _, rest = group.split(KeyboardInterrupt)
        if rest is None:
            return EXIT_OK
        return _report_failure(log, rest)
    except Exception as exc:
        return _report_failure(log, exc)
    log.info("engine.stopped")
    return EXIT_OK


def _report_failure(log: structlog.typing.FilteringBoundLogger, error: BaseException) -> int:
    """One clear line for the engine's own fatal errors; a traceback for anything unexpected."""
    leaves = list(_leaves(error))
    if leaves and all(isinstance(leaf, EngineError) for leaf in leaves):
        for leaf in leaves:
            log.critical("engine.failed", error=str(leaf), kind=type(leaf).__name__)
    else:
        log.critical("engine.crashed", exc_info=error)
    return EXIT_FAILURE


def _leaves(error: BaseException) -> list[BaseException]:
    if isinstance(error, BaseExceptionGroup):
        return [leaf for inner in error.exceptions for leaf in _leaves(inner)]
    return [error]


def _sim(args: argparse.Namespace) -> int:
    from engine.logging import configure_logging
    from engine.sim import SimConfig, run_standalone
    from engine.sim._standalone import AccountsFileError, load_accounts_file

    config = SimConfig(host=args.host, port=args.port, seed=args.seed, log_traffic=True)
    if args.session_seconds is not None:
        session = float(args.session_seconds)
        config = attrs.evolve(
            config, session_length=session, refresh_warning_lead=min(300.0, session / 13)
        )
    if args.accounts is not None:
        try:
            config = load_accounts_file(args.accounts, config)
        except AccountsFileError as exc:
            print(f"aries-engine: {exc}", file=sys.stderr)
            return EXIT_USAGE
    configure_logging("debug" if args.verbose else "info", "console")
    return run_standalone(config)


# ---------------------------------------------------------------------------------------------
# aries-engine check


def _report(args: argparse.Namespace) -> int:
    from engine.report import ReportError, write_report

    try:
        summary = write_report(Path(args.journal), Path(args.out), title=args.title)
    except ReportError as exc:
        print(f"aries-engine report: {exc}", file=sys.stderr)
        return EXIT_USAGE
    except OSError as exc:
        print(f"aries-engine report: cannot write {args.out}: {exc}", file=sys.stderr)
        return EXIT_FAILURE
    print(summary.describe())
    return EXIT_OK


def _replay(args: argparse.Namespace) -> int:
    """Replay a journal through the config's plugins; print the summary (``engine.replay``)."""
    from engine.logging import configure_logging
    from engine.replay import ReplayError, replay_journal, select_strategies

    try:
        config = load_config(args.config)
        configure_logging(args.log_level, config.engine.log_format)
        config = select_strategies(config, args.strategy)
        result = replay_journal(
            Path(args.journal),
            config,
            run_tag=args.run_tag,
            journal_label=args.journal,
            config_label=args.config,
        )
    except (ConfigError, PluginError, ReplayError) as exc:
        for line in str(exc).splitlines():
            print(f"aries-engine replay: {line}", file=sys.stderr)
        return EXIT_USAGE
    except Exception as exc:  # a damaged journal further in, or a bug: say where, with the trace
        structlog.get_logger("engine.cli").critical("replay.failed", exc_info=exc)
        return EXIT_FAILURE
    if args.out is not None:
        try:
            result.write_jsonl(Path(args.out))
        except OSError as exc:
            print(f"aries-engine replay: cannot write {args.out}: {exc}", file=sys.stderr)
            return EXIT_FAILURE
    print(result.summary(show=args.show), end="")
    if args.out is not None:
        print(f"wrote {len(result.commands)} commands to {args.out}")
    return EXIT_OK


def _check(args: argparse.Namespace) -> int:
    """Validate everything ``run`` needs before it connects; print a summary and every problem.

    Nothing is connected, created or printed that holds a secret: credentials are only looked
    up (set or not), the journal path only inspected.
    """
    from engine.hooks.manager import load_plugins
    from engine.logging import configure_logging

    source = str(args.config)
    try:
        config = load_config(source)
    except ConfigError as exc:
        return _check_verdict(source, str(exc).splitlines())
    # A plugin that logs while it is loaded or configured: to stderr, and only what matters.
    configure_logging("warning", config.engine.log_format)
    problems: list[str] = []
    loaded: list[LoadedPlugin] | None = None
    try:
        _pm, loaded = load_plugins(config)
    except (ConfigError, PluginError) as exc:
        problems.extend(str(exc).splitlines())
    credentials, credential_problems = _check_credentials(config)
    problems.extend(credential_problems)
    journal, journal_problem = _check_journal(config)
    if journal_problem is not None:
        problems.append(journal_problem)

    print(f"aries-engine check {source}")
    strategies, plugins = _plugin_lines(config, loaded)
    rows = [
        ("venue", [_venue_line(config)]),
        ("credentials", credentials),
        ("accounts", [_account_line(account) for account in config.accounts]),
        ("market", [_market_line(config)]),
        ("charts", [_symbols_line(config.charts.enabled, config.charts.symbols)]),
        ("strategies", strategies),
        ("plugins", plugins),
        ("journal", [journal]),
        ("dispatch", [_dispatch_line(config)]),
        ("connection", [_connection_line(config)]),
        ("engine", [_engine_line(config)]),
    ]
    for label, lines in rows:
        for index, line in enumerate(lines):
            print(f"  {label if index == 0 else '':<12} {line}")
    for note in _check_notes(config):
        print(f"note: {note}")
    return _check_verdict(source, problems)


def _check_verdict(source: str, problems: list[str]) -> int:
    """Print the problems (stderr, one line each) and the verdict (stdout); the exit status."""
    for line in problems:
        print(f"aries-engine: {line}", file=sys.stderr)
    if problems:
        count = f"{len(problems)} problem{'s' if len(problems) > 1 else ''}"
        print(f"{source}: NOT ready to run: {count} (listed on stderr)")
        return EXIT_USAGE
    print(f"{source}: OK, ready to run")
    return EXIT_OK


def _venue_line(config: EngineConfig) -> str:
    venue = config.venue
    if venue.kind == "simulator":
        sim = config.simulator
        accounts = ", ".join(a.account_id for a in sim.accounts)
        return (
            f"the built-in simulator on loopback (seed {sim.seed}, a tick every "
            f"{sim.tick_interval:g} s, symbols {', '.join(sim.symbols) or 'none'}; "
            f"accounts {accounts})"
        )
    ca = f"; also trusting the CA in {venue.ca_file}" if venue.ca_file else ""
    return f"Aries: REST {venue.rest_base}, WebSocket {venue.ws_base}{ca}"


def _account_line(account: AccountSection) -> str:
    if account.pnl_interval is None:
        return account.id
    return f"{account.id} (P&L candles every {account.pnl_interval})"


def _market_line(config: EngineConfig) -> str:
    market = config.market
    line = _symbols_line(market.enabled, market.symbols)
    if market.enabled and market.level2:
        line += f"; level 2: {', '.join(market.level2)}"
    if market.enabled and market.greeks:
        line += f"; greeks: {', '.join(market.greeks)}"
    return line


def _symbols_line(enabled: bool, symbols: Sequence[str]) -> str:
    if not enabled:
        return "off"
    return f"on: {', '.join(symbols)}" if symbols else "on: no fixed symbols"


def _plugin_lines(config: EngineConfig, loaded: Sequence[LoadedPlugin] | None) -> list[list[str]]:
    """The strategy lines and the plugin lines: name, import path and the accounts each hears.

    From what was loaded (entry-point plugins included) or, if loading failed, from the file.
    """
    every = ", ".join(a.id for a in config.accounts)
    sections = {s.name: s for s in (*config.strategies, *config.plugins)}
    if loaded is None:
        entries = [("strategy", s.name) for s in config.strategies]
        entries += [("plugin", s.name) for s in config.plugins]
    else:
        entries = [(p.kind, p.name) for p in loaded]
    rows: list[tuple[str, str, str, str]] = []
    for kind, name in entries:
        section = sections.get(name)
        if section is None:  # registered from an installed package's entry point
            rows.append((kind, name, "(entry point)", f"every account: {every}"))
        elif section.account is None:
            rows.append((kind, name, section.path, f"every account: {every}"))
        else:
            rows.append((kind, name, section.path, f"account {section.account}"))
    name_width = max((len(row[1]) for row in rows), default=0)
    path_width = max((len(row[2]) for row in rows), default=0)
    lines: dict[str, list[str]] = {"strategy": [], "plugin": []}
    for kind, name, path, accounts in rows:
        lines[kind].append(f"{name:<{name_width}}  {path:<{path_width}}  {accounts}")
    return [lines["strategy"] or ["none"], lines["plugin"] or ["none"]]


def _dispatch_line(config: EngineConfig) -> str:
    d = config.dispatch
    return (
        f"{d.rate:g} requests/s (burst {d.burst}) for all accounts, {d.account_rate:g}/s "
        f"(burst {d.account_burst}) per account; a request times out after "
        f"{d.request_timeout:g} s"
    )


def _connection_line(config: EngineConfig) -> str:
    c = config.connection
    return (
        f"ping every {c.ping_interval:g} s, authenticate within {c.auth_timeout:g} s, "
        f"reconnect after {c.backoff_initial:g} s doubling to {c.backoff_cap:g} s "
        f"(jitter {c.backoff_jitter * 100:g} %)"
    )


def _engine_line(config: EngineConfig) -> str:
    e = config.engine
    return (
        f"logs at {e.log_level} as {e.log_format}; aries_on_timer every {e.timer_interval:g} s; "
        f"at a stop, {e.on_shutdown} open orders (waiting up to {e.shutdown_grace:g} s)"
    )


def _check_notes(config: EngineConfig) -> list[str]:
    """Things that are allowed but worth knowing before going live (they do not fail)."""
    notes: list[str] = []
    if config.venue.kind != "aries":
        return notes
    if not config.plugins:
        notes.append("no [[plugins]]: no risk plugin checks the orders before they reach Aries")
    if not config.strategies:
        notes.append("no [[strategies]]: the engine follows the accounts but places no orders")
    oauth = config.venue.oauth
    if oauth is not None and oauth.refresh_token_store is None:
        notes.append(
            "venue.oauth.refresh_token_store is not set: a rotated refresh token is kept in "
            f"memory only, so after a restart ${oauth.refresh_token_env} may no longer be valid"
        )
    return notes


def _check_credentials(config: EngineConfig) -> tuple[list[str], list[str]]:
    """What each credential comes from and whether it is there: (summary lines, problems).

    Only names (variables, files) are printed; a value is never read into the output.
    """
    venue = config.venue
    if venue.kind == "simulator":
        return ["none needed: the built-in simulator issues its own token"], []
    problems: list[str] = []

    def variable(key: str, name: str, needed_for: str) -> str:
        if os.environ.get(name):
            return f"${name} (set)"
        problems.append(f"{key}: environment variable {name} is not set (needed for {needed_for})")
        return f"${name} (NOT SET)"

    if venue.oauth is None:
        source = variable("venue.access_token_env", venue.access_token_env, "venue.kind = 'aries'")
        lines = [f"access token from {source}"]
    else:
        oauth = venue.oauth
        secret = variable("venue.oauth.client_secret_env", oauth.client_secret_env, "[venue.oauth]")
        lines = [
            f"OAuth2 refresh-token grant for client_id {oauth.client_id!r}",
            f"client secret from {secret}",
            _check_refresh_token(oauth, problems),
        ]
    if venue.ca_file is not None:
        problem = _ca_file_problem(venue.ca_file)
        if problem is not None:
            problems.append(f"venue.ca_file: {problem}")
    return lines, problems


def _check_refresh_token(oauth: OAuthSection, problems: list[str]) -> str:
    """Where the refresh token comes from (the summary line); problems appended to ``problems``.

    An existing ``refresh_token_store`` wins over the variable and must be private (no access
    for group or others), non-empty and in a writable directory (rotations replace it); one
    that does not exist yet needs the variable, and a directory it can be created in.
    """
    from engine.connection.tokens import RefreshTokenStore

    name = oauth.refresh_token_env
    variable_set = bool(os.environ.get(name))
    consent = "get a refresh token through the OAuth consent flow and export it"
    store = oauth.refresh_token_store
    if store is None:
        if variable_set:
            return f"refresh token from ${name} (set)"
        problems.append(
            f"venue.oauth.refresh_token_env: environment variable {name} is not set and no "
            f"refresh_token_store is configured: {consent}"
        )
        return f"refresh token from ${name} (NOT SET)"
    path = Path(store)
    key = "venue.oauth.refresh_token_store"
    directory = path.parent
    if not directory.is_dir():
        problems.append(
            f"{key}: directory {directory} does not exist: create it (mkdir -m 700 "
            f"{directory}) so that rotated refresh tokens can be saved"
        )
    elif not os.access(directory, os.W_OK | os.X_OK):
        problems.append(
            f"{key}: directory {directory} is not writable by this user: rotated refresh "
            "tokens could not be saved"
        )
    if path.exists():
        try:
            RefreshTokenStore(path).load()  # mode, emptiness, readability; the value is dropped
        except ConfigError as exc:
            problems.append(f"{key}: {exc}")
            return f"refresh token from {store} (UNUSABLE)"
        return f"refresh token from {store} (private file; it wins over ${name})"
    if variable_set:
        return f"refresh token from ${name} (set); rotated ones saved to {store} (not there yet)"
    problems.append(
        f"venue.oauth.refresh_token_env: environment variable {name} is not set and "
        f"{store} does not exist: {consent}"
    )
    return f"refresh token from ${name} (NOT SET) or {store} (does not exist)"


def _ca_file_problem(ca_file: str) -> str | None:
    import ssl

    from engine.runtime.tls import client_ssl_context

    try:
        client_ssl_context(ca_file)
    except FileNotFoundError:
        return f"{ca_file} does not exist"
    except OSError as exc:
        return f"cannot read {ca_file}: {exc.strerror}"
    except ssl.SSLError:
        return f"{ca_file} holds no PEM certificate the TLS library can load"
    return None


_SQLITE_HEADER = b"SQLite format 3\x00"


def _check_journal(config: EngineConfig) -> tuple[str, str | None]:
    """Where the journal goes and whether it can be written there: (summary line, problem).

    Only looks: never creates the file or its directories.
    """
    from engine.app import journal_path

    journal = config.journal
    if not journal.enabled:
        return "off (journal.enabled = false)", None
    path = journal_path(config).absolute()
    kept = f"rows kept {journal.retention_days:g} days"
    key = "journal.path" if journal.path else "journal.path (default, under $XDG_DATA_HOME)"
    if path.exists():
        line = f"{path} (exists; {kept})"
        problem = _existing_journal_problem(path)
    else:
        line = f"{path} (will be created; {kept})"
        problem = _new_journal_problem(path)
    return line, None if problem is None else f"{key}: {path}: {problem}"


def _existing_journal_problem(path: Path) -> str | None:
    if not path.is_file():
        return "is not a file"
    if not os.access(path, os.R_OK | os.W_OK):
        return "is not readable and writable by this user"
    if not os.access(path.parent, os.W_OK | os.X_OK):
        return (
            f"its directory {path.parent} is not writable by this user (SQLite creates its "
            "-wal and -shm files there)"
        )
    try:
        with path.open("rb") as file:
            header = file.read(len(_SQLITE_HEADER))
    except OSError as exc:
        return f"cannot be read: {exc.strerror}"
    if header and header != _SQLITE_HEADER:
        return "is not an SQLite journal: move it aside, or set journal.path"
    return None


def _new_journal_problem(path: Path) -> str | None:
    existing = path.parent
    while not existing.exists():
        existing = existing.parent
    if not existing.is_dir():
        return f"cannot be created: {existing} is not a directory"
    if not os.access(existing, os.W_OK | os.X_OK):
        return f"cannot be created: {existing} is not writable by this user"
    return None
