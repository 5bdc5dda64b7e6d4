"""Loading plugins: from ``engine.toml`` by import path, and from the ``aries_engine`` entry points.

A ``path`` of ``"package.module:Class"`` is instantiated once per configured entry: if the class
has a nested attrs ``Config`` class, the entry's ``config`` table is validated against it (unknown
keys and wrong types are errors naming the plugin and the key) and passed to the constructor.
A ``path`` of ``"package.module"`` registers the module's hook functions (no config allowed).
Misspelt hook names fail at start-up (``check_pending``).
"""

from __future__ import annotations

import importlib
import inspect
from collections.abc import Mapping
from types import ModuleType
from typing import Any, Literal

import attrs
import cattrs
import pluggy

from engine.config import EngineConfig, PluginSection, config_error_lines, plugin_converter
from engine.errors import PluginError
from engine.hooks import hookspecs
from engine.hooks.markers import PROJECT_NAME

PluginKind = Literal["strategy", "plugin"]


@attrs.frozen(kw_only=True)
class LoadedPlugin:
    """One registered plugin instance: its name, kind, object and the accounts it is bound to."""

    name: str
    kind: PluginKind
    obj: object
    accounts: tuple[str, ...]


class _PluginManager(pluggy.PluginManager):
    """Takes every ``aries_*`` function or method as a hook implementation, decorated or not
    (as pytest does with ``pytest_*``), so a misspelt name always fails ``check_pending``
    instead of being silently ignored for want of ``@hookimpl``."""

    def parse_hookimpl_opts(self, plugin: object, name: str) -> pluggy.HookimplOpts | None:
        opts = super().parse_hookimpl_opts(plugin, name)
        if opts is not None or not name.startswith("aries_"):
            return opts
        if not inspect.isroutine(inspect.getattr_static(plugin, name, None)):
            return None
        return pluggy.HookimplOpts(
            wrapper=False,
            hookwrapper=False,
            optionalhook=False,
            tryfirst=False,
            trylast=False,
            specname=None,
        )


def make_plugin_manager() -> pluggy.PluginManager:
    """A fresh plugin manager with the engine's hookspecs (one per run, never global)."""
    pm = _PluginManager(PROJECT_NAME)
    pm.add_hookspecs(hookspecs)
    return pm


def load_plugins(
    config: EngineConfig, *, entry_points: bool = True
) -> tuple[pluggy.PluginManager, list[LoadedPlugin]]:
    """Build the plugin manager and register every configured strategy and plugin.

    Raises:
        PluginError: an import failed, a config table is invalid, a name is taken, or a hook
            implementation matches no hookspec.
    """
    pm = make_plugin_manager()
    all_accounts = tuple(a.id for a in config.accounts)
    loaded: list[LoadedPlugin] = []
    groups: tuple[tuple[PluginKind, tuple[PluginSection, ...]], ...] = (
        ("strategy", config.strategies),
        ("plugin", config.plugins),
    )
    for kind, sections in groups:
        for section in sections:
            obj = instantiate(section)
            accounts = (section.account,) if section.account else all_accounts
            _register(pm, obj, section.name)
            loaded.append(LoadedPlugin(name=section.name, kind=kind, obj=obj, accounts=accounts))
    if entry_points:
        before = {id(p) for p in pm.get_plugins()}
        try:
            pm.load_setuptools_entrypoints(PROJECT_NAME)
        except pluggy.PluginValidationError as exc:
            name = pm.get_name(exc.plugin) or repr(exc.plugin)
            raise PluginError(f"plugin {name!r} (entry point): {exc}") from None
        except Exception as exc:
            raise PluginError(
                f"loading the {PROJECT_NAME!r} entry-point plugins raised {exc!r}"
            ) from exc
        for obj in pm.get_plugins():
            if id(obj) not in before:
                name = pm.get_name(obj) or repr(obj)
                loaded.append(
                    LoadedPlugin(name=name, kind="plugin", obj=obj, accounts=all_accounts)
                )
    try:
        pm.check_pending()
    except pluggy.PluginValidationError as exc:
        name = pm.get_name(exc.plugin) or repr(exc.plugin)
        unknown = sorted(
            impl.function.__name__
            for caller in pm.hook.__dict__.values()
            if isinstance(caller, pluggy.HookCaller) and not caller.has_spec()
            for impl in caller.get_hookimpls()
            if impl.plugin is exc.plugin
        )
        raise PluginError(
            f"plugin {name!r}: unknown hook(s) {', '.join(unknown)} "
            "(see engine/hooks/hookspecs.py for the names)"
        ) from None
    configure(pm, config)
    return pm, loaded


def configure(pm: pluggy.PluginManager, config: EngineConfig) -> None:
    """Call the historic ``aries_configure`` (plugins registered later get it when registered).

    Raises:
        PluginError: an implementation raised; the message names its plugin.
    """
    try:
        pm.hook.aries_configure.call_historic(kwargs={"config": config})
    except Exception as exc:
        raise PluginError(
            f"plugin {_raiser(pm, exc, 'aries_configure')!r}: aries_configure raised {exc!r}"
        ) from exc


def _raiser(pm: pluggy.PluginManager, exc: BaseException, hook_name: str) -> str:
    """The name of the plugin whose ``hook_name`` implementation is in ``exc``'s traceback."""
    codes = {
        impl.function.__code__: pm.get_name(impl.plugin) or repr(impl.plugin)
        for impl in getattr(pm.hook, hook_name).get_hookimpls()
        if hasattr(impl.function, "__code__")
    }
    tb = exc.__traceback__
    while tb is not None:
        name = codes.get(tb.tb_frame.f_code)
        if name is not None:
            return name
        tb = tb.tb_next
    return "?"


def instantiate(section: PluginSection) -> object:
    """Import ``section.path`` and build the plugin object with its validated config."""
    target = _import(section)
    if isinstance(target, ModuleType):
        if section.config:
            raise PluginError(
                f"plugin {section.name!r}: {section.path} is a module and takes no config "
                f"(got keys: {', '.join(sorted(section.config))})"
            )
        return target
    config_class = getattr(target, "Config", None)
    if config_class is None:
        if section.config:
            raise PluginError(
                f"plugin {section.name!r}: {section.path} has no Config class and takes no config"
            )
        return _call(section, target)
    plugin_config = structure_plugin_config(section.name, section.config, config_class)
    return _call(section, target, plugin_config)


def structure_plugin_config(name: str, table: Mapping[str, Any], config_class: type) -> object:
    """Validate a plugin's config table against its attrs ``Config`` class.

    Raises:
        PluginError: one line per problem, naming the plugin and the key.
    """
    try:
        return plugin_converter().structure(dict(table), config_class)
    except Exception as exc:
        if not isinstance(exc, cattrs.BaseValidationError | ValueError | TypeError):
            raise
        lines = config_error_lines(exc, prefix="config")
        raise PluginError("\n".join(f"plugin {name!r}: {line}" for line in lines)) from None


def _import(section: PluginSection) -> Any:
    module_name, _, attribute = section.path.partition(":")
    try:
        module = importlib.import_module(module_name)
    except ImportError as exc:
        raise PluginError(
            f"plugin {section.name!r}: cannot import {module_name!r}: {exc}"
        ) from None
    except Exception as exc:  # a plugin module that fails while importing
        raise PluginError(
            f"plugin {section.name!r}: importing {module_name!r} raised {exc!r}"
        ) from exc
    if not attribute:
        return module
    try:
        return getattr(module, attribute)
    except AttributeError:
        raise PluginError(
            f"plugin {section.name!r}: module {module_name!r} has no attribute {attribute!r}"
        ) from None


def _call(section: PluginSection, factory: Any, *args: object) -> object:
    if not callable(factory):
        raise PluginError(f"plugin {section.name!r}: {section.path} is not a class or module")
    try:
        return factory(*args)
    except Exception as exc:
        raise PluginError(f"plugin {section.name!r}: constructor raised {exc!r}") from exc


def _register(pm: pluggy.PluginManager, obj: object, name: str) -> None:
    try:
        pm.register(obj, name=name)
    except ValueError as exc:
        raise PluginError(f"plugin {name!r}: cannot register: {exc}") from None
    except pluggy.PluginValidationError as exc:
        raise PluginError(f"plugin {name!r}: {exc}") from None
