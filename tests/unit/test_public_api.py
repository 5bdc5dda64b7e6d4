"""plugins/ and strategies/ use only the public surface: engine, engine.model, engine.testing,
engine.validators."""

from __future__ import annotations

import ast
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[2]
PUBLIC = {"engine", "engine.model", "engine.testing", "engine.validators"}
SOURCES = sorted((*ROOT.glob("plugins/**/*.py"), *ROOT.glob("strategies/**/*.py")))


def engine_imports(path: Path) -> set[str]:
    modules = set()
    for node in ast.walk(ast.parse(path.read_text(encoding="utf-8"))):
        if isinstance(node, ast.ImportFrom) and node.module:
            modules.add(node.module)
        elif isinstance(node, ast.Import):
            modules.update(alias.name for alias in node.names)
    return {m for m in modules if m == "engine" or m.startswith("engine.")}


def test_there_are_plugins_and_strategies_to_check() -> None:
    names = {p.name for p in SOURCES}
    assert {"buying_power.py", "touch_quoter.py"} <= names


@pytest.mark.parametrize("path", SOURCES, ids=lambda p: str(p.relative_to(ROOT)))
def test_only_public_engine_modules_are_imported(path: Path) -> None:
    assert engine_imports(path) <= PUBLIC
