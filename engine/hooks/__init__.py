"""Plugins: hookspecs, loading, the plugin host, the strategy context and the risk gate."""

from engine.hooks.context import StrategyContext
from engine.hooks.host import PluginHost
from engine.hooks.manager import LoadedPlugin, load_plugins, make_plugin_manager
from engine.hooks.markers import hookimpl, hookspec
from engine.hooks.risk import RiskGate

__all__ = [
    "LoadedPlugin",
    "PluginHost",
    "RiskGate",
    "StrategyContext",
    "hookimpl",
    "hookspec",
    "load_plugins",
    "make_plugin_manager",
]
