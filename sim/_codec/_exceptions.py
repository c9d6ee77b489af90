"""Exceptions as plain data: the payload an exception is written as, and the exception it comes back as.

An exception keeps its class (module and qualified name), ``args`` (an
argument that cannot be encoded becomes its repr), the encodable part of
``__dict__``, the C-level attributes that ``args`` does not determine, and
``str(exc)``; not its traceback, cause or context. Decoding finds the class
among the modules already imported, never importing one, and does not call
its ``__init__``; when the class cannot be found it decodes to
``RuntimeError(f"{module}.{qualname}: {message}")``.

Nothing here knows CBOR: `_cbor` writes the payload under its tag and hands
the payload back to `decode_exception`.
"""

from __future__ import annotations

import re
import sys
import threading
from collections.abc import Callable, Mapping
from typing import Any

__all__ = ["decode_exception", "exception_payload", "safe_repr", "safe_str", "type_name"]


def type_name(cls: type) -> str:
    """``module.QualifiedName`` of *cls*, as error messages show it."""
    return f"{cls.__module__}.{cls.__qualname__}"


_ADDRESS = re.compile(r" at 0x[0-9a-fA-F]+")


def safe_repr(value: object) -> str:
    """``repr(value)`` without memory addresses, or a placeholder when repr raises."""
    try:
        text = repr(value)
    except Exception:
        return f"<unrepresentable {type_name(type(value))} object>"
    # Memory addresses differ from run to run; the simulation must not.
    return _ADDRESS.sub("", text)


def safe_str(exc: BaseException) -> str:
    """``str(exc)``, or a placeholder when str raises."""
    try:
        return str(exc)
    except Exception:
        return f"<unprintable {type_name(type(exc))} object>"


# Attributes that C-level exception types keep outside ``__dict__`` and that
# ``args`` does not fully determine (OSError drops ``filename`` from args).
_SLOT_ATTRIBUTES: tuple[tuple[type[BaseException], tuple[str, ...]], ...] = (
    (OSError, ("errno", "strerror", "filename", "filename2", "characters_written")),
    (ImportError, ("name", "path")),
    (AttributeError, ("name",)),
    (NameError, ("name",)),
)


class ExceptionMemo(threading.local):
    """Payloads of the exceptions being encoded by the outermost exception hook on this thread.

    Keyed by id (membership only, never ordering); the entry keeps the
    exception alive so that its id cannot be reused. None as payload marks
    "in progress", i.e. an exception that contains itself.
    """

    memo: dict[int, tuple[BaseException, list[Any] | None]] | None = None


def exception_payload(exc: BaseException, encodable: Callable[[object], bool]) -> list[Any]:
    """``[module, qualname, args, attributes, message, slots]`` for *exc*.

    *encodable* says whether a value can be written as it is; the others are
    dropped (attributes) or replaced by their repr (arguments).
    """
    cls = type(exc)
    args = exc.args
    if encodable(args):
        encoded_args = list(args)
    else:
        encoded_args = [a if encodable(a) else safe_repr(a) for a in args]
    attributes: dict[str, Any] = {}
    for name, attr in getattr(exc, "__dict__", {}).items():
        if isinstance(name, str) and encodable(attr):
            attributes[name] = attr
    slots: dict[str, Any] = {}
    for base, names in _SLOT_ATTRIBUTES:
        if isinstance(exc, base):
            for name in names:
                try:
                    attr = getattr(exc, name)
                except Exception:
                    continue
                # None is the unset default; setting it explicitly would
                # change str() (OSError shows a filename2 that is not NULL).
                if attr is not None and encodable(attr):
                    slots[name] = attr
    return [
        cls.__module__,
        cls.__qualname__,
        encoded_args,
        attributes,
        safe_str(exc),
        slots,
    ]


def _find_exception_class(module: str, qualname: str) -> type[BaseException] | None:
    # Plain namespace lookups only: importing, or even getattr() (which can
    # run a module's __getattr__), could execute code while decoding.
    obj: object = sys.modules.get(module)
    if obj is None:
        return None
    for name in qualname.split("."):
        namespace = getattr(obj, "__dict__", None)
        if not isinstance(namespace, Mapping):
            return None
        obj = namespace.get(name)
        if obj is None:
            return None
    if isinstance(obj, type) and issubclass(obj, BaseException):
        return obj
    return None


def _builtin_base(cls: type[BaseException]) -> type[BaseException]:
    for base in cls.__mro__:
        if base.__module__ == "builtins":
            return base
    return BaseException  # pragma: no cover - every exception has one


def decode_exception(value: Any) -> BaseException:
    """The exception a payload written by `exception_payload` describes."""
    module, qualname, args, attributes, message, slots = value
    args = tuple(args)
    cls = _find_exception_class(module, qualname)
    if cls is None:
        return RuntimeError(f"{module}.{qualname}: {message}")
    # The class's own __init__ may take any signature (several required or
    # keyword-only arguments), so it is never called. __new__ is, because
    # C-level classes need their own to allocate their state.
    try:
        exc = cls.__new__(cls, *args)
    except Exception:
        try:
            exc = BaseException.__new__(cls)
        except Exception:
            return RuntimeError(f"{module}.{qualname}: {message}")
    if not isinstance(exc, cls):
        return RuntimeError(f"{module}.{qualname}: {message}")
    # The builtin base's __init__ derives C-level state from args (OSError's
    # errno and strerror, UnicodeError's fields, StopIteration.value, ...).
    try:
        _builtin_base(cls).__init__(exc, *args)
    except Exception:
        pass
    exc.args = args
    for name, attr in slots.items():
        try:
            setattr(exc, name, attr)
        except Exception:
            pass
    try:
        exc.__dict__.update(attributes)
    except Exception:
        pass
    return exc
