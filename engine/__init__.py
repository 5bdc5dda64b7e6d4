"""aries-engine: a trading engine for the Aries brokerage API.

The plugin-facing public API is ``engine.hookimpl`` (the pluggy marker), ``engine.model`` (the
domain types), ``engine.StrategyContext``, ``engine.validators`` with ``engine.ConfigValueError``
(for a plugin's ``Config`` class) and ``engine.testing``; everything else is internal.
"""

from engine.config import ConfigValueError
from engine.hooks.context import StrategyContext
from engine.hooks.markers import hookimpl

__version__ = "0.1.0"

__all__ = ["ConfigValueError", "StrategyContext", "__version__", "hookimpl"]
