"""What the soak measures at each checkpoint: live trio tasks and memory, split by owner.

Everything runs in one process (the simulator, the two proxies, the engine and the test), so
each figure says whose it is. Owners: ``engine`` (every ``engine.*`` module but the simulator
and the test helpers shipped with it), ``sim`` (``engine.sim``), ``testing`` (``engine.testing``:
the fault proxies), ``tests``, and ``other`` (trio, trio-websocket, hypercorn, httpx, the
standard library, builtins).

* **tasks**: a walk of the task tree from ``trio.lowlevel.current_root_task()``, each task
  filed under the module of the coroutine it runs;
* **the engine's retained state** (``retained_state``): a walk of the object graph from the
  engine's handle and the locals of its tasks, ``sys.getsizeof`` of each object reached once.
  It stops at modules, classes, functions, code, frames, coroutines, trio tasks and nurseries,
  and at objects of the simulator, the proxies and the tests. It counts the entries of every
  container attribute of the engine's attrs classes, and sizes the containers named ``apart``
  on their own (the book's per-order history, so that the rest can be required not to grow);
* **objects**: ``gc.get_objects()`` after a full collection, counted by the owner of their type
  (an ``engine.model.orders.Order`` is the engine's, a ``dict`` is ``other``). ``unheld`` counts
  the ``other`` ones that the test side (simulator, proxies, the recording strategy: whatever
  ``elsewhere`` names) cannot reach: the proxies keep every connection they ever served, the
  strategy every event it heard; those are not the engine's;
* **traced**: when ``tracemalloc`` runs, its live blocks grouped by the owner of the file that
  allocated them (one frame: an ``Order`` the engine built and the test keeps counts as the
  engine's);
* **caches**: the bytes in the decoder's value caches (bounded, emptied when full).
"""

from __future__ import annotations

import gc
import sys
import tracemalloc
import types
from collections import Counter
from collections.abc import Iterable, Iterator
from pathlib import Path
from typing import Any, Final

import attrs
import trio

from engine.app import EngineHandle

OWNERS: Final = ("engine", "sim", "testing", "tests", "other")
_ENGINE_DIR: Final = Path(__file__).resolve().parents[2] / "engine"
_TESTS_DIR: Final = Path(__file__).resolve().parents[1]
_NOT_ENGINE: Final = ("sim", "testing", "tests")
_STOP_TYPES: Final = (
    type,
    types.ModuleType,
    types.FunctionType,
    types.BuiltinFunctionType,
    types.CodeType,
    types.FrameType,
    types.CoroutineType,
    types.GeneratorType,
    types.AsyncGeneratorType,
    trio.lowlevel.Task,
    trio.Nursery,
    trio.CancelScope,
)
"""Where every walk stops: code, and trio's task tree (it leads to every task of the run)."""


def owner_of_module(module: str) -> str:
    """``engine.accounts.book`` → engine, ``engine.sim._hub`` → sim, ``trio`` → other."""
    if module.startswith("engine.sim"):
        return "sim"
    if module.startswith("engine.testing"):
        return "testing"
    if module == "engine" or module.startswith("engine."):
        return "engine"
    if module.startswith("tests."):
        return "tests"
    return "other"


def owner_of_file(filename: str) -> str:
    """The owner of a source file (attrs' generated methods are named after their class)."""
    if filename.startswith("<attrs generated"):
        # "<attrs generated init engine.model.orders.Order>"
        return owner_of_module(filename.rstrip(">").rsplit(" ", 1)[-1])
    path = Path(filename)
    if path.is_relative_to(_ENGINE_DIR):
        parts = path.relative_to(_ENGINE_DIR).parts
        if parts and parts[0] in ("sim", "testing"):
            return parts[0]
        return "engine"
    if path.is_relative_to(_TESTS_DIR):
        return "tests"
    return "other"


def _owner(obj: object) -> str:
    return owner_of_module(type(obj).__module__)


# -- tasks ------------------------------------------------------------------------------------


def live_tasks() -> list[trio.lowlevel.Task]:
    """Every task alive in this trio run (the whole tree under the root task)."""
    tasks: list[trio.lowlevel.Task] = []
    stack = [trio.lowlevel.current_root_task()]
    while stack:
        task = stack.pop()
        if task is None:
            continue
        tasks.append(task)
        for nursery in task.child_nurseries:
            stack.extend(nursery.child_tasks)
    return tasks


def _task_module(task: trio.lowlevel.Task) -> str:
    frame = getattr(task.coro, "cr_frame", None)
    module = frame.f_globals.get("__name__") if frame is not None else None
    return module if isinstance(module, str) else task.name


# -- the engine's retained state --------------------------------------------------------------


@attrs.frozen(kw_only=True)
class RetainedState:
    """What a walk from ``engine_roots`` reaches (see the module docstring)."""

    bytes: int
    """Everything reached but what hangs only from the ``apart`` containers."""
    objects: int
    containers: Counter[str]
    """Entries of each container attribute of the engine's attrs classes, summed over the
    instances (``AccountBook._orders``: the orders of every account's book)."""
    apart: Counter[str]
    """Bytes reachable only through each ``apart`` container (summed over instances)."""


def _frame_locals(task: trio.lowlevel.Task) -> Iterator[Any]:
    """The local variables of every frame of a task's coroutine chain (``self`` included)."""
    coro: Any = task.coro
    while coro is not None:
        frame = getattr(coro, "cr_frame", None) or getattr(coro, "gi_frame", None)
        if frame is None:
            return
        yield from frame.f_locals.values()
        coro = getattr(coro, "cr_await", None) or getattr(coro, "gi_yieldfrom", None)


def engine_roots(handle: EngineHandle) -> list[Any]:
    """Where the engine's state hangs from: the handle's parts, and the locals of every engine
    task (the account actors, the supervisors' loops, ...) — not the tasks themselves."""
    roots: list[Any] = [getattr(handle, name) for name in attrs.fields_dict(EngineHandle)]
    for task in live_tasks():
        if owner_of_module(_task_module(task)) == "engine":
            roots.extend(_frame_locals(task))
    return roots


def retained_state(roots: Iterable[Any], apart: frozenset[str] = frozenset()) -> RetainedState:
    """Walk the object graph from ``roots``; ``apart`` names container attributes
    (``"AccountBook._orders"``) whose contents are sized on their own, afterwards (what the rest
    also reaches counts in ``bytes`` only)."""
    seen: set[int] = set()
    containers: Counter[str] = Counter()
    held_back: list[tuple[str, Any]] = []

    def walk(start: Iterable[Any], record: bool) -> int:
        total = 0
        stack = list(start)
        while stack:
            obj = stack.pop()
            if id(obj) in seen:
                continue
            seen.add(id(obj))
            owner = _owner(obj)
            if isinstance(obj, _STOP_TYPES) or owner in _NOT_ENGINE:
                continue
            total += sys.getsizeof(obj)
            referents = gc.get_referents(obj)
            kind = type(obj)
            if record and owner == "engine" and attrs.has(kind):
                for name in attrs.fields_dict(kind):
                    value: Any = getattr(obj, name, None)
                    # Not isinstance(value, Sized): an ABC check caches every type it sees.
                    if hasattr(type(value), "__len__") and not isinstance(value, str | bytes):
                        key = f"{kind.__qualname__}.{name}"
                        containers[key] += len(value)
                        if key in apart:
                            held_back.append((key, value))
                            referents = [r for r in referents if r is not value]
            stack.extend(referents)
        return total

    total = walk(roots, record=True)
    objects = len(seen)
    sizes: Counter[str] = Counter()
    for key, container in held_back:
        sizes[key] += walk([container], record=False)
    return RetainedState(bytes=total, objects=objects, containers=containers, apart=sizes)


def reachable(roots: Iterable[Any]) -> set[int]:
    """Ids of everything reachable from ``roots`` but the engine's objects (and what only they
    lead to): what the test side holds."""
    seen: set[int] = set()
    stack = list(roots)
    while stack:
        obj = stack.pop()
        if id(obj) in seen:
            continue
        seen.add(id(obj))
        if not isinstance(obj, _STOP_TYPES) and _owner(obj) != "engine":
            stack.extend(gc.get_referents(obj))
    return seen


def decoder_cache_bytes() -> int:
    """Bytes held by the decoder's bounded value caches (keys, values and the dicts)."""
    from engine.aries import converter

    total = 0
    for cache in (converter._DECIMAL_CACHE, converter._DATETIME_CACHE):
        total += sys.getsizeof(cache)
        total += sum(sys.getsizeof(k) + sys.getsizeof(v) for k, v in cache.items())
    return total


# -- one checkpoint ---------------------------------------------------------------------------


@attrs.frozen(kw_only=True)
class Probe:
    """One checkpoint's figures (``virtual_s``: seconds of virtual time since the soak began)."""

    label: str
    virtual_s: float
    tasks: dict[str, int]
    """Live tasks per owner."""
    task_names: Counter[str]
    """Live tasks per function (``Task.name``)."""
    objects: dict[str, int]
    """Live gc-tracked objects per owner of their type."""
    unheld: int
    """The ``other`` objects of ``objects`` that the test side cannot reach."""
    object_types: Counter[str]
    """Live gc-tracked objects per type (``module.qualname``), engine and simulator types only."""
    traced: dict[str, int] | None
    """Bytes of live ``tracemalloc`` blocks per owner of the allocating file (None: not tracing)."""
    traced_total: int | None
    engine: RetainedState
    caches: int
    """Bytes in the decoder's value caches (``engine.aries.converter``; at most its
    ``_CACHE_LIMIT`` entries each, emptied when full)."""

    @property
    def total_tasks(self) -> int:
        """Every live task."""
        return sum(self.tasks.values())


def probe(
    label: str,
    virtual_s: float,
    engine: EngineHandle,
    *,
    apart: frozenset[str] = frozenset(),
    elsewhere: Iterable[Any] = (),
) -> Probe:
    """Take every figure now (see the module docstring): ``engine``'s retained state with
    ``apart`` sized on their own, objects after a full collection (``elsewhere``: the roots of
    the test side), traced bytes if ``tracemalloc`` runs."""
    tasks = dict.fromkeys(OWNERS, 0)
    names: Counter[str] = Counter()
    for task in live_tasks():
        tasks[owner_of_module(_task_module(task))] += 1
        names[task.name] += 1
    # The walk first: what it creates on its first run (a frame's f_locals) counts from then on.
    state = retained_state(engine_roots(engine), apart)
    gc.collect()
    held = reachable(elsewhere)
    objects = dict.fromkeys(OWNERS, 0)
    unheld = 0
    types: Counter[str] = Counter()
    for obj in gc.get_objects():
        owner = _owner(obj)
        objects[owner] += 1
        if owner == "other" and id(obj) not in held:
            unheld += 1
        elif owner in ("engine", "sim"):
            kind = type(obj)
            types[f"{kind.__module__}.{kind.__qualname__}"] += 1
    traced: dict[str, int] | None = None
    total: int | None = None
    if tracemalloc.is_tracing():
        traced = dict.fromkeys(OWNERS, 0)
        for stat in tracemalloc.take_snapshot().statistics("filename"):
            traced[owner_of_file(stat.traceback[0].filename)] += stat.size
        total = tracemalloc.get_traced_memory()[0]
    return Probe(
        label=label,
        virtual_s=virtual_s,
        tasks=tasks,
        task_names=names,
        objects=objects,
        unheld=unheld,
        object_types=types,
        traced=traced,
        traced_total=total,
        engine=state,
        caches=decoder_cache_bytes(),
    )
