"""The soak (issue 9, item 4): hours of trading through random faults, on virtual time.

``run_soak(hours, seed)`` opens the fault rig of ``tests.faults.rig`` (the simulator, a
``FaultProxy`` for the WebSockets and one for REST, the engine, the ``Recorder`` strategy; the
simulator's sessions last 65 minutes, its default ``session_length``) and runs, between two
checkpoints (every virtual hour in the long run):

* **the trader**: every 5-45 virtual seconds the strategy submits a limit order (buy or sell,
  leaning against the venue's position; one in five marketable, the rest a few cents away from
  the touch, 10-300 shares so some fill in parts), replaces the price of one of its open orders
  (partially filled ones too), or cancels one, keeping at most ``MAX_OPEN`` open;
* **the market**: the simulator's random walk (a quote every 3.7 s); every 3-10 virtual minutes
  it is pushed through the limit of one open order so resting orders fill too, and pulled back
  when it strays more than 5 % from its start;
* **the faults**: every 1-5 virtual minutes one fault, drawn from ``CATALOGUE`` (the proxies'
  network faults and the simulator's named faults), held for 5-150 virtual seconds, then
  healed.

Faults may overlap the recovery from the previous one; that is the point. At each checkpoint
everything stops, every fault is healed (``heal()`` on both proxies, ``clear()`` on the
simulator), the engine gets ``COOL_DOWN`` virtual seconds (a silenced socket is caught by its
idle timeout, backoff runs out, the book forgets what was done before: see
``DONE_ORDER_RETENTION``), then it must be healthy and satisfy every invariant of the rig
(books equal the venue's, each fill heard once, nothing submitted twice, running and healthy),
and a ``Probe`` (tasks, objects, traced memory) is taken.

The faults, the trader and the market each draw from their own ``random.Random`` seeded from
``seed`` (printed with the results). The faults (kinds, parameters, gaps, hold times) repeat
for the same seed; the trading does not exactly (what it picks depends on what the engine has
heard, and real sockets decide what arrives between two virtual instants).
"""

from __future__ import annotations

import contextlib
import random
import tracemalloc
from collections import Counter
from collections.abc import Awaitable, Callable
from decimal import Decimal
from typing import Final

import attrs
import trio

from engine.model import ConnectionState, ConnectionStateChanged, Endpoint, Side
from engine.sim import SimConfig
from engine.testing import Fault
from tests.faults.rig import ACCOUNT, ACCOUNTS_WS, SYMBOL, FaultRig, open_fault_rig, sim_config
from tests.soak.probes import Probe, probe

MARKET_WS: Final = "/v1/market/ws"
HOUR: Final = 3600.0
COOL_DOWN: Final = 150.0
"""Virtual seconds between healing everything and checking (> the 60 s idle timeout + the 30 s
backoff cap)."""
DONE_ORDER_RETENTION: Final = 60.0
"""The engine's ``[engine] done_order_retention`` in the soak: twice it is less than
``COOL_DOWN``, so a checkpoint finds in the book the open orders and those done in its last two
minutes, not a retention window's worth (300-600 s by default) that would vary from one
checkpoint to the next. ``test_the_book_forgets_orders_once_they_are_done`` runs the default."""
CHECKPOINT_BOUND: Final = 1800.0
"""Virtual seconds a checkpoint (cool-down, healthy again, invariants) may take."""
MAX_OPEN: Final = 8
TICK: Final = Decimal("0.01")
QUANTITIES: Final = (10, 10, 50, 100, 300)
TRACES: Final = "AccountBook._forgotten"
"""What the book keeps of each order it forgot (``ForgottenOrders``: its ``clOrdId`` and filled
quantity, for a day, so that a restatement is not taken for a new order): the one thing that
grows with the orders of the day. Sized apart from the rest."""
SNAPSHOT: Final = "AccountSnapshotReceived.orders"
"""The last account snapshot, still referenced by the locals of ``AccountActor.run`` and
``ConnectionSupervisor._process`` until the next one: one snapshot, but as big as the venue
makes it (every order of its day). Sized apart from the rest."""
APART: Final = frozenset({TRACES, SNAPSHOT})

Heal = Callable[[], Awaitable[None]]


@attrs.frozen
class Injected:
    """One fault of the run: when (virtual seconds since the start), what, for how long."""

    at: float
    name: str
    detail: str
    held: float

    def __str__(self) -> str:
        return f"{self.at:8.1f}s  {self.name:<22} {self.detail:<34} held {self.held:5.1f}s"


@attrs.frozen
class Injection:
    """A fault just applied: what exactly, and how to heal it (``None``: it was one-shot)."""

    detail: str
    heal: Heal | None = None


@attrs.frozen
class FaultKind:
    """A fault the soak can inject: ``inject`` applies it (drawing its parameters)."""

    name: str
    inject: Callable[[FaultRig, random.Random], Awaitable[Injection]]


def _proxy_heal(rig: FaultRig, which: str) -> Heal:
    async def heal() -> None:
        getattr(rig, which).heal()
        await trio.lowlevel.checkpoint()

    return heal


def _sim_heal(rig: FaultRig, name: str) -> Heal:
    async def heal() -> None:
        rig.sim.faults.clear(name)
        await trio.lowlevel.checkpoint()

    return heal


def _path(rng: random.Random) -> str:
    return rng.choice((ACCOUNTS_WS, ACCOUNTS_WS, MARKET_WS))


# -- the proxies --------------------------------------------------------------------------------


async def _reset(rig: FaultRig, rng: random.Random) -> Injection:
    which = rng.choice(("ws", "ws", "rest"))
    path = _path(rng) if which == "ws" else None
    count = getattr(rig, which).reset(path=path)
    return Injection(f"{which} {path or 'all'} ({count} connections)")


async def _black_hole(rig: FaultRig, rng: random.Random) -> Injection:
    which = rng.choice(("ws", "rest"))
    getattr(rig, which).black_hole()
    return Injection(which, _proxy_heal(rig, which))


async def _time_out(rig: FaultRig, rng: random.Random) -> Injection:
    which = rng.choice(("ws", "rest"))
    after = round(rng.uniform(1.0, 10.0), 1)
    getattr(rig, which).time_out(after=after)
    return Injection(f"{which} after {after}s", _proxy_heal(rig, which))


async def _latency(rig: FaultRig, rng: random.Random) -> Injection:
    which = rng.choice(("ws", "rest"))
    latency = round(rng.uniform(0.01, 0.5), 3)
    jitter = round(rng.uniform(0.0, latency), 3)
    getattr(rig, which).add_latency(latency, jitter)
    return Injection(f"{which} {latency}±{jitter}s", _proxy_heal(rig, which))


async def _bandwidth(rig: FaultRig, rng: random.Random) -> Injection:
    which = rng.choice(("ws", "rest"))
    rate = rng.choice((1_000, 5_000, 20_000))
    getattr(rig, which).limit_bandwidth(rate)
    return Injection(f"{which} {rate} B/s", _proxy_heal(rig, which))


async def _slicing(rig: FaultRig, rng: random.Random) -> Injection:
    which = rng.choice(("ws", "rest"))
    size = rng.choice((1, 7, 64))
    getattr(rig, which).slice(size)
    return Injection(f"{which} {size}-byte segments", _proxy_heal(rig, which))


# -- the simulator ------------------------------------------------------------------------------


def _sim(
    build: Callable[[random.Random], Fault], *, drop_accounts: bool = False
) -> Callable[[FaultRig, random.Random], Awaitable[Injection]]:
    """A simulator fault; ``drop_accounts``: then drop the accounts socket, so a fault that acts
    on a (re)connection (auth, snapshot) has one to act on."""

    async def inject(rig: FaultRig, rng: random.Random) -> Injection:
        fault = build(rng)
        await rig.sim.faults.apply(fault)
        if drop_accounts:
            await rig.sim.drop_connections(ACCOUNTS_WS)
        params = ", ".join(f"{k}={v}" for k, v in fault.params.items() if v is not None)
        detail = params + (" + drop" if drop_accounts else "")
        if fault.name in ("drop_socket", "expire_session", "malformed_frames"):
            return Injection(detail)
        return Injection(detail, _sim_heal(rig, fault.name))

    return inject


CATALOGUE: Final = (
    FaultKind("reset", _reset),
    FaultKind("black_hole", _black_hole),
    FaultKind("time_out", _time_out),
    FaultKind("latency", _latency),
    FaultKind("bandwidth", _bandwidth),
    FaultKind("slicing", _slicing),
    FaultKind("drop_socket", _sim(lambda r: Fault.drop_socket(_path(r)))),
    FaultKind("silent_socket", _sim(lambda r: Fault.silent_socket(_path(r)))),
    FaultKind("duplicate_events", _sim(lambda r: Fault.duplicate_events(r.choice((2, 3))))),
    FaultKind("reorder_events", _sim(lambda r: Fault.reorder_events())),
    FaultKind("delay_events", _sim(lambda r: Fault.delay_events(round(r.uniform(0.2, 5), 1)))),
    FaultKind(
        "delay_snapshot",
        _sim(lambda r: Fault.delay_snapshot(round(r.uniform(1, 10), 1)), drop_accounts=True),
    ),
    FaultKind("lose_order_response", _sim(lambda r: Fault.lose_order_response(1))),
    FaultKind("rate_limit", _sim(lambda r: Fault.rate_limit(r.randint(1, 3), retry_after=1))),
    FaultKind("server_error", _sim(lambda r: Fault.server_error(r.randint(1, 2)))),
    FaultKind("reject_auth", _sim(lambda r: Fault.reject_auth(1, ACCOUNTS_WS), drop_accounts=True)),
    FaultKind("expire_session", _sim(lambda r: Fault.expire_session(_path(r)))),
    FaultKind("malformed_frames", _sim(lambda r: Fault.malformed_frames(_path(r)))),
    FaultKind(
        "slow_reader", _sim(lambda r: Fault.slow_reader(_path(r), round(r.uniform(0.05, 0.5), 2)))
    ),
    FaultKind(
        "slow_writer", _sim(lambda r: Fault.slow_writer(_path(r), round(r.uniform(0.05, 0.5), 2)))
    ),
    FaultKind("omit_snapshot", _sim(lambda r: Fault.omit_snapshot(), drop_accounts=True)),
)
"""Every fault the soak draws from (uniformly)."""

# -- the run ------------------------------------------------------------------------------------


@attrs.define(eq=False)
class Soak:
    """One soak run: the rig, its random sources, and what happened."""

    rig: FaultRig
    seed: int
    start: float
    fault_gap: tuple[float, float] = (60.0, 300.0)
    """Virtual seconds between a fault's end and the next one (uniform)."""
    rng: random.Random = attrs.field(init=False)
    """The faults' (kinds, parameters, gaps and hold times: the same for the same seed)."""
    trader_rng: random.Random = attrs.field(init=False)
    market_rng: random.Random = attrs.field(init=False)
    faults: list[Injected] = attrs.field(factory=list)
    actions: Counter[str] = attrs.field(factory=Counter)
    states: Counter[tuple[Endpoint, ConnectionState]] = attrs.field(factory=Counter)
    probes: list[Probe] = attrs.field(factory=list)

    def __attrs_post_init__(self) -> None:
        self.rng = random.Random(f"{self.seed}-faults")
        self.trader_rng = random.Random(f"{self.seed}-trader")
        self.market_rng = random.Random(f"{self.seed}-market")

    def now(self) -> float:
        """Virtual seconds since the soak began."""
        return trio.current_time() - self.start

    # -- the strategy -----------------------------------------------------------------------

    def _open_orders(self) -> list[tuple[str, Decimal]]:
        """The strategy's open orders as the engine sees them: (client order id, limit)."""
        view = self.rig.engine.views.get(ACCOUNT)
        if view is None:
            return []
        return [
            (o.client_order_id, o.price)
            for o in view.open_orders.values()
            if o.client_order_id is not None and o.price is not None
        ]

    def _position(self) -> Decimal:
        position = self.rig.sim.ledger.position(ACCOUNT, SYMBOL)
        return Decimal(0) if position is None else position.quantity

    async def trade(self) -> None:
        """Submit, replace and cancel orders at random for ever."""
        rng = self.trader_rng
        while True:
            await trio.sleep(rng.uniform(5.0, 45.0))
            orders = self._open_orders()
            roll = rng.random()
            if orders and (len(orders) >= MAX_OPEN or roll < 0.5):
                client_order_id, price = rng.choice(orders)
                if rng.random() < 0.6:
                    step = TICK * rng.randint(1, 10) * rng.choice((-1, 1))
                    await self.rig.replace(client_order_id, max(TICK, price + step))
                    self.actions["replace"] += 1
                else:
                    await self.rig.cancel(client_order_id)
                    self.actions["cancel"] += 1
            else:
                await self.submit()

    async def submit(self) -> None:
        """One limit order near the touch: a buy, or a sell of part of the position (the
        fuller the position, the likelier a sell)."""
        rng = self.trader_rng
        quote = self.rig.sim.market.quote(SYMBOL)
        assert quote.bid is not None
        assert quote.ask is not None
        position = self._position()
        qty = Decimal(rng.choice(QUANTITIES))
        sell = position > 0 and rng.random() < min(0.9, 0.5 + float(position) / 2_000)
        side = Side.SELL if sell else Side.BUY
        if sell:
            qty = min(qty, position)
        marketable = rng.random() < 0.2
        away = TICK * rng.randint(0, 15)
        if side is Side.BUY:
            price = quote.ask + TICK * 2 if marketable else quote.bid - away
        else:
            price = quote.bid - TICK * 2 if marketable else quote.ask + away
        ctx = self.rig.strategy.ctx
        assert ctx is not None
        client_order_id = ctx.submit(SYMBOL, side, qty, price=max(TICK, price))
        self.rig.submitted.append(client_order_id)
        await self.rig.engine.host.flush()
        self.actions[f"submit {side.value.lower()}" + (" marketable" if marketable else "")] += 1

    # -- the market ---------------------------------------------------------------------------

    async def move_market(self) -> None:
        """Push the market through an open order's limit now and then; keep it near its start."""
        rng = self.market_rng
        start = self.rig.sim.market.start_price(SYMBOL)
        while True:
            await trio.sleep(rng.uniform(180.0, 600.0))
            quote = self.rig.sim.market.quote(SYMBOL)
            assert quote.bid is not None
            venue_open = [
                o
                for o in self.rig.sim.ledger.orders(ACCOUNT)
                if not o.status.is_terminal and o.price is not None and o.symbol == SYMBOL
            ]
            if abs(quote.bid - start) > start / 20:
                bid = start
            elif venue_open:
                order = rng.choice(venue_open)
                assert order.price is not None
                # Through the limit: the ask below a buy's, the bid above a sell's.
                buy = order.side.value == "BUY"
                bid = order.price - 2 * TICK if buy else order.price + TICK
            else:
                continue
            self.rig.sim.market.force_quote(
                SYMBOL, bid=bid, ask=bid + TICK, bid_size=10_000, ask_size=10_000
            )
            self.actions["market pushed"] += 1

    # -- the faults -----------------------------------------------------------------------------

    async def inject_faults(self) -> None:
        """A random fault every few virtual minutes, held a while, then healed."""
        rng = self.rng
        while True:
            await trio.sleep(rng.uniform(*self.fault_gap))
            kind = rng.choice(CATALOGUE)
            held = round(rng.uniform(5.0, 150.0), 1)
            at = self.now()
            injected = await kind.inject(self.rig, rng)
            held = held if injected.heal is not None else 0.0
            self.faults.append(Injected(at, kind.name, injected.detail, held))
            if injected.heal is not None:
                await trio.sleep(held)
                await injected.heal()

    async def heal_everything(self) -> None:
        """Both proxies back to plain forwarding, every simulator fault disarmed."""
        self.rig.ws.heal()
        self.rig.rest.heal()
        self.rig.sim.faults.clear()
        await trio.lowlevel.checkpoint()

    async def watch_states(self) -> None:
        """Count the engine's connection state changes (refresh warnings, expiries, ...)."""
        states = self.rig.engine.bus.subscribe("soak", accepts=(ConnectionStateChanged,))
        while True:
            for event in await states.receive_batch():
                if isinstance(event, ConnectionStateChanged):
                    self.states[event.endpoint, event.state] += 1

    # -- one hour, one checkpoint -----------------------------------------------------------

    async def chaos_until(self, deadline: float) -> None:
        """Trade, move the market and inject faults until ``deadline`` (trio time)."""
        with trio.move_on_at(deadline):
            async with trio.open_nursery() as nursery:
                nursery.start_soon(self.trade)
                nursery.start_soon(self.move_market)
                nursery.start_soon(self.inject_faults)

    async def checkpoint(self) -> Probe:
        """Heal, cool down, wait until healthy and every invariant holds; then probe.

        Fails with the whole story (the faults so far, the engine's sockets, the violations)
        if the engine does not get there within ``CHECKPOINT_BOUND`` virtual seconds."""
        await self.heal_everything()
        healthy = False
        with trio.move_on_after(CHECKPOINT_BOUND):
            await trio.sleep(COOL_DOWN)
            with contextlib.suppress(trio.TooSlowError):
                await self.rig.wait_healthy()
                healthy = True
            if healthy:
                with contextlib.suppress(AssertionError):  # reported below, with the story
                    await self.rig.settle()
        violations = self.rig.invariant_violations()
        label = f"{self.now() / HOUR:.2f} h"
        if violations or not healthy:
            raise AssertionError(
                f"checkpoint {label} (seed {self.seed}): "
                + ("" if healthy else "the engine never became healthy again; ")
                + "invariants violated:\n  "
                + "\n  ".join(violations)
                + "\n"
                + self.diagnosis(violations)
            )
        taken = probe(label, self.now(), self.rig.engine, apart=APART, elsewhere=(self.rig, self))
        self.probes.append(taken)
        return taken

    def diagnosis(self, violations: list[str]) -> str:
        """The engine's sockets, the checkpoints so far, the last faults and the story of each
        order a violation names, for a failure message."""
        lines = [self.summary(), "sockets:"]
        for connection in self.rig.engine.connections:
            stats = connection.statistics()
            lines.append(
                f"  {stats.endpoint}: {stats.state.value} for {stats.seconds_in_state:.0f}s, "
                f"connects {stats.connects}, last error {stats.last_error!r}"
            )
        lines += ["checkpoints so far:", *probe_lines(self.probes), "last faults:"]
        lines += [f"  {f}" for f in self.faults[-10:]]
        named = {cid for cid in self.rig.submitted if any(cid in v for v in violations)}
        for client_order_id in sorted(named):
            lines += self.story(client_order_id)
        return "\n".join(lines)

    def story(self, client_order_id: str) -> list[str]:
        """What the venue, the engine and the strategy know of one order."""
        lines = [f"order {client_order_id}:"]
        lines += [
            f"  venue {o.cl_ord_id} {o.status.value} qty {o.qty} cum {o.cum_qty} price "
            f"{o.price} replaces {o.orig_cl_ord_id} updated {o.updated_at:%H:%M:%S}"
            for o in self.rig.venue_orders(client_order_id)
        ]
        heard = [
            f"{e.order.cl_ord_id}:{e.order.status.value}"
            for e in self.rig.strategy.updates
            if e.order.client_order_id == client_order_id
        ]
        lines.append(f"  strategy heard {' '.join(heard)}")
        rejected = [r for r in self.rig.strategy.rejections if r.client_order_id == client_order_id]
        lines += [
            f"  rejected {r.source} {r.code} replace={r.replace}: {r.reason}" for r in rejected
        ]
        lines.append(f"  replaces asked {self.rig.replaces[client_order_id]}")
        view = self.rig.engine.views.get(ACCOUNT)
        if view is not None:
            open_order = [
                o for o in view.open_orders.values() if o.client_order_id == client_order_id
            ]
            lines.append(
                f"  engine: open {[(o.cl_ord_id, o.status.value) for o in open_order]}, "
                f"in flight {client_order_id in view.in_flight}, replacing "
                f"{view.replacing.get(client_order_id)}"
            )
        return lines

    def summary(self) -> str:
        """What the run did, for the test's output."""
        sim = self.rig.sim.statistics()
        kinds = Counter(f.name for f in self.faults)
        lines = [
            f"virtual time {self.now() / HOUR:.2f} h; {len(self.faults)} faults: "
            + ", ".join(f"{k} {n}" for k, n in kinds.most_common()),
            "strategy: "
            + ", ".join(f"{k} {n}" for k, n in sorted(self.actions.items()))
            + f"; fills heard {len(self.rig.strategy.fills)}, rejections "
            f"{len(self.rig.strategy.rejections)}",
            f"venue: orders placed {sim.orders_placed}, fills {sim.fills}, "
            f"accepted sockets {sim.connections_accepted}, auths {sim.auths_succeeded}",
            "engine: "
            + "; ".join(
                f"{c.handler.endpoint.value} connects {c.statistics().connects}"
                for c in self.rig.engine.connections
            )
            + "; states "
            + ", ".join(
                f"{e.value}:{s.value} {n}" for (e, s), n in sorted(self.states.items(), key=str)
            ),
        ]
        return "\n".join(lines)


@attrs.frozen
class SoakResult:
    """What ``run_soak`` hands back (the rig is closed by then)."""

    seed: int
    hours: float
    faults: list[Injected]
    probes: list[Probe]
    summary: str
    states: Counter[tuple[Endpoint, ConnectionState]]
    orders_submitted: int
    fills_heard: int

    def table(self) -> str:
        """One line per checkpoint: tasks, the engine's retained state, memory."""
        head = (
            f"soak seed {self.seed}: {self.hours:.2f} virtual hours, {len(self.faults)} faults, "
            f"{self.orders_submitted} orders, {self.fills_heard} fills heard"
        )
        lines = [head, *probe_lines(self.probes)]
        last = self.probes[-1] if self.probes else None
        if last is not None and last.traced is not None:
            owners = ", ".join(f"{k} {v / 1024:.0f}" for k, v in last.traced.items())
            lines.append(f"traced KiB at {last.label} by allocating code: {owners}")
        return "\n".join(lines)


def probe_lines(probes: list[Probe]) -> list[str]:
    """The table of the checkpoints: a header and one line each."""
    kib = 1024
    lines = [
        "checkpoint  tasks (engine)  engine state KiB  forgotten orders KiB  last snapshot KiB"
        "  decoder caches KiB  unheld objects  traced KiB"
    ]
    for p in probes:
        traced = "-" if p.traced_total is None else f"{p.traced_total / kib:.0f}"
        lines.append(
            f"{p.label:>10}  {p.total_tasks:5d} ({p.tasks['engine']:3d})  "
            f"{p.engine.bytes / kib:16.1f}  {p.engine.apart[TRACES] / kib:20.1f}  "
            f"{p.engine.apart[SNAPSHOT] / kib:17.1f}  {p.caches / kib:18.1f}  "
            f"{p.unheld:14d}  {traced:>10}"
        )
    return lines


async def run_soak(
    hours: float,
    seed: int,
    *,
    checkpoint_every: float = HOUR,
    fault_gap: tuple[float, float] = (60.0, 300.0),
    trace: bool = True,
    config: SimConfig | None = None,
) -> SoakResult:
    """Run the soak for ``hours`` of virtual time with a checkpoint every ``checkpoint_every``
    virtual seconds (the last one at the end) and a fault every ``fault_gap`` virtual seconds
    (uniform, after the previous one healed). With ``trace``, ``tracemalloc`` starts right
    after the first checkpoint (one frame), so the traced bytes at a later one are what was
    allocated since then and is still alive (it slows the run down by about a third). Fails
    (``AssertionError``) at the first checkpoint whose invariants do not hold."""
    total = hours * HOUR
    was_tracing = tracemalloc.is_tracing()
    engine = {"done_order_retention": DONE_ORDER_RETENTION}
    async with open_fault_rig(config or sim_config(), engine=engine) as rig:
        soak = Soak(rig, seed, trio.current_time(), fault_gap)
        async with trio.open_nursery() as watchers:
            watchers.start_soon(soak.watch_states)
            await rig.wait_healthy()
            cycles = max(1, round(total / checkpoint_every))
            try:
                for number in range(1, cycles + 1):
                    await soak.chaos_until(soak.start + number * checkpoint_every - COOL_DOWN)
                    await soak.checkpoint()
                    if number == 1 and trace and not was_tracing:
                        tracemalloc.start(1)
            finally:
                if not was_tracing:
                    tracemalloc.stop()
            watchers.cancel_scope.cancel()
        return SoakResult(
            seed=seed,
            hours=soak.now() / HOUR,
            faults=soak.faults,
            probes=soak.probes,
            summary=soak.summary(),
            states=soak.states,
            orders_submitted=len(rig.submitted),
            fills_heard=len(rig.strategy.fills),
        )
