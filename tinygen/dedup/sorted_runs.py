"""Compact sorted arrays: log-structured sets of uint64 entries `prefix | slot`.

An entry packs the top 32 bits of a 64-bit hash (its `prefix`) with a text's slot in the
low 32 bits, 8 bytes in all; the index keeps its LSH buckets (`buckets`) and its key
lookup (`keystore`) this way. A search by hash finds every entry with the same prefix:
hits are only probable (32 bits), and the caller confirms them on the whole hash.

This module is the one home of the entry layout: callers pass whole 64-bit hashes and
`entries` / `SortedRuns` take their prefixes.
"""

from __future__ import annotations

from collections.abc import Sequence

import numpy as np

_U64 = np.uint64
_HI = _U64(0xFFFF_FFFF_0000_0000)  # the prefix of an entry
_LO = _U64(0xFFFF_FFFF)  # the slot of an entry
_HI_INT = 0xFFFF_FFFF_0000_0000
_SENTINEL = (1 << 64) - 1  # closes every run, so that a search always lands on an entry


def entries(hashes: np.ndarray, slots: np.ndarray) -> np.ndarray:
    """Entries `prefix | slot` of 64-bit `hashes` (uint64) and `slots` (broadcast)."""
    return (hashes & _HI) | slots


def _run_find(run: np.ndarray, prefixes: np.ndarray) -> list[int]:
    """Slots of the entries of `run` whose prefix is one of `prefixes` (low 32 bits zero)."""
    starts = run.searchsorted(prefixes)
    hit = (run[starts] & _HI) == prefixes
    if not hit.any():
        return []
    ends = np.minimum(run.searchsorted(prefixes[hit] | _LO, side="right"), len(run) - 1)
    slots: list[int] = []
    for start, end in zip(starts[hit].tolist(), ends.tolist(), strict=True):
        slots.extend((run[start:end] & _LO).tolist())
    return slots


def _run_find_one(run: np.ndarray, prefix: int) -> list[int]:
    """`_run_find` for a single prefix (a Python int)."""
    at, slots = int(run.searchsorted(_U64(prefix))), []
    while (value := int(run[at])) & _HI_INT == prefix and at < len(run) - 1:
        slots.append(value & 0xFFFF_FFFF)
        at += 1
    return slots


def _merged(runs: Sequence[np.ndarray], alive: np.ndarray | None = None) -> np.ndarray:
    """One run holding the entries of sorted `runs` (the live slots' only, with `alive`)."""
    parts = [run[:-1] for run in runs]
    if alive is not None:
        parts = [part[alive[(part & _LO).astype(np.intp)]] for part in parts]
    size = sum(len(part) for part in parts)
    merged = np.empty(size + 1, dtype=_U64)
    np.concatenate(parts, out=merged[:size])
    merged[:size].sort(kind="stable")  # sorted runs: timsort merges them in linear time
    merged[size] = _SENTINEL
    return merged


class SortedRuns:
    """A log-structured set of entries. Entries come in sorted runs (each closed by an
    all-ones sentinel); a new run is merged into the one before while it is at least
    1/`ratio` of its size: O(log n) runs to search, each entry copied O(ratio log n) times."""

    def __init__(self, ratio: int) -> None:
        self.runs: list[np.ndarray] = []
        self._ratio = ratio

    def find(self, hashes: np.ndarray) -> list[int]:
        """Slots of the entries whose prefix is that of one of `hashes` (uint64)."""
        prefixes = hashes & _HI
        slots: list[int] = []
        for run in self.runs:
            slots.extend(_run_find(run, prefixes))
        return slots

    def find_one(self, hash64: int) -> list[int]:
        """`find` for a single hash (a Python int below 2**64)."""
        prefix = hash64 & _HI_INT
        slots: list[int] = []
        for run in self.runs:
            slots.extend(_run_find_one(run, prefix))
        return slots

    def matches(self, hashes: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
        """(index in `hashes`, slot) of every entry whose prefix is that of one of `hashes`,
        searched in sorted order (far fewer cache misses than searching them one by one)."""
        needles = hashes & _HI
        order = np.argsort(needles)
        ordered = needles[order]
        owners, slots = [order[:0]], [ordered[:0]]
        for run in self.runs:
            starts = run.searchsorted(ordered)
            hit = np.flatnonzero((run[starts] & _HI) == ordered)
            ends = np.minimum(run.searchsorted(ordered[hit] | _LO, "right"), len(run) - 1)
            counts = ends - starts[hit]
            skip = np.repeat(starts[hit] - (np.cumsum(counts) - counts), counts)
            owners.append(np.repeat(order[hit], counts))
            slots.append(run[skip + np.arange(len(skip))] & _LO)
        return np.concatenate(owners), np.concatenate(slots)

    def add(self, new: np.ndarray, alive: np.ndarray | None = None) -> None:
        """Add `new` entries (any order) as a run; with `alive` (a flag per slot), first
        rewrite everything into one run without the entries of dead slots."""
        if alive is not None:
            self.runs = [_merged(self.runs, alive)] if self.runs else []
        if len(new):
            run = np.empty(len(new) + 1, dtype=_U64)
            run[:-1], run[-1] = np.sort(new), _SENTINEL
            self.runs.append(run)
        runs = self.runs
        while len(runs) > 1 and len(runs[-1]) * self._ratio >= len(runs[-2]):
            runs[-2:] = [_merged(runs[-2:])]
