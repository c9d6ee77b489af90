"""Registries: named sets of functions served at one endpoint, and the default one."""

from __future__ import annotations

from collections.abc import Awaitable, Callable, Coroutine, Mapping
from types import MappingProxyType
from typing import Any, ParamSpec, Protocol, TypeVar, overload
from urllib.parse import quote, urlsplit

from sim import Error, Input, Output, Status, current
from sim.lowlevel import DEFAULT_ENDPOINT, Answer, Attempt, register_endpoint, unregister_endpoint

from ._client import Batch, Client
from ._function import Function, PrimitiveFunction, PrimitiveFunctionType
from .error import NotFoundError

__all__ = ["Registry", "batch", "default_registry", "function", "set_default_registry"]

P = ParamSpec("P")
T = TypeVar("T")

_ENDPOINT_SCHEMES = ("http", "https", "bridge", "sim")
_registries: dict[str, Registry] = {}


def _check_endpoint(endpoint: str) -> str:
    # The SDK's checks (a scheme, a known one, a host), with sim:// added.
    if not isinstance(endpoint, str):
        raise ValueError(f"registry endpoint must be a URL string, got {endpoint!r}")
    parts = urlsplit(endpoint)
    if not parts.scheme or not parts.netloc and "://" not in endpoint:
        raise ValueError(
            f"missing protocol scheme in registry endpoint URL: {endpoint!r} "
            f"(expected one of {', '.join(s + '://' for s in _ENDPOINT_SCHEMES)})"
        )
    if parts.scheme not in _ENDPOINT_SCHEMES:
        raise ValueError(
            f"invalid protocol scheme in registry endpoint URL: {endpoint!r} "
            f"(expected one of {', '.join(s + '://' for s in _ENDPOINT_SCHEMES)})"
        )
    if not parts.hostname:
        raise ValueError(f"missing host in registry endpoint URL: {endpoint!r}")
    return endpoint


def _name_of(func: Callable[..., Any], decorator: str) -> str:
    # The name is what calls and journals refer to, so it must say which
    # function it is: a partial or a callable instance has no __qualname__,
    # and a name made up from its class would make every instance the same.
    name = getattr(func, "__qualname__", None)
    if not isinstance(name, str) or not name:
        raise TypeError(
            f"@{decorator} names a function by its __qualname__, and {func!r} "
            f"({type(func).__qualname__}) has none; register a def that calls it instead"
        )
    return name


def _origin(fn: PrimitiveFunction) -> tuple[str, str]:
    """(module, file:line) where the registered function was defined, as far as known."""
    target = getattr(fn, "__wrapped__", fn)
    module = getattr(target, "__module__", None) or "?"
    code = getattr(target, "__code__", None)
    where = f"{code.co_filename}:{code.co_firstlineno}" if code is not None else "?"
    return module, where


def _duplicate_message(reg: Registry, name: str, existing: PrimitiveFunction, new: PrimitiveFunction) -> str:
    first_module, first_where = _origin(existing)
    module, where = _origin(new)
    text = f"function already registered with name '{name}' in registry {reg.name!r}"
    if first_module != module:
        # The usual cause: two test modules each define a function with the same
        # name and register it in the default registry.
        return (
            f"{text}: {module} ({where}) registers a function named like one of "
            f"{first_module} ({first_where}); give each module a registry of its own, "
            "reg = registry.Registry(__name__), and register with @reg.function"
        )
    return (
        f"{text} (first at {first_where}, again at {where}); "
        "rename one, or register them in separate registries"
    )


class _Endpoint:
    """The process serving a registry's functions, as the simulated service sees it."""

    def __init__(self, registry: Registry) -> None:
        self._registry = registry
        # Each registered function's _serve, by name (Registry._add and close keep it).
        self._serves: dict[str, Callable[[Attempt], Answer | Awaitable[Answer]]] = {}

    def run(self, function: str, input: Input) -> Output | Awaitable[Output]:
        fn = self._registry._functions.get(function)
        if fn is None:
            message = f"function {function!r} is not registered in registry {self._registry.name!r}"
            return Output.error(Error.from_exception(NotFoundError(message), Status.NOT_FOUND))
        return fn._run(input)

    def run_attempt(self, attempt: Attempt) -> Answer | Awaitable[Answer]:
        """Run one attempt from the service's light view (see `sim.lowlevel.Attempt`)."""
        # One subscript and a call in a try: this is on every attempt's path.
        try:
            return self._serves[attempt.function](attempt)
        except KeyError:
            if attempt.function in self._serves:
                raise  # not the lookup's: it escaped from serving the attempt
            return self.run(attempt.function, attempt.to_input())

    def forget(self, dispatch_id: str) -> None:
        # The registry's frames (as run_async_function finds them): called as
        # every resumed call ends, most often to find its frame already gone.
        frame = current().memory(self._registry._endpoint).pop(dispatch_id, None)
        if frame is not None:
            if frame.running:  # closing it now would pull it from under its own attempt
                frame.lose()
            else:
                frame.close()


class Registry:
    """A named set of functions, served at one endpoint.

    `name` must be unique among open registries. `endpoint` is a URL (http,
    https, bridge or sim scheme); by default ``sim://<name>``, so nothing
    needs environment variables. `client` dispatches calls; by default a
    `Client` of the running simulation.
    """

    def __init__(self, name: str, client: Client | None = None, endpoint: str | None = None) -> None:
        if not isinstance(name, str) or not name:
            raise ValueError("missing registry name")
        if name in _registries:
            raise ValueError(f"registry with name '{name}' already exists")
        if client is not None and not isinstance(client, Client):
            raise ValueError(f"client must be a registry.Client, got {client!r}")
        if endpoint is None:
            endpoint = DEFAULT_ENDPOINT if name == "default" else f"sim://{quote(name, safe='')}"
        self._endpoint = _check_endpoint(endpoint)
        self._name = name
        self._client = client if client is not None else Client()
        self._functions: dict[str, PrimitiveFunction] = {}
        self._server = _Endpoint(self)
        self._closed = False
        register_endpoint(self._endpoint, self._server)
        _registries[name] = self

    @property
    def name(self) -> str:
        """The registry's unique name."""
        return self._name

    @property
    def endpoint(self) -> str:
        """The URL its functions are served at; settable, as in the SDK (validated the same way)."""
        return self._endpoint

    @endpoint.setter
    def endpoint(self, value: str) -> None:
        if self._closed:
            raise ValueError(f"registry {self._name!r} is closed; its endpoint cannot change")
        value = _check_endpoint(value)
        if value == self._endpoint:
            return
        register_endpoint(value, self._server)  # raises if another registry serves it
        unregister_endpoint(self._endpoint)
        self._endpoint = value
        for fn in self._functions.values():
            fn._endpoint = value  # calls built from now on go to the new URL

    @property
    def client(self) -> Client:
        """The client that dispatches calls of its functions."""
        return self._client

    @property
    def functions(self) -> Mapping[str, PrimitiveFunction]:
        """Registered functions by name (read-only)."""
        return MappingProxyType(self._functions)

    def _add(self, name: str, fn: PrimitiveFunction) -> None:
        if self._closed:
            raise ValueError(f"registry {self._name!r} is closed")
        existing = self._functions.get(name)
        if existing is not None:
            raise ValueError(_duplicate_message(self, name, existing, fn))
        self._functions[name] = fn
        self._server._serves[name] = fn._serve

    @overload
    def function(self, func: Callable[P, Coroutine[Any, Any, T]]) -> Function[P, T]: ...
    @overload
    def function(self, func: Callable[P, T]) -> Function[P, T]: ...
    def function(self, func: Callable[..., Any]) -> Function[Any, Any]:
        """Decorator: register a sync or async function under its ``__qualname__``.

        The result keeps the function's signature and return type: calling it
        takes the same arguments and ``await`` gives what the function returns.
        """
        if not callable(func) or isinstance(func, PrimitiveFunction):
            raise TypeError(f"@function needs a plain function, got {func!r}")
        name = _name_of(func, "function")
        fn: Function[Any, Any] = Function(self, name, func)
        self._add(name, fn)
        return fn

    def primitive_function(self, primitive_func: PrimitiveFunctionType) -> PrimitiveFunction:
        """Decorator: register a function, sync or async, that takes an Input and returns an Output."""
        if not callable(primitive_func) or isinstance(primitive_func, PrimitiveFunction):
            raise TypeError(
                f"@primitive_function needs a function Input -> Output, got {primitive_func!r}"
            )
        name = _name_of(primitive_func, "primitive_function")
        fn = PrimitiveFunction(self, name, primitive_func)
        self._add(name, fn)
        return fn

    def batch(self) -> Batch:
        """A Batch that dispatches several calls in one request."""
        return self._client.batch()

    def close(self) -> None:
        """Remove the registry and its functions; later calls to them fail with NOT_FOUND."""
        if self._closed:
            return
        self._closed = True
        for fn in self._functions.values():
            # Nothing serves this URL, so calls fail with NOT_FOUND, even after
            # a new registry takes the same name and endpoint.
            fn._endpoint = f"{self._endpoint}#closed"
        self._functions.clear()
        self._server._serves.clear()
        unregister_endpoint(self._endpoint)
        if _registries.get(self._name) is self:
            del _registries[self._name]

    @staticmethod
    def _function_named(registry_name: str, name: str) -> PrimitiveFunction:
        """The function `name` of the open registry `registry_name` (how functions unpickle)."""
        reg = _registries.get(registry_name)
        fn = reg._functions.get(name) if reg is not None else None
        if fn is None:
            raise LookupError(f"no function {name!r} in an open registry named {registry_name!r}")
        return fn

    def __repr__(self) -> str:
        return f"Registry(name={self._name!r}, endpoint={self._endpoint!r})"


_default: Registry | None = None


def default_registry() -> Registry:
    """The registry `function` registers into (created on first use, named "default")."""
    global _default
    if _default is None or _default._closed:
        _default = Registry("default")
    return _default


def set_default_registry(reg: Registry) -> None:
    """Make `reg` the registry that `function` registers into."""
    global _default
    if not isinstance(reg, Registry):
        raise TypeError(f"set_default_registry() takes a Registry, not {type(reg).__qualname__}")
    _default = reg


class _Decorator(Protocol):
    @overload
    def __call__(self, func: Callable[P, Coroutine[Any, Any, T]], /) -> Function[P, T]: ...
    @overload
    def __call__(self, func: Callable[P, T], /) -> Function[P, T]: ...


@overload
def function(func: Callable[P, Coroutine[Any, Any, T]]) -> Function[P, T]: ...
@overload
def function(func: Callable[P, T]) -> Function[P, T]: ...
@overload
def function(func: None = None) -> _Decorator: ...
def function(func: Any = None) -> Any:
    """Decorator: register a function in the default registry."""
    if func is None:
        return default_registry().function
    return default_registry().function(func)


def batch() -> Batch:
    """A Batch on the default registry's client."""
    return default_registry().batch()
