"""The digests of a determinism check: two passes over the same seeds must agree.

`DigestCheck` keeps the digest of each seed of a sweep's first pass (8 bytes
a seed) and, in the second pass, turns each seed whose digest differs into a
failure of its own group (`NONDETERMINISTIC`). `hash_seeds_for_check` chooses
the two passes' ``PYTHONHASHSEED`` (the second pass's workers get another
than the first's, so str hashing shows up). ``sweep(...,
check_determinism=True)`` runs the passes; `sim._sweep_determinism` explains
a mismatch.
"""

from __future__ import annotations

import os
from array import array
from collections.abc import Mapping, Sequence

import attrs

from ._sweep_result import SeedRecord

__all__ = ["NONDETERMINISTIC", "DigestCheck", "hash_seeds_for_check"]

NONDETERMINISTIC = "non-deterministic: the same seed gave two different traces"
"""The signature of the failure group of seeds whose two runs gave different traces."""
HASH_SEED = "PYTHONHASHSEED"


class DigestCheck:
    """The first pass's digest of every seed, to compare the second pass's with.

    A digest is kept as its first 8 bytes (in an array indexed by position for a
    range of seeds, in a dict otherwise): a million seeds cost 8 MB, not a
    million records. A seed without a digest (its worker died) is not compared.
    """

    def __init__(self, seeds: Sequence[int]) -> None:
        self._range = seeds if isinstance(seeds, range) else None
        self._array = array("Q", bytes(8 * len(seeds))) if self._range is not None else array("Q")
        self._dict: dict[int, int] = {}

    def put(self, record: SeedRecord) -> None:
        """Keep the digest of `record` (from the first pass)."""
        value = _prefix(record.digest)
        if self._range is not None and record.seed in self._range:
            self._array[self._range.index(record.seed)] = value
        else:
            self._dict[record.seed] = value

    def compare(self, record: SeedRecord) -> SeedRecord:
        """`record` (from the second pass), or a non-deterministic failure when its digest
        differs from the first pass's, whatever its outcome was."""
        if self._range is not None and record.seed in self._range:
            before = self._array[self._range.index(record.seed)]
        else:
            before = self._dict.get(record.seed, 0)
        now = _prefix(record.digest)
        if not before or not now or before == now:
            return record
        return attrs.evolve(
            record,
            ok=False,
            signature=NONDETERMINISTIC,
            error=f"seed {record.seed} ran twice with different trace digests ({before:016x} then {now:016x})",
            traceback="",
        )


def _prefix(digest: str) -> int:
    # 0 stands for "no digest": a real digest's first 8 bytes are 0 once in 2**64 runs.
    return int(digest[:16], 16) if digest else 0


def hash_seeds_for_check(environ: Mapping[str, str] | None = None) -> tuple[int, int]:
    """The two ``PYTHONHASHSEED`` values a determinism check gives its two passes' workers.

    The first is this environment's own (when it is a number), else 1; the second
    differs from it, so that code depending on the hash of a str (set order, dict of
    sets, hash() itself) shows up even where the environment pins the hash seed.
    """
    text = (os.environ if environ is None else environ).get(HASH_SEED, "")
    first = int(text) if text.isdigit() and int(text) < 2**32 else 1
    return first, (first + 1) % 2**32
