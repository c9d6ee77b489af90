"""Registered functions end to end: the test decorators, calls, errors, retries, output statuses."""

from __future__ import annotations

import errno
import itertools
import time
from typing import Any

import pytest
import trio

import registry
import registry.test
import sim
from registry import Status, error
from registry._status import _error_types, _output_types

_ids = itertools.count()


def unique(prefix: str = "fn") -> str:
    return f"test-function-{prefix}-{next(_ids)}"




def run(coro: Any, **options: Any) -> Any:
    """Run without injected faults (the tests here count executions)."""
    options.setdefault("faults", "none")
    return registry.test.run(coro, **options)


class OrderError(Exception):
    """Importable, with an __init__ of two required arguments."""

    def __init__(self, order_id: int, reason: str) -> None:
        super().__init__(f"order {order_id}: {reason}")
        self.order_id = order_id
        self.reason = reason


class Busy(error.DispatchError):
    """An application error class that sets its own (temporary) status."""

    status = Status.THROTTLED


class NotReady:
    """An output type registered (in a test) as TEMPORARY_ERROR."""


class Reply(dict):  # type: ignore[type-arg]
    """A dict whose status depends on its content (registered in a test)."""


# -- 1. the API page example and the test decorators -----------------------------------------


def test_api_page_example() -> None:
    @registry.function
    def greet(name: str) -> str:
        return f"Hello {name}!"

    @registry.test.function
    async def test_greet() -> None:
        assert await greet("World") == "Hello World!"

    assert test_greet() is None  # a plain function pytest can call; it ran and passed


@registry.test.function
async def test_bare_decorator_collected_by_pytest() -> None:
    r = registry.Registry(unique("bare"))
    try:

        @r.function
        def greet(name: str) -> str:
            return f"Hello {name}!"

        assert await greet("World") == "Hello World!"
        assert sim.current().seed == sim.DEFAULT_SEED
    finally:
        r.close()


@registry.test.function(seed=7, faults="none")
async def test_decorator_with_options_collected_by_pytest() -> None:
    assert sim.current().seed == 7
    assert sim.current().faults.name == "none"


def test_bare_decorator_uses_default_seed_and_light_faults(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.delenv(registry.test.FAULTS_ENV, raising=False)
    seen: list[tuple[int, str]] = []

    @registry.test.function
    async def t() -> None:
        seen.append((sim.current().seed, sim.current().faults.name))

    t()
    assert seen == [(sim.DEFAULT_SEED, "light")]


def test_faults_environment_variable_sets_the_default(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv(registry.test.FAULTS_ENV, "heavy")
    seen: list[str] = []

    @registry.test.function
    async def t() -> None:
        seen.append(sim.current().faults.name)

    t()
    assert seen == ["heavy"]


def test_decorator_seed_option(reg: registry.Registry) -> None:
    @reg.function
    def greet(name: str) -> str:
        return f"Hello {name}!"

    seen: list[int] = []

    @registry.test.function(seed=7)
    async def t() -> None:
        assert await greet("World") == "Hello World!"
        seen.append(sim.current().seed)

    t()
    assert seen == [7]


def test_decorator_seeds_option_runs_once_per_seed(reg: registry.Registry) -> None:
    @reg.function
    def greet(name: str) -> str:
        return f"Hello {name}!"

    seen: list[int] = []

    @registry.test.function(seeds=range(3))
    async def t() -> None:
        assert await greet("World") == "Hello World!"
        seen.append(sim.current().seed)

    t()
    assert seen == [0, 1, 2]


def test_decorator_faults_option(reg: registry.Registry) -> None:
    runs: list[str] = []

    @reg.function
    def greet(name: str) -> str:
        runs.append(name)
        return f"Hello {name}!"

    @registry.test.function(faults="none")
    async def t() -> None:
        assert await greet("World") == "Hello World!"
        assert sim.current().faults.name == "none"

    t()
    assert runs == ["World"]  # no injected fault, so exactly one execution


def test_decorator_failure_names_its_seed() -> None:
    @registry.test.function(seeds=[4, 5], faults="none")
    async def t() -> None:
        if sim.current().seed == 5:
            raise AssertionError("boom")

    with pytest.raises(AssertionError, match="boom") as info:
        t()
    notes = "\n".join(getattr(info.value, "__notes__", []))
    assert "seed=5" in notes
    assert "faults=none" in notes


def test_decorator_rejects_sync_functions() -> None:
    def not_async() -> None:
        pass

    with pytest.raises(TypeError):
        registry.test.function(not_async)  # type: ignore[arg-type]


def test_decorator_rejects_seed_and_seeds_together() -> None:
    with pytest.raises(ValueError):
        registry.test.function(seed=1, seeds=[1, 2])


def test_decorator_rejects_empty_seeds() -> None:
    with pytest.raises(ValueError):
        registry.test.function(seeds=[])


class TestMethodDecorator:
    greeting = "Hello"

    @registry.test.method
    async def test_bare_method(self) -> None:
        assert isinstance(self, TestMethodDecorator)
        r = registry.Registry(unique("method"))
        try:

            @r.function
            def greet(name: str) -> str:
                return f"{TestMethodDecorator.greeting} {name}!"

            assert await greet("World") == "Hello World!"
        finally:
            r.close()

    @registry.test.method(seed=7, faults="none")
    async def test_method_with_options(self) -> None:
        assert self.greeting == "Hello"
        assert sim.current().seed == 7
        assert sim.current().faults.name == "none"


def test_method_decorator_runs_with_self_for_each_seed() -> None:
    seen: list[tuple[str, int]] = []

    class Suite:
        label = "suite"

        @registry.test.method(seeds=[1, 2], faults="none")
        async def check(self) -> None:
            seen.append((self.label, sim.current().seed))

    Suite().check()
    assert seen == [("suite", 1), ("suite", 2)]


def test_run_returns_the_coroutine_value(reg: registry.Registry) -> None:
    @reg.function
    def answer() -> int:
        return 42

    assert run(answer()) == 42


def test_run_accepts_an_async_callable(reg: registry.Registry) -> None:
    @reg.function
    def answer() -> int:
        return 42

    async def main() -> int:
        return await answer()

    assert run(main) == 42


def test_main_runs_inside_an_existing_trio_run(reg: registry.Registry) -> None:
    @reg.function
    def answer() -> int:
        return 42

    async def host() -> int:
        return await registry.test.main(answer(), faults="none")

    assert trio.run(host) == 42


# -- 3. calls -----------------------------------------------------------------------------------


def test_sync_function_positional_and_keyword_arguments(reg: registry.Registry) -> None:
    @reg.function
    def describe(a: int, b: int = 10, *rest: int, scale: int = 1, **extra: Any) -> Any:
        return (a, b, rest, scale, extra)

    async def main() -> list[Any]:
        return [
            await describe(1),
            await describe(1, 2),
            await describe(1, b=3),
            await describe(a=4, b=5),
            await describe(1, 2, 3, 4, scale=2, tag="x"),
        ]

    assert run(main()) == [
        (1, 10, (), 1, {}),
        (1, 2, (), 1, {}),
        (1, 3, (), 1, {}),
        (4, 5, (), 1, {}),
        (1, 2, (3, 4), 2, {"tag": "x"}),
    ]


def test_async_function_keyword_arguments(reg: registry.Registry) -> None:
    @reg.function
    async def join(sep: str, *, parts: list[str]) -> str:
        return sep.join(parts)

    assert run(join("-", parts=["a", "b"])) == "a-b"


def test_call_without_input(reg: registry.Registry) -> None:
    @reg.function
    def ping() -> str:
        return "pong"

    @reg.function
    def nothing() -> None:
        return None

    async def main() -> tuple[Any, Any]:
        return await ping(), await nothing()

    assert run(main()) == ("pong", None)


def test_two_functions_in_sequence_from_the_test(reg: registry.Registry) -> None:
    @reg.function
    def add(a: int, b: int) -> int:
        return a + b

    @reg.function
    def square(x: int) -> int:
        return x * x

    async def main() -> int:
        total = await add(2, 3)
        return await square(total)

    assert run(main()) == 25


def test_async_function_awaits_others_in_sequence(reg: registry.Registry) -> None:
    order: list[str] = []

    @reg.function
    def step(name: str) -> str:
        order.append(name)
        return name.upper()

    @reg.function
    async def pipeline() -> list[str]:
        a = await step("a")
        b = await step("b" + a)
        c = await step("c" + b)
        return [a, b, c]

    assert run(pipeline()) == ["A", "BA", "CBA"]
    assert order == ["a", "bA", "cBA"]


def test_nested_result_built_from_other_calls(reg: registry.Registry) -> None:
    @reg.function
    def add(a: int, b: int) -> int:
        return a + b

    @reg.function
    async def pair(x: int) -> tuple[int, int]:
        return (x, await add(x, x))

    @reg.function
    async def report() -> dict[str, Any]:
        return {
            "sum": await add(1, 2),
            "pairs": [await pair(i) for i in range(3)],
            "nested": {"deep": (await add(10, 20), [await add(0, 1)])},
        }

    result = run(report())
    assert result == {
        "sum": 3,
        "pairs": [(0, 0), (1, 2), (2, 4)],
        "nested": {"deep": (30, [1])},
    }
    assert all(type(p) is tuple for p in result["pairs"])
    assert type(result["nested"]["deep"]) is tuple
    assert type(result["nested"]["deep"][1][0]) is int


def test_nested_error_three_levels_deep(reg: registry.Registry) -> None:
    @reg.function
    def level3(x: int) -> int:
        raise LookupError(f"missing item {x}")

    @reg.function
    async def level2(x: int) -> int:
        return await level3(x + 1)

    @reg.function
    async def level1(x: int) -> int:
        return await level2(x + 1)

    async def main() -> None:
        with pytest.raises(LookupError) as info:
            await level1(1)
        assert type(info.value) is LookupError
        assert str(info.value) == "missing item 3"

    run(main())


def test_nested_custom_error_three_levels_deep(reg: registry.Registry) -> None:
    @reg.function
    def level3() -> None:
        raise OrderError(17, "out of stock")

    @reg.function
    async def level2() -> None:
        await level3()

    @reg.function
    async def level1() -> None:
        await level2()

    async def main() -> None:
        with pytest.raises(OrderError) as info:
            await level1()
        assert (info.value.order_id, info.value.reason) == (17, "out of stock")
        assert str(info.value) == "order 17: out of stock"

    run(main())


def test_async_caller_can_catch_a_child_error(reg: registry.Registry) -> None:
    @reg.function
    def fails() -> None:
        raise KeyError("k")

    @reg.function
    async def recovers() -> str:
        try:
            await fails()
        except KeyError as exc:
            return f"recovered from {exc.args[0]}"
        return "no error"

    assert run(recovers()) == "recovered from k"


def test_wrong_arguments_fail_without_retry(reg: registry.Registry) -> None:
    runs: list[int] = []

    @reg.function
    def one(x: int) -> int:
        runs.append(x)
        return x

    async def main() -> None:
        with pytest.raises(TypeError):
            await one(1, 2)  # type: ignore[call-arg]

    run(main())
    assert runs == []


def test_async_function_wrong_arguments_fail_without_retry(reg: registry.Registry) -> None:
    @reg.function
    async def one(x: int) -> int:
        return x

    async def main() -> None:
        with pytest.raises(TypeError):
            await one(1, 2)  # type: ignore[call-arg]

    run(main())


def test_keyword_argument_named_self_reaches_the_function(reg: registry.Registry) -> None:
    @reg.function
    def describe(self: str, other: str = "") -> str:
        return f"{self}/{other}"

    async def main() -> list[Any]:
        by_call = await describe(self="a", other="b")
        by_dispatch = await reg.client.wait(describe.dispatch(self="c"))
        call = describe.build_call(self="d")
        return [by_call, by_dispatch, call.input]

    assert run(main()) == ["a/b", "c/", registry.Arguments((), {"self": "d"})]


def test_reset_keyword_argument_named_fn(reg: registry.Registry) -> None:
    @reg.function
    def apply(fn: str) -> str:
        return fn.upper()

    reset = registry.Reset(apply, fn="lower")
    assert reset.call.input == registry.Arguments((), {"fn": "lower"})


def test_async_function_wrong_arguments_get_status_for_error(reg: registry.Registry) -> None:
    @reg.function
    async def one(x: int) -> int:
        return x

    @reg.function
    def sync_one(x: int) -> int:
        return x

    async def main() -> None:
        for fn in (sync_one, one):
            with pytest.raises(TypeError):
                await fn(1, 2)  # type: ignore[call-arg]

    simulation = sim.Simulation(faults="none")
    simulation.run(main())
    outcomes = {e.function: e.status for e in simulation.trace if e.kind == "outcome"}
    assert outcomes == {sync_one.name: "INVALID_ARGUMENT", one.name: "INVALID_ARGUMENT"}


def test_build_call(reg: registry.Registry) -> None:
    @reg.function
    def add(a: int, b: int) -> int:
        return a + b

    call = add.build_call(1, b=2)
    assert isinstance(call, registry.Call)
    assert call.function == add.name
    assert call.endpoint == reg.endpoint
    assert call.input == registry.Arguments((1,), {"b": 2})


def test_dispatch_returns_an_id_and_wait_gets_the_value(reg: registry.Registry) -> None:
    @reg.function
    def add(a: int, b: int) -> int:
        return a + b

    async def main() -> Any:
        dispatch_id = add.dispatch(2, b=5)
        assert isinstance(dispatch_id, str)
        return await reg.client.wait(dispatch_id)

    assert run(main()) == 7


def test_dispatched_call_runs_even_if_never_awaited(reg: registry.Registry) -> None:
    runs: list[int] = []

    @reg.function
    def side_effect(x: int) -> None:
        runs.append(x)

    async def main() -> None:
        side_effect.dispatch(9)

    run(main())
    assert runs == [9]


def test_calls_run_under_light_faults(reg: registry.Registry) -> None:
    @reg.function
    def add(a: int, b: int) -> int:
        return a + b

    @reg.function
    async def total(n: int) -> int:
        acc = 0
        for i in range(n):
            acc = await add(acc, i)
        return acc

    for seed in range(10):
        assert registry.test.run(total(10), faults="light", seed=seed) == 45


# -- 4. errors crossing a call ---------------------------------------------------------------------


@pytest.mark.parametrize(
    "exc",
    [
        KeyError("key"),
        ZeroDivisionError("division by zero"),
        LookupError("lookup"),
        RuntimeError("runtime"),
        AssertionError("assertion"),
        PermissionError("denied"),
        NotImplementedError("later"),
        ValueError("bad value"),
        TypeError("bad type"),
    ],
    ids=lambda e: type(e).__name__,
)
def test_builtin_exceptions_keep_their_type_and_args(reg: registry.Registry, exc: Exception) -> None:
    @reg.function
    def raiser() -> None:
        raise exc

    async def main() -> None:
        with pytest.raises(type(exc)) as info:
            await raiser()
        assert type(info.value) is type(exc)
        assert info.value.args == exc.args
        assert str(info.value) == str(exc)

    run(main())


def test_os_error_keeps_errno_and_filename(reg: registry.Registry) -> None:
    @reg.function
    def opener() -> None:
        raise FileNotFoundError(errno.ENOENT, "No such file or directory", "/missing")

    async def main() -> None:
        with pytest.raises(FileNotFoundError) as info:
            await opener()
        assert info.value.errno == errno.ENOENT
        assert info.value.strerror == "No such file or directory"
        assert info.value.filename == "/missing"

    run(main())


def test_importable_custom_exception_crosses_with_class_and_attributes(reg: registry.Registry) -> None:
    runs: list[int] = []

    @reg.function
    def place_order(order_id: int) -> None:
        runs.append(order_id)
        raise OrderError(order_id, "card declined")

    async def main() -> None:
        with pytest.raises(OrderError) as info:
            await place_order(5)
        assert type(info.value) is OrderError
        assert info.value.order_id == 5
        assert info.value.reason == "card declined"
        assert str(info.value) == "order 5: card declined"

    run(main())
    assert runs == [5]  # PERMANENT_ERROR: not retried


def test_local_exception_class_arrives_as_runtime_error(reg: registry.Registry) -> None:
    @reg.function
    def raiser() -> None:
        class HiddenError(Exception):
            pass

        raise HiddenError("secret detail")

    async def main() -> None:
        with pytest.raises(RuntimeError) as info:
            await raiser()
        assert type(info.value) is RuntimeError
        assert "HiddenError" in str(info.value)
        assert "secret detail" in str(info.value)

    run(main())


def test_dispatch_error_classes_cross_as_themselves(reg: registry.Registry) -> None:
    @reg.function
    def denied() -> None:
        raise error.PermissionDeniedError("no access")

    async def main() -> None:
        with pytest.raises(error.PermissionDeniedError, match="no access"):
            await denied()

    run(main())


# -- 5. retries -----------------------------------------------------------------------------------


def test_temporary_error_is_retried_until_success(reg: registry.Registry) -> None:
    runs: list[int] = []

    @reg.function
    def flaky() -> str:
        runs.append(1)
        if len(runs) <= 5:
            raise error.TemporaryError(f"failure {len(runs)}")
        return "finally"

    async def main() -> tuple[str, float]:
        value = await flaky()
        return value, sim.now()

    started = time.perf_counter()
    value, virtual = run(main())
    wall = time.perf_counter() - started
    assert value == "finally"
    assert len(runs) == 6
    # Five backoffs of at least 0.1, 0.2, 0.4, 0.8 and 1.6 virtual seconds.
    assert virtual >= 3.1
    assert wall < 1.0


@pytest.mark.parametrize(
    "exc",
    [error.PermanentError("no"), ValueError("no"), OrderError(1, "no"), error.NotFoundError("no")],
    ids=lambda e: type(e).__name__,
)
def test_permanent_errors_run_once(reg: registry.Registry, exc: Exception) -> None:
    runs: list[int] = []

    @reg.function
    def fails() -> None:
        runs.append(1)
        raise exc

    async def main() -> None:
        with pytest.raises(type(exc)):
            await fails()

    run(main())
    assert runs == [1]


@pytest.mark.parametrize(
    "exc",
    [
        TimeoutError("slow"),
        ConnectionError("reset"),
        error.ThrottleError("busy"),
        error.TemporaryError("again"),
        InterruptedError("interrupted"),
    ],
    ids=lambda e: type(e).__name__,
)
def test_temporary_errors_are_retried(reg: registry.Registry, exc: Exception) -> None:
    runs: list[int] = []

    @reg.function
    def flaky() -> str:
        runs.append(1)
        if len(runs) < 3:
            raise exc
        return "ok"

    assert run(flaky()) == "ok"
    assert len(runs) == 3


def test_always_temporary_error_ends_after_the_retry_budget(reg: registry.Registry) -> None:
    runs: list[int] = []
    policy = sim.RetryPolicy()

    @reg.function
    def always() -> None:
        runs.append(1)
        raise error.TemporaryError(f"attempt {len(runs)}")

    async def main() -> float:
        with pytest.raises(error.TemporaryError) as info:
            await always()
        assert str(info.value) == f"attempt {policy.max_attempts}"  # the last error
        return sim.now()

    started = time.perf_counter()
    virtual = run(main())
    assert time.perf_counter() - started < 1.0
    # The default attempts (20) fit well within the default time budget (3600 s):
    # the backoffs sum to at most 1.5 * (0.1 * (2**10 - 1) + 9 * 60) s.
    assert len(runs) == policy.max_attempts == 20
    assert 0 < virtual <= policy.max_duration


def test_custom_retry_policy_limits_attempts(reg: registry.Registry) -> None:
    runs: list[int] = []

    @reg.function
    def always() -> None:
        runs.append(1)
        raise error.TemporaryError("again")

    async def main() -> None:
        with pytest.raises(error.TemporaryError):
            await always()

    run(main(), retry=sim.RetryPolicy(max_attempts=3))
    assert len(runs) == 3


def test_retry_time_budget_stops_retries(reg: registry.Registry) -> None:
    runs: list[float] = []
    policy = sim.RetryPolicy(max_attempts=1000, max_duration=10.0)

    @reg.function
    def always() -> None:
        runs.append(sim.now())
        raise error.TemporaryError("again")

    async def main() -> None:
        with pytest.raises(error.TemporaryError):
            await always()

    run(main(), retry=policy)
    assert 1 < len(runs) < policy.max_attempts
    assert runs[-1] - runs[0] <= policy.max_duration


def test_async_function_raising_temporary_error_is_retried(reg: registry.Registry) -> None:
    runs: list[int] = []

    @reg.function
    async def flaky() -> str:
        runs.append(1)
        if len(runs) < 3:
            raise error.TemporaryError("again")
        return "ok"

    assert run(flaky()) == "ok"
    assert len(runs) == 3


def test_child_temporary_error_is_retried_inside_an_async_parent(reg: registry.Registry) -> None:
    child_runs: list[int] = []

    @reg.function
    def child() -> str:
        child_runs.append(1)
        if len(child_runs) < 4:
            raise TimeoutError("slow")
        return "child ok"

    @reg.function
    async def parent() -> str:
        return "parent got " + await child()

    assert run(parent()) == "parent got child ok"
    assert len(child_runs) == 4


def test_nested_caller_gets_the_error_after_the_child_budget(reg: registry.Registry) -> None:
    child_runs: list[int] = []

    @reg.function
    def child() -> None:
        child_runs.append(1)
        raise error.TemporaryError("never")

    @reg.function
    async def parent() -> str:
        try:
            await child()
        except error.TemporaryError:
            return "gave up"
        return "no error"

    assert run(parent(), retry=sim.RetryPolicy(max_attempts=4)) == "gave up"
    assert len(child_runs) == 4


def test_dispatch_error_subclass_with_own_status_is_retried(reg: registry.Registry) -> None:
    runs: list[int] = []

    @reg.function
    def busy() -> str:
        runs.append(1)
        if len(runs) < 3:
            raise Busy("try later")
        return "served"

    assert run(busy()) == "served"
    assert len(runs) == 3


def test_registered_error_type_decides_retry_end_to_end(reg: registry.Registry) -> None:
    runs: list[int] = []

    @reg.function
    def order() -> str:
        runs.append(1)
        if len(runs) < 3:
            raise OrderError(len(runs), "inventory lagging")
        return "ordered"

    registry.register_error_type(OrderError, Status.TEMPORARY_ERROR)
    try:
        assert run(order()) == "ordered"
    finally:
        _error_types.pop(OrderError, None)
    assert len(runs) == 3


def test_registered_error_handler_sees_the_exception(reg: registry.Registry) -> None:
    runs: list[int] = []

    @reg.function
    def order() -> None:
        runs.append(1)
        # The first error is temporary per the handler, the second permanent.
        raise OrderError(len(runs), "retry" if len(runs) == 1 else "final")

    def handler(exc: BaseException) -> Status:
        assert isinstance(exc, OrderError)
        return Status.TEMPORARY_ERROR if exc.reason == "retry" else Status.PERMANENT_ERROR

    async def main() -> None:
        with pytest.raises(OrderError) as info:
            await order()
        assert (info.value.order_id, info.value.reason) == (2, "final")

    registry.register_error_type(OrderError, handler)
    try:
        run(main())
    finally:
        _error_types.pop(OrderError, None)
    assert len(runs) == 2


def test_retries_cost_no_wall_time_under_a_foreign_trio_clock(reg: registry.Registry) -> None:
    runs: list[int] = []

    @reg.function
    def flaky() -> str:
        runs.append(1)
        if len(runs) <= 5:
            raise error.TemporaryError("again")
        return "ok"

    async def body() -> tuple[str, float]:
        return await flaky(), sim.now()

    async def host() -> tuple[str, float]:
        return await registry.test.main(body(), faults="none")

    started = time.perf_counter()
    value, virtual = trio.run(host)
    assert time.perf_counter() - started < 1.0
    assert value == "ok"
    assert virtual >= 3.1
    assert len(runs) == 6


def test_a_call_without_faults_takes_no_virtual_time(reg: registry.Registry) -> None:
    @reg.function
    def ping() -> str:
        return "pong"

    async def main() -> list[Any]:
        start = sim.now()
        value = await ping()
        return [start, value, sim.now()]

    assert run(main()) == [0.0, "pong", 0.0]


# -- 8. output statuses ------------------------------------------------------------------------------


def test_output_type_registered_as_temporary_is_retried(reg: registry.Registry) -> None:
    runs: list[int] = []

    @reg.function
    def poll_job() -> Any:
        runs.append(1)
        return NotReady() if len(runs) < 3 else "done"

    registry.register_output_type(NotReady, Status.TEMPORARY_ERROR)
    try:
        assert registry.status_for_output(NotReady()) is Status.TEMPORARY_ERROR
        assert run(poll_job()) == "done"
    finally:
        _output_types.pop(NotReady, None)
    assert len(runs) == 3


def test_output_type_with_callable_handler_end_to_end(reg: registry.Registry) -> None:
    runs: list[int] = []

    @reg.function
    async def fetch() -> Reply:
        runs.append(1)
        return Reply(ready=len(runs) >= 2, n=len(runs))

    def handler(reply: Reply) -> Status:
        return Status.OK if reply["ready"] else Status.TEMPORARY_ERROR

    registry.register_output_type(Reply, handler)
    try:
        assert run(fetch()) == {"ready": True, "n": 2}
    finally:
        _output_types.pop(Reply, None)
    assert len(runs) == 2


def test_output_type_always_temporary_ends_with_temporary_error(reg: registry.Registry) -> None:
    runs: list[int] = []

    @reg.function
    def never_ready() -> NotReady:
        runs.append(1)
        return NotReady()

    async def main() -> None:
        with pytest.raises(error.TemporaryError):
            await never_ready()

    registry.register_output_type(NotReady, Status.TEMPORARY_ERROR)
    try:
        run(main(), retry=sim.RetryPolicy(max_attempts=3))
    finally:
        _output_types.pop(NotReady, None)
    assert len(runs) == 3


def test_output_type_registered_as_permanent_fails_once(reg: registry.Registry) -> None:
    runs: list[int] = []

    @reg.function
    def refuse() -> NotReady:
        runs.append(1)
        return NotReady()

    async def main() -> None:
        with pytest.raises(error.PermanentError):
            await refuse()

    registry.register_output_type(NotReady, Status.PERMANENT_ERROR)
    try:
        run(main())
    finally:
        _output_types.pop(NotReady, None)
    assert runs == [1]


def test_output_status_applies_to_nested_callers(reg: registry.Registry) -> None:
    runs: list[int] = []

    @reg.function
    def child() -> Any:
        runs.append(1)
        return NotReady() if len(runs) < 2 else "ready"

    @reg.function
    async def parent() -> str:
        return await child()

    registry.register_output_type(NotReady, Status.TEMPORARY_ERROR)
    try:
        assert run(parent()) == "ready"
    finally:
        _output_types.pop(NotReady, None)
    assert len(runs) == 2


# -- 9. calling outside a simulation / from a sync function ----------------------------------------


def test_awaiting_a_call_outside_a_simulation_is_a_clear_error(reg: registry.Registry) -> None:
    runs: list[int] = []

    @reg.function
    def fn() -> None:
        runs.append(1)

    async def main() -> None:
        await fn()

    with pytest.raises(RuntimeError, match="simulation"):
        trio.run(main)
    assert runs == []


def test_dispatch_outside_a_simulation_is_a_clear_error(reg: registry.Registry) -> None:
    @reg.function
    def fn() -> None:
        pass

    with pytest.raises(RuntimeError, match="simulation"):
        fn.dispatch()


def test_sync_function_calling_another_gets_a_clear_error(reg: registry.Registry) -> None:
    callee_runs: list[int] = []

    @reg.function
    def callee() -> int:
        callee_runs.append(1)
        return 1

    @reg.function
    def sync_caller() -> Any:
        return callee()

    async def main() -> None:
        with pytest.raises(RuntimeError) as info:
            await sync_caller()
        message = str(info.value)
        assert "sync" in message
        assert callee.name in message
        assert sync_caller.name in message

    run(main())
    assert callee_runs == []


def test_sync_function_may_dispatch_without_waiting(reg: registry.Registry) -> None:
    callee_runs: list[int] = []

    @reg.function
    def callee(x: int) -> None:
        callee_runs.append(x)

    @reg.function
    def starter() -> bool:
        return isinstance(callee.dispatch(3), str)

    assert run(starter()) is True
    assert callee_runs == [3]
