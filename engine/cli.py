"""The ``aries-engine`` command line.

Exit codes: 0 success (including Ctrl-C), 1 runtime failure, 2 usage or configuration error.
"""

from __future__ import annotations

import argparse
import sys
from collections.abc import Sequence
from functools import partial

import attrs
import structlog
import trio

from engine.config import LOG_LEVELS, load_config
from engine.errors import ConfigError, EngineError, PluginError

EXIT_OK = 0
EXIT_FAILURE = 1
EXIT_USAGE = 2


def _parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(
        prog="aries-engine",
        description="A trading engine for the Aries brokerage API, with a built-in simulator.",
    )
    commands = parser.add_subparsers(dest="command", required=True, metavar="COMMAND")

    run = commands.add_parser(
        "run",
        help="run the engine with a config file",
        description="Run the engine. With venue.kind = 'simulator' (the shipped engine.toml) it "
        "starts the built-in simulator on loopback first. Ctrl-C stops it cleanly.",
    )
    run.add_argument("config", metavar="CONFIG", help="path to engine.toml")
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

    sim = commands.add_parser(
        "sim",
        help="run the Aries simulator standalone",
        formatter_class=argparse.RawDescriptionHelpFormatter,
        description="Serve the Aries simulator on loopback; print its REST and WebSocket URLs, "
        "each user's ready-made access token and the account ids it serves; log every "
        "connection and order.",
        epilog=_SIM_ACCOUNTS_HELP,
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
        pm, plugins = load_plugins(config)
        config.check_credentials()  # fail now, with exit 2, if a credential is missing
    except (ConfigError, PluginError) as exc:
        for line in str(exc).splitlines():
            print(f"aries-engine: {line}", file=sys.stderr)
        return EXIT_USAGE
    log = structlog.get_logger("engine.cli")
    try:
        trio.run(
            partial(run_engine, config, pm, plugins, duration=args.duration, handle_signals=True)
        )
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
