"""A floor for the simulator: the same model, as little machinery as CPython allows.

benchmarks/speed.py runs our simulator and this prototype side by side and
prints the ratio, so anyone can see how close to the physical limit the
simulator is. The prototype does what every simulated call of ours does,
and nothing else:

- a heap-based virtual-time loop (no trio): time jumps to the next action;
- slotted records, one per call, and one trace tuple per event, with the
  same seven fields as ours;
- coroutines driven by `send`: the test's main coroutine and every async
  function; an async function suspends with its new calls (a poll) and
  resumes with at most 10 results at a time, as ours do;
- the test's main coroutine awaits calls (dispatch and wait for the
  outcome) or, as examples/orders.py does, dispatches without waiting
  (`dispatch`, which returns an id) and later waits on an id (`wait`);
- the same copying of values: arguments and results are frozen when they
  enter the service (atoms kept, flat lists kept as tuples, flat dicts kept
  as tuples of their items: ours encodes a dict to CBOR, a dearer copy) and
  thawed afresh for each reader;
- a journal per suspended call (its polls and the results each resume
  delivered) and replay: a crash rebuilds the coroutine from its input and
  replays the journal, checking every step against it;
- under ``light`` and ``heavy`` faults (the same kinds, at the rates of
  ours) the draws ours makes: a latency per delivery, an endpoint error per
  attempt, a lost response per leaf attempt, a crash and a reorder per
  resume, retries with exponential backoff and jitter. Ours also draws a
  lost response for an async function's attempts (a poll or a return, then
  retried and rebuilt by replay); the floor does not, so under faults it
  does less work than ours, the more so under ``heavy``.

It is not a general simulator (no tail calls, no durable sleeps, no
exceptions across calls, no validation, no trio): only what the benchmark
shapes and the order workflow need, so its cost per call is a lower bound
for ours.
"""

from __future__ import annotations

import heapq
import random
from collections.abc import Callable, Coroutine
from typing import Any

__all__ = [
    "FloorSim", "call", "dispatch", "gather", "orders_scenario", "run_shape", "wait", "ORDERS", "SHAPES",
]  # fmt: skip

_ATOMS = frozenset({type(None), bool, int, str})
_MAX_RESULTS = 10
# Endpoint error, response lost, crash, max latency, reorder: sim/_faults.py's presets.
_RATES = {
    "none": (0.0,) * 5,
    "light": (0.02, 0.01, 0.02, 0.05, 0.1),
    "heavy": (0.15, 0.1, 0.15, 0.5, 0.5),
}


class _FrozenDict(tuple):
    """A flat dict's items, frozen; it thaws as a new dict."""

    __slots__ = ()


def _freeze(value: Any) -> Any:
    cls = type(value)
    if cls in _ATOMS:
        return value
    if cls is list or cls is tuple:
        if _ATOMS.issuperset(map(type, value)):
            return tuple(value) if cls is list else value
    elif cls is dict:
        if _ATOMS.issuperset(map(type, value)) and _ATOMS.issuperset(map(type, value.values())):
            return _FrozenDict(value.items())
    raise TypeError(f"the floor prototype copies atoms, flat lists and flat dicts only, not {cls.__name__}")


def _thaw_args(args: tuple[Any, ...]) -> list[Any]:
    # Every argument is thawed afresh (a frozen list becomes a new list, a frozen dict a new dict).
    return [a if type(a) in _ATOMS else list(a) if type(a) is tuple else dict(a) for a in args]


class _Call:
    """`await call(fn, *args)` inside the floor: one durable step."""

    __slots__ = ("fn", "args")

    def __init__(self, fn: Callable[..., Any], args: tuple[Any, ...]) -> None:
        self.fn = fn
        self.args = args

    def __await__(self) -> Any:
        return (yield (self,))[0]


class _Gather:
    __slots__ = ("calls",)

    def __init__(self, calls: tuple[_Call, ...]) -> None:
        self.calls = calls

    def __await__(self) -> Any:
        return (yield self.calls)


class _Wait:
    """`await wait(id)` in the test's main coroutine: the outcome of a call dispatched earlier."""

    __slots__ = ("rec",)

    def __init__(self, rec: _Rec) -> None:
        self.rec = rec

    def __await__(self) -> Any:
        return (yield self)[0]


def call(fn: Callable[..., Any], *args: Any) -> _Call:
    """A call of `fn` with `args`, to await."""
    return _Call(fn, args)


def gather(*calls: _Call) -> _Gather:
    """The calls' results in order, to await."""
    return _Gather(calls)


def dispatch(fn: Callable[..., Any], *args: Any) -> str:
    """From the test's main coroutine: dispatch a call of `fn` now, without waiting; its id."""
    floor = _running
    assert floor is not None, "dispatch runs inside FloorSim.run"
    rec = floor.dispatch(fn, args, None, 0)
    floor.dispatched[rec.id] = rec
    return rec.id


def wait(did: str) -> _Wait:
    """From the test's main coroutine: the result of the call `dispatch` gave `did`, to await."""
    assert _running is not None, "wait runs inside FloorSim.run"
    return _Wait(_running.dispatched[did])


class _Rec:
    __slots__ = (
        "id", "fn", "args", "parent", "key", "attempt", "failures", "outcome",
        "coro", "journal", "keys", "got", "ready", "waiting", "results",
    )  # fmt: skip

    def __init__(self, did: str, fn: Any, args: tuple[Any, ...], parent: _Rec | None, key: int) -> None:
        self.id = did
        self.fn = fn
        self.args = args
        self.parent = parent
        self.key = key
        self.attempt = 0
        self.failures = 0
        self.outcome: Any = None
        self.coro: Any = None
        self.journal: list[list[tuple[int, Any, Any]]] = []  # each poll: (key, fn, frozen args)
        self.keys = 0  # steps made so far: the next step's key
        self.got: dict[int, Any] = {}  # every result delivered, by key (the journal's results)
        self.ready: list[tuple[int, Any]] = []  # (key, frozen result)
        self.waiting: dict[int, int] = {}  # child key -> index in the awaited gather
        self.results: list[Any] = []  # the awaited gather's results so far


class FloorSim:
    """One deterministic run of the floor prototype."""

    def __init__(self, seed: int, faults: str = "none") -> None:
        self.now = 0.0
        self.heap: list[tuple[float, int, Callable[[Any], Any], Any]] = []
        self.seq = 0
        self.ids = 0
        self.trace: list[tuple[Any, ...]] = []
        self.draws: list[float] = []
        self.faults = faults != "none"
        rates = _RATES[faults]
        self.endpoint_error, self.response_lost, self.crash, self.max_latency, self.reorder = rates
        self._random = random.Random(f"floor:{seed}").random
        self.dispatched: dict[str, _Rec] = {}  # the calls `dispatch` made, by id, for `wait`

    def _draw(self) -> float:
        u = self._random()
        self.draws.append(u)
        return u

    def _chance(self, rate: float) -> bool:
        return self._draw() >= 1.0 - rate

    def _push(self, time: float, action: Callable[[Any], Any], arg: Any) -> None:
        self.seq += 1
        heapq.heappush(self.heap, (time, self.seq, action, arg))

    def _later(self) -> float:
        return self.now + self.max_latency * self._draw() if self.faults else self.now

    # -- calls -------------------------------------------------------------

    def dispatch(self, fn: Any, args: tuple[Any, ...], parent: _Rec | None, key: int) -> _Rec:
        self.ids += 1
        did = f"d{self.ids}"
        rec = _Rec(did, fn, tuple(map(_freeze, args)), parent, key)
        self.trace.append(("dispatch", self.now, did, fn.__name__, 0, None, parent.id if parent else None))
        self._push(self._later(), self._attempt, rec)
        return rec

    def _attempt(self, rec: _Rec) -> None:
        rec.attempt += 1
        if self.faults and self._chance(self.endpoint_error):
            self._draw()  # which status
            self._retry(rec, "UNAVAILABLE")
            return
        fn = rec.fn
        if not getattr(fn, "is_async", False):
            value = fn(*_thaw_args(rec.args))
            frozen = _freeze(value)
            if self.faults and self._chance(self.response_lost):
                self._retry(rec, "TIMEOUT")
                return
            self.trace.append(("attempt", self.now, rec.id, fn.__name__, rec.attempt, "OK", None))
            self._finish(rec, frozen)
            return
        if rec.coro is None:
            rec.coro = fn(*_thaw_args(rec.args))
            self._advance(rec, None)
            return
        if self.faults and self._chance(self.crash):
            self.trace.append(("fault", self.now, rec.id, fn.__name__, rec.attempt, None, "crash"))
            self._rebuild(rec)
        got, waiting, results = rec.got, rec.waiting, rec.results
        for key, frozen in self._take(rec):
            got[key] = frozen  # journaled: a rebuild replays it
            cls = type(frozen)  # thawed inline: a call per result would weigh on the floor
            results[waiting.pop(key)] = (
                frozen if cls in _ATOMS else list(frozen) if cls is tuple else dict(frozen)
            )
        if waiting:
            self._suspend(rec, ())
        else:
            self._advance(rec, results)

    def _take(self, rec: _Rec) -> list[tuple[int, Any]]:
        ready = rec.ready
        if self.faults and len(ready) > 1 and self._chance(self.reorder):
            self._draw()
            self._draw()
            ready.reverse()
        batch, rec.ready = ready[:_MAX_RESULTS], ready[_MAX_RESULTS:]
        return batch

    def _advance(self, rec: _Rec, value: Any) -> None:
        try:
            calls = rec.coro.send(value)
        except StopIteration as stop:
            rec.coro = None
            self.trace.append(("attempt", self.now, rec.id, rec.fn.__name__, rec.attempt, "OK", None))
            self._finish(rec, _freeze(stop.value))
            return
        base = rec.keys
        rec.keys += len(calls)
        entry: list[tuple[int, Any, Any]] = []
        waiting: dict[int, int] = {}
        for i, c in enumerate(calls):
            waiting[base + i] = i
            child = self.dispatch(c.fn, c.args, rec, base + i)
            entry.append((base + i, c.fn, child.args))
        rec.waiting = waiting
        rec.results = [None] * len(calls)
        rec.journal.append(entry)
        self._suspend(rec, entry)

    def _suspend(self, rec: _Rec, entry: Any) -> None:
        self.trace.append(("attempt", self.now, rec.id, rec.fn.__name__, rec.attempt, "poll", len(entry)))
        if rec.ready:
            self._push(self._later(), self._attempt, rec)

    def _rebuild(self, rec: _Rec) -> None:
        # Re-run from the input and replay every journaled step, checking it.
        coro = rec.fn(*_thaw_args(rec.args))
        got = rec.got
        value: Any = None
        for entry in rec.journal:
            calls = coro.send(value)
            for (key, fn, frozen), c in zip(entry, calls, strict=True):
                if fn is not c.fn or tuple(map(_freeze, c.args)) != frozen:
                    raise RuntimeError(f"replay of {rec.id} diverged at step {key}")
            value = [_thaw_value(got[key]) if key in got else None for key, _, _ in entry]
        # The last poll is the one still waiting for some of its results.
        rec.coro = coro
        rec.results = value
        rec.waiting = {key: i for i, (key, _, _) in enumerate(rec.journal[-1]) if key not in got}

    def _retry(self, rec: _Rec, status: str) -> None:
        rec.failures += 1
        self.trace.append(("retry", self.now, rec.id, rec.fn.__name__, rec.attempt, status, None))
        delay = min(0.1 * 2.0 ** (rec.failures - 1), 60.0) * (1 + 0.5 * self._draw())
        self._push(self.now + delay, self._attempt, rec)

    def _finish(self, rec: _Rec, frozen: Any) -> None:
        rec.outcome = (frozen,)
        rec.failures = 0
        rec.journal = []
        rec.got = {}
        self.trace.append(("outcome", self.now, rec.id, rec.fn.__name__, rec.attempt, "OK", None))
        parent = rec.parent
        if parent is not None:
            parent.ready.append((rec.key, frozen))
            if len(parent.ready) == 1 and parent.coro is not None:
                self._push(self._later(), self._attempt, parent)

    # -- the test's main coroutine -------------------------------------------

    def run(self, main: Coroutine[Any, Any, Any]) -> Any:
        """Run `main`: awaiting a call dispatches it and waits for its outcome; `dispatch`
        dispatches without waiting and `wait` waits for a dispatched call's outcome."""
        global _running
        _running = self  # what `dispatch` and `wait` act on: one floor runs at a time
        value: Any = None
        while True:
            try:
                calls = main.send(value)
            except StopIteration as stop:
                return stop.value
            if type(calls) is _Wait:
                recs = [calls.rec]
            else:
                recs = [self.dispatch(c.fn, c.args, None, i) for i, c in enumerate(calls)]
            heap = self.heap
            while heap and any(r.outcome is None for r in recs):
                due, _, action, arg = heapq.heappop(heap)
                if due > self.now:
                    self.now = due
                action(arg)
            if any(r.outcome is None for r in recs):
                raise RuntimeError("the floor prototype deadlocked")
            value = [_thaw_value(r.outcome[0]) for r in recs]


# The floor running (or the last one run): what `dispatch` and `wait` act on.
_running: FloorSim | None = None


def _thaw_value(frozen: Any) -> Any:
    cls = type(frozen)
    if cls in _ATOMS:
        return frozen
    return list(frozen) if cls is tuple else dict(frozen)


def _async(fn: Callable[..., Any]) -> Callable[..., Any]:
    fn.is_async = True  # type: ignore[attr-defined]
    return fn


def noop(x: int) -> int:
    return x


def _merge(left: list[int], right: list[int]) -> list[int]:
    out: list[int] = []
    i = j = 0
    while i < len(left) and j < len(right):
        if left[i] <= right[j]:
            out.append(left[i])
            i += 1
        else:
            out.append(right[j])
            j += 1
    return out + left[i:] + right[j:]


@_async
async def fan_out(n: int) -> int:
    return len(await gather(*[call(noop, i) for i in range(n)]))


@_async
async def sort(items: list[int]) -> list[int]:
    if len(items) <= 1:
        return items
    middle = len(items) // 2
    left, right = await gather(call(sort, items[:middle]), call(sort, items[middle:]))
    return _merge(left, right)


async def _sequential(n: int) -> None:
    for i in range(n):
        assert await call(noop, i) == i


async def _gather(n: int) -> None:
    assert await call(fan_out, n) == n


async def _sort(data: list[int]) -> None:
    assert await call(sort, data) == sorted(data)


async def _empty() -> None:
    pass


# The order workflow of examples/orders.py, the same functions and side effects
# on module-level state of its own (a floor run may run beside one of ours).
charges: dict[str, int] = {}
stock: dict[str, int] = {}
reservations: set[tuple[str, str]] = set()


def reserve(order_id: str, sku: str, quantity: int) -> int:
    if (order_id, sku) not in reservations:
        if stock.get(sku, 0) < quantity:
            raise ValueError(f"out of stock: {sku}")
        stock[sku] -= quantity
        reservations.add((order_id, sku))
    return stock[sku]


def charge(order_id: str, cents: int) -> str:
    charges.setdefault(order_id, cents)
    return f"receipt-{order_id}"


def ship(order_id: str, items: list[str]) -> str:
    return f"parcel-{order_id}-{len(items)}"


@_async
async def place_order(order_id: str, items: dict[str, int], cents: int) -> dict[str, object]:
    await gather(*(call(reserve, order_id, sku, n) for sku, n in sorted(items.items())))
    receipt = await call(charge, order_id, cents)
    parcel = await call(ship, order_id, sorted(items))
    return {"order": order_id, "receipt": receipt, "parcel": parcel}


async def orders_scenario() -> list[dict[str, object]]:
    """examples/orders.py's `scenario`: three orders dispatched at once, then their results."""
    stock.clear()
    stock.update({"apple": 10, "pear": 10})
    charges.clear()
    reservations.clear()
    ids = [dispatch(place_order, f"o{i}", {"apple": 2, "pear": 1}, 500 + i) for i in range(3)]
    return [await wait(i) for i in ids]


SHAPES: dict[str, tuple[Callable[[], Coroutine[Any, Any, Any]], int]] = {
    "sequential 200": (lambda: _sequential(200), 200),
    "gather 100": (lambda: _gather(100), 101),
    "merge sort 256": (lambda: _sort(random.Random(256).sample(range(2560), 256)), 511),
}
"""Shape -> (main coroutine factory, calls), the same shapes as benchmarks/workloads.py."""

ORDERS: tuple[Callable[[], Coroutine[Any, Any, Any]], int] = (orders_scenario, 15)
"""The order workflow, as SHAPES has them: three place_order, each 2 reserve, charge and ship."""

_OTHERS = {"empty": _empty, "orders": ORDERS[0]}


def run_shape(name: str, faults: str, seed: int = 1) -> FloorSim:
    """One fresh floor run of the shape (or ``"empty"``, or ``"orders"``); the finished simulation."""
    factory = _OTHERS[name] if name in _OTHERS else SHAPES[name][0]
    floor = FloorSim(seed, faults)
    floor.run(factory())
    return floor
