"""aries-engine: a trading engine for the Aries brokerage API.

The plugin-facing public API is ``engine.hookimpl`` (the pluggy marker), ``engine.model`` (the
domain types) and ``engine.StrategyContext``; everything else is internal.
"""

from engine.hooks.context import StrategyContext
from engine.hooks.markers import hookimpl

__version__ = "0.1.0"

__all__ = ["StrategyContext", "__version__", "hookimpl"]
