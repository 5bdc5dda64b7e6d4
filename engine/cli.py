"""The ``aries-engine`` command line.

Exit codes: 0 success (including Ctrl-C), 1 runtime failure, 2 usage or configuration error.
"""

from __future__ import annotations

import argparse
import sys
from collections.abc import Sequence
from functools import partial

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
        description="Serve the Aries simulator on loopback and print its URLs and access token.",
    )
    sim.add_argument("--host", default="127.0.0.1", help="address to bind (default 127.0.0.1)")
    sim.add_argument("--port", type=int, default=0, help="port (default: chosen by the OS)")
    sim.add_argument("--seed", type=int, default=7, help="random-walk seed (default 7)")
    sim.add_argument(
        "--verbose", action="store_true", help="log every session, subscription and order"
    )
    return parser


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
        if config.venue.kind == "aries":
            config.access_token()  # fail now, with exit 2, if the variable is missing
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

    configure_logging("debug" if args.verbose else "info", "console")
    return run_standalone(SimConfig(host=args.host, port=args.port, seed=args.seed))
