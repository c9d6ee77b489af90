"""Registry end to end: names, endpoints, function registration, close(), defaults."""

from __future__ import annotations

import functools
import itertools
from collections.abc import Iterator
from typing import Any

import pytest
import trio

import registry
import registry.test
import sim
from registry.error import NotFoundError

_ids = itertools.count()


def unique(prefix: str = "reg") -> str:
    """A registry name no other open registry uses (deterministic, per process)."""
    return f"test-registry-{prefix}-{next(_ids)}"




@pytest.fixture
def closing() -> Iterator[list[registry.Registry]]:
    """Registries a test creates; all closed afterwards."""
    made: list[registry.Registry] = []
    try:
        yield made
    finally:
        for r in made:
            r.close()


def make_value_function(r: registry.Registry, value: Any) -> registry.Function[Any, Any]:
    """Register, in `r`, a function named ``make_value_function.<locals>.value_fn`` returning `value`."""

    def value_fn() -> Any:
        return value

    return r.function(value_fn)


# -- names ------------------------------------------------------------------------


@pytest.mark.parametrize("name", ["", None])
def test_empty_or_missing_name_is_rejected(name: Any) -> None:
    with pytest.raises(ValueError):
        registry.Registry(name)


def test_name_and_endpoint_properties(reg: registry.Registry) -> None:
    assert reg.name.startswith("test-test-name-and-endpoint-properties-")
    assert reg.endpoint == f"sim://{reg.name}"
    assert reg.name in repr(reg)


def test_duplicate_name_is_rejected_with_exact_message(closing: list[registry.Registry]) -> None:
    name = unique("dup")
    closing.append(registry.Registry(name))
    with pytest.raises(ValueError) as info:
        registry.Registry(name)
    assert str(info.value) == f"registry with name '{name}' already exists"


def test_duplicate_name_does_not_replace_the_first(closing: list[registry.Registry]) -> None:
    name = unique("dup-keep")
    first = registry.Registry(name)
    closing.append(first)
    fn = make_value_function(first, "first")
    with pytest.raises(ValueError):
        registry.Registry(name)
    assert registry.test.run(fn(), faults="none") == "first"


# -- endpoints --------------------------------------------------------------------


@pytest.mark.parametrize(
    "endpoint",
    [
        "localhost:8000",  # no scheme (parsed as scheme "localhost")
        "example.com/path",  # no scheme at all
        "ftp://example.com",  # unsupported scheme
        "http://",  # no host
        "https:///only/a/path",  # no host
        "sim://",  # no host
    ],
)
def test_invalid_endpoint_is_rejected_and_frees_the_name(
    endpoint: str, closing: list[registry.Registry]
) -> None:
    name = unique("bad-endpoint")
    with pytest.raises(ValueError):
        registry.Registry(name, endpoint=endpoint)
    # The failed construction left nothing behind: the name is still free.
    r = registry.Registry(name)
    closing.append(r)
    assert r.name == name


@pytest.mark.parametrize(
    "template",
    [
        "http://{host}:8000",
        "https://{host}/dispatch",
        "bridge://{host}",
        "sim://{host}",
    ],
)
def test_valid_endpoints_are_accepted(template: str, closing: list[registry.Registry]) -> None:
    name = unique("endpoint")
    endpoint = template.format(host=name)
    r = registry.Registry(name, endpoint=endpoint)
    closing.append(r)
    assert r.endpoint == endpoint
    fn = make_value_function(r, "served")
    assert fn.endpoint == endpoint
    assert registry.test.run(fn(), faults="none") == "served"


def test_two_registries_cannot_share_an_endpoint(closing: list[registry.Registry]) -> None:
    endpoint = f"http://{unique('shared')}.test"
    first = registry.Registry(unique("shared-a"), endpoint=endpoint)
    closing.append(first)
    second_name = unique("shared-b")
    with pytest.raises(ValueError):
        registry.Registry(second_name, endpoint=endpoint)
    closing.append(registry.Registry(second_name))  # the name was not taken


def test_default_endpoint_needs_no_configuration(reg: registry.Registry) -> None:
    fn = make_value_function(reg, 42)
    assert fn.endpoint == reg.endpoint
    assert registry.test.run(fn(), faults="none") == 42


# -- client -------------------------------------------------------------------------


def test_default_client_is_a_client(reg: registry.Registry) -> None:
    assert isinstance(reg.client, registry.Client)
    assert reg.batch().client is reg.client


def test_given_client_is_used(closing: list[registry.Registry]) -> None:
    client = registry.Client()
    r = registry.Registry(unique("client"), client=client)
    closing.append(r)
    assert r.client is client
    assert r.batch().client is client
    fn = make_value_function(r, "via client")

    async def main() -> Any:
        (dispatch_id,) = client.dispatch([fn.build_call()])
        return await client.wait(dispatch_id)

    assert registry.test.run(main(), faults="none") == "via client"


def test_client_of_wrong_type_is_rejected() -> None:
    name = unique("bad-client")
    with pytest.raises(ValueError):
        registry.Registry(name, client="not a client")  # type: ignore[arg-type]
    registry.Registry(name).close()  # name still free


# -- registering functions --------------------------------------------------------------


def test_function_is_registered_under_its_qualname(reg: registry.Registry) -> None:
    @reg.function
    def hello() -> str:
        """Say hello."""
        return "hi"

    qualname = "test_function_is_registered_under_its_qualname.<locals>.hello"
    assert hello.name == qualname
    assert hello.__name__ == "hello"
    assert hello.__doc__ == "Say hello."
    assert hello.registry is reg
    assert dict(reg.functions) == {qualname: hello}
    assert isinstance(hello, registry.Function)


def test_async_function_is_registered(reg: registry.Registry) -> None:
    @reg.function
    async def ahello() -> str:
        return "async hi"

    assert reg.functions[ahello.name] is ahello
    assert registry.test.run(ahello(), faults="none") == "async hi"


def test_functions_mapping_is_read_only(reg: registry.Registry) -> None:
    fn = make_value_function(reg, 1)
    with pytest.raises(TypeError):
        reg.functions["other"] = fn  # type: ignore[index]
    with pytest.raises(TypeError):
        del reg.functions[fn.name]  # type: ignore[attr-defined]
    assert list(reg.functions) == [fn.name]


def test_duplicate_function_name_in_one_registry_raises(reg: registry.Registry) -> None:
    first = make_value_function(reg, "first")
    with pytest.raises(ValueError) as info:
        make_value_function(reg, "second")
    assert first.name in str(info.value)
    assert reg.functions[first.name] is first
    assert registry.test.run(first(), faults="none") == "first"


def test_same_function_name_in_two_registries_is_fine(reg: registry.Registry) -> None:
    other = registry.Registry(unique("other"))
    try:
        a = make_value_function(reg, "from a")
        b = make_value_function(other, "from b")
        assert a.name == b.name

        async def main() -> tuple[Any, Any]:
            return await a(), await b()

        assert registry.test.run(main(), faults="none") == ("from a", "from b")
    finally:
        other.close()


def test_primitive_function_receives_input_and_returns_output(reg: registry.Registry) -> None:
    seen: list[Any] = []

    @reg.primitive_function
    def doubler(inp: registry.Input) -> registry.Output:
        seen.append(inp.input)
        return registry.Output.value(inp.input * 2)

    assert isinstance(doubler, registry.PrimitiveFunction)
    assert reg.functions[doubler.name] is doubler

    async def main() -> Any:
        return await reg.client.wait(doubler.dispatch(21))

    assert registry.test.run(main(), faults="none") == 42
    assert seen == [21]


def test_primitive_function_accepts_async_functions(reg: registry.Registry) -> None:
    # Issue 14: the SDK's primitive functions are async; sync ones are accepted too.
    seen: list[Any] = []

    @reg.primitive_function
    async def tripler(inp: registry.Input) -> registry.Output:
        await trio.sleep(1)  # a primitive may await trio
        seen.append(inp.input)
        return registry.Output.value(inp.input * 3)

    assert reg.functions[tripler.name] is tripler

    async def main() -> Any:
        return await reg.client.wait(tripler.dispatch(5))

    assert registry.test.run(main(), faults="none") == 15
    assert seen == [5]


def test_a_key_error_from_a_primitive_function_is_its_failure_not_a_missing_function(
    reg: registry.Registry,
) -> None:
    # The endpoint finds what serves an attempt in a try that catches KeyError:
    # one raised by the function itself fails its attempt (the service's rule for
    # an endpoint that raises), and the function is not run a second time.
    runs: list[Any] = []

    @reg.primitive_function
    def lookup(inp: registry.Input) -> registry.Output:
        runs.append(inp.input)
        return registry.Output.value({}[inp.input])

    async def main() -> Any:
        return await lookup.dispatch("missing")

    async def outcome() -> Any:
        try:
            await reg.client.wait(await main())
        except Exception as exc:
            return type(exc).__name__, str(exc)
        return None

    assert registry.test.run(outcome(), faults="none") == ("KeyError", "'missing'")
    assert runs == ["missing"]


def test_primitive_function_rejects_what_it_cannot_register(reg: registry.Registry) -> None:
    with pytest.raises(TypeError):
        reg.primitive_function(42)  # type: ignore[arg-type]

    @reg.primitive_function
    def once(inp: registry.Input) -> registry.Output:
        return registry.Output.value(None)

    with pytest.raises(TypeError):
        reg.primitive_function(once)  # type: ignore[arg-type]
    assert list(reg.functions) == [once.name]


def test_function_rejects_non_callables(reg: registry.Registry) -> None:
    with pytest.raises(TypeError):
        reg.function(42)  # type: ignore[arg-type]
    assert dict(reg.functions) == {}


# -- close ------------------------------------------------------------------------------


def test_close_frees_the_name() -> None:
    name = unique("reuse")
    first = registry.Registry(name)
    first.close()
    second = registry.Registry(name)
    try:
        assert second.name == name
        fn = make_value_function(second, "second")
        assert registry.test.run(fn(), faults="none") == "second"
    finally:
        second.close()


def test_close_removes_functions_and_is_idempotent() -> None:
    r = registry.Registry(unique("close"))
    make_value_function(r, 1)
    r.close()
    assert dict(r.functions) == {}
    r.close()  # a second close is harmless
    assert dict(r.functions) == {}


def test_cannot_register_in_a_closed_registry() -> None:
    r = registry.Registry(unique("closed-register"))
    r.close()

    def late() -> None:
        return None

    with pytest.raises(ValueError):
        r.function(late)


def test_second_close_of_old_registry_does_not_free_the_new_one() -> None:
    name = unique("close-twice")
    old = registry.Registry(name)
    old.close()
    new = registry.Registry(name)
    try:
        old.close()
        with pytest.raises(ValueError):
            registry.Registry(name)  # still taken by `new`
        fn = make_value_function(new, "new")
        assert registry.test.run(fn(), faults="none") == "new"
    finally:
        new.close()


def test_call_after_close_fails_with_not_found() -> None:
    r = registry.Registry(unique("closed-call"))
    runs: list[int] = []

    @r.function
    def gone() -> str:
        runs.append(1)
        return "should not run"

    r.close()

    async def main() -> None:
        with pytest.raises(NotFoundError):
            await gone()

    registry.test.run(main(), faults="none")
    assert runs == []


def test_dispatch_after_close_fails_with_not_found_on_wait() -> None:
    r = registry.Registry(unique("closed-dispatch"))
    runs: list[int] = []

    @r.function
    def gone() -> str:
        runs.append(1)
        return "should not run"

    client = r.client
    r.close()

    async def main() -> None:
        dispatch_id = gone.dispatch()
        assert isinstance(dispatch_id, str)
        with pytest.raises(NotFoundError):
            await client.wait(dispatch_id)

    registry.test.run(main(), faults="none")
    assert runs == []


def test_close_during_a_run_makes_later_calls_fail(reg: registry.Registry) -> None:
    other = registry.Registry(unique("close-mid-run"))
    fn = make_value_function(other, "alive")

    async def main() -> None:
        assert await fn() == "alive"
        other.close()
        with pytest.raises(NotFoundError):
            await fn()

    try:
        registry.test.run(main(), faults="none")
    finally:
        other.close()


def test_async_caller_of_a_closed_function_gets_not_found(reg: registry.Registry) -> None:
    other = registry.Registry(unique("closed-child"))
    child = make_value_function(other, "child")
    other.close()

    @reg.function
    async def parent() -> str:
        try:
            await child()
        except NotFoundError as exc:
            return f"caught {type(exc).__name__}"
        return "no error"

    assert registry.test.run(parent(), faults="none") == "caught NotFoundError"


def test_call_after_close_fails_even_under_faults() -> None:
    r = registry.Registry(unique("closed-faults"))
    gone = make_value_function(r, "x")
    r.close()

    async def main() -> None:
        with pytest.raises(NotFoundError):
            await gone()

    for seed in range(5):
        registry.test.run(main(), faults="heavy", seed=seed)


def test_function_of_closed_registry_stays_not_found_after_name_is_reused() -> None:
    # Regression: the stale handle used to run the new registry's same-named function.
    name = unique("stale")
    old = registry.Registry(name)
    stale = make_value_function(old, "old")
    old.close()
    new = registry.Registry(name)
    try:
        make_value_function(new, "new")  # same qualname, in the new registry

        async def main() -> None:
            with pytest.raises(NotFoundError):
                await stale()

        registry.test.run(main(), faults="none")
    finally:
        new.close()


# -- the default registry ------------------------------------------------------------------


def test_module_function_registers_in_the_default_registry() -> None:
    @registry.function
    def in_default() -> str:
        return "default"

    default = registry.default_registry()
    assert default.name == "default"
    assert default.functions[in_default.name] is in_default
    assert in_default.registry is default
    assert registry.test.run(in_default(), faults="none") == "default"


def test_set_default_registry_redirects_module_function(reg: registry.Registry) -> None:
    previous = registry.default_registry()
    registry.set_default_registry(reg)
    try:

        @registry.function
        def redirected() -> str:
            return "redirected"

        assert registry.default_registry() is reg
        assert reg.functions[redirected.name] is redirected
        assert redirected.name not in previous.functions
        assert registry.test.run(redirected(), faults="none") == "redirected"
    finally:
        registry.set_default_registry(previous)
    assert registry.default_registry() is previous


def test_set_default_registry_rejects_non_registries() -> None:
    with pytest.raises(TypeError):
        registry.set_default_registry("default")  # type: ignore[arg-type]


def test_registry_test_reexports_registry() -> None:
    assert registry.test.Registry is registry.Registry


def test_simulation_run_directly(reg: registry.Registry) -> None:
    fn = make_value_function(reg, "direct")
    simulation = sim.Simulation(seed=3, faults="none")
    assert simulation.run(fn()) == "direct"
    kinds = [e.kind for e in simulation.trace]
    assert kinds[0] == "dispatch"
    assert kinds[-1] == "outcome"


# -- what cannot be registered, and primitives that answer wrongly ------------------------


@pytest.mark.parametrize("kind", ["sync", "async"])
def test_a_primitive_returning_no_output_fails_naming_the_function(
    reg: registry.Registry, kind: str
) -> None:
    if kind == "sync":

        def answer(inp: registry.Input) -> Any:
            return 42

    else:

        async def answer(inp: registry.Input) -> Any:
            return 42

    prim = reg.primitive_function(answer)

    async def main() -> Any:
        return await reg.client.wait(prim.dispatch(None))

    with pytest.raises(TypeError, match=rf"primitive function {prim.name} returned int \(42\), not an Output"):
        registry.test.run(main(), faults="none")


class _CallableInstance:
    def __call__(self, x: int) -> int:
        return x


def _plain(x: int, y: int) -> int:
    return x + y


@pytest.mark.parametrize(
    "target", [functools.partial(_plain, 1), _CallableInstance()], ids=["partial", "instance"]
)
def test_a_callable_without_qualname_is_refused_clearly(reg: registry.Registry, target: Any) -> None:
    with pytest.raises(TypeError, match="has none; register a def that calls it instead"):
        reg.function(target)
    with pytest.raises(TypeError, match="__qualname__"):
        reg.primitive_function(target)
    assert dict(reg.functions) == {}
