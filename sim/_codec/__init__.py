"""Serialize values crossing a call boundary, as deterministic CBOR.

Each call gets its own copy of its arguments and result, with their exact
types, and equal values give equal bytes whatever ``PYTHONHASHSEED``.
Supported: None, bool, int, float, str, bytes, bytearray, list, tuple, dict,
set, frozenset, datetime, date, time, timedelta, Decimal, UUID and exception
instances, nested; anything else raises :class:`SerializationError`.

What lives where:

- `_cbor`: the tag table, the encoders (by exact type) and decoders, the
  nesting bound, `loads`.
- `_exceptions`: what an exception is written as (class, args, attributes,
  message) and what it comes back as; reprs and strs that never raise.
- `_report`: `dumps`, which encodes or says where the value cannot be
  encoded (path and type), and `SerializationError`.
- `_frozen`: the service's fast path: `freeze`, `thaw`, `same`,
  `frozen_bytes`.
- `_untrusted`: `loads_untrusted`, a strict decoder for documents from
  outside (trace files): no tags but the ones asked for, bounded.

Limits: `dumps` and `freeze` refuse values nested more than
``MAX_DEPTH`` = 500 containers deep with a SerializationError naming the
path; `loads` refuses documents nested more than ``MAX_DECODE_DEPTH`` CBOR
levels; `loads_untrusted` takes ``max_depth`` (default
``UNTRUSTED_MAX_DEPTH`` = 100), ``max_size`` (default
``UNTRUSTED_MAX_SIZE`` = 32 MiB) and ``max_items`` (default
``UNTRUSTED_MAX_ITEMS`` = 4,000,000).

Determinism: dicts are written in insertion order (which never depends on
the hash seed) and come back in that order; sets and frozensets, whose
iteration order does depend on it, are written with their elements sorted by
their own encoded bytes; a float always gets the same form (float64, NaN
and infinities half-precision), not the shortest exact one. So two equal
dicts built in different insertion orders give different bytes, which is
intended: they are different values to anyone who iterates over them, the
journal compares bytes, and a deterministic program builds its dicts in the
same order every time.

A str holding lone surrogates (not valid UTF-8) is written under a tag of its
own and comes back unchanged; a datetime or time whose tzinfo is a
``zoneinfo.ZoneInfo`` comes back with ``ZoneInfo(key)``, the same zone.

Exceptions keep their class, ``args`` (an argument that cannot be encoded
becomes its repr), the encodable part of ``__dict__`` and ``str(exc)``, but
not their traceback, cause or context. Decoding finds the class among the
modules already imported, never importing one, and does not call its
``__init__``; when the class cannot be found (module not loaded, name
missing, not an exception class) it decodes to
``RuntimeError(f"{module}.{qualname}: {message}")``. That message is
``str(exc)`` as it is: when it shows a set (``ValueError({"a", "b"})``),
its bytes follow the hash seed.
"""

from __future__ import annotations

from ._cbor import (
    _TAG_ARGUMENTS,
    _TAG_BYTEARRAY,
    _TAG_DATETIME,
    _TAG_DECIMAL,
    _TAG_EXCEPTION,
    _TAG_FROZENSET,
    _TAG_SET,
    _TAG_SURROGATE_STR,
    _TAG_TIME,
    _TAG_TIMEDELTA,
    _TAG_TUPLE,
    MAX_DECODE_DEPTH,
    MAX_DEPTH,
    loads,
)
from ._frozen import freeze, frozen_bytes, same, thaw
from ._report import SerializationError, dumps
from ._untrusted import (
    UNTRUSTED_MAX_DEPTH,
    UNTRUSTED_MAX_ITEMS,
    UNTRUSTED_MAX_SIZE,
    UntrustedDocument,
    decode_untrusted,
    loads_untrusted,
)

__all__ = [
    "MAX_DECODE_DEPTH",
    "MAX_DEPTH",
    "UNTRUSTED_MAX_DEPTH",
    "UNTRUSTED_MAX_ITEMS",
    "UNTRUSTED_MAX_SIZE",
    "SerializationError",
    "UntrustedDocument",
    "decode_untrusted",
    "dumps",
    "freeze",
    "frozen_bytes",
    "loads",
    "loads_untrusted",
    "same",
    "thaw",
]
