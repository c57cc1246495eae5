"""LSH buckets: band key -> the slots of the indexed texts with that band key.

The bands of recently added slots sit in a dict of exact keys; `flush` moves them into
`SortedRuns` (key prefix + slot: 8 bytes a band), whose hits are only probable (32-bit
prefixes) and must be confirmed by the caller. A batch of queries can be looked up in the
sorted runs in advance, in one vectorized pass (`prefetch`).
"""

from __future__ import annotations

from collections.abc import Sequence

import numpy as np

from tinygen.dedup.sorted_runs import SortedRuns, entries

RATIO = 4  # each sorted run is at least RATIO times the size of the next one
_U64 = np.uint64


class BandTable:
    """LSH buckets, band key -> slots. The bands of recent slots sit in a dict of exact keys;
    `flush` moves them into `SortedRuns`, whose hits must be confirmed by the caller."""

    def __init__(self, bands: int) -> None:
        self.recent: dict[int, int | list[int]] = {}
        self.prefetched: dict[tuple, Sequence[int]] = {}  # band keys -> run hits, for a batch
        self._width = bands
        self.first, self.pending = 0, 0  # the slots in the dict: first, how many
        self._runs = SortedRuns(RATIO)

    def add(self, bands: Sequence[int], slot: int) -> None:
        """Put `slot` (the next slot) into the bucket of each of its bands."""
        recent = self.recent
        present = recent.keys() & bands
        for band in present:
            hit = recent[band]
            if type(hit) is int:
                recent[band] = [hit, slot]
            else:
                hit.append(slot)
        recent.update(dict.fromkeys(set(bands).difference(present) if present else bands, slot))
        self.pending += 1

    def candidates(self, bands: Sequence[int]) -> tuple[set[int], Sequence[int]]:
        """Slots sharing a band key with the query (sure), and slots sharing a band key
        prefix in the sorted runs (to be confirmed); dropped slots included."""
        recent, sure = self.recent, set()
        for band in recent.keys() & bands:  # one C-level pass; usually empty
            hit = recent[band]
            if type(hit) is int:
                sure.add(hit)
            else:
                sure.update(hit)
        if not self._runs.runs:
            return sure, []
        maybe = self.prefetched.get(tuple(bands)) if self.prefetched else None
        if maybe is None:
            maybe = self._runs.find(np.array(bands, dtype=_U64))
        return sure, maybe

    def prefetch(self, keys: np.ndarray) -> None:
        """Look up a batch of band-key rows in the sorted runs in one vectorized pass (sorted
        needles: far fewer cache misses than one search per query)."""
        self.prefetched = {}
        if not self._runs.runs:
            return
        rows = keys.tolist()
        self.prefetched = dict.fromkeys(map(tuple, rows), ())
        owners, slots = self._runs.matches(keys.ravel())
        if not len(owners):
            return
        owners //= self._width  # the row of each match
        order = np.argsort(owners, kind="stable")
        owners, found = owners[order], slots[order].tolist()
        starts = [0, *(np.flatnonzero(np.diff(owners)) + 1).tolist()]
        ends = [*starts[1:], len(found)]
        for row, start, end in zip(owners[starts].tolist(), starts, ends, strict=True):
            self.prefetched[tuple(rows[row])] = found[start:end]

    def flush(self, keys: np.ndarray, alive: np.ndarray, purge: bool) -> None:
        """Move the slots in the dict (their band `keys`; the live ones) into the runs."""
        first, slots = self.first, np.arange(self.first, self.first + len(keys), dtype=_U64)
        new = entries(keys, slots[:, None])[alive[first : first + len(keys)]].ravel()
        self.first, self.pending, self.recent, self.prefetched = first + len(keys), 0, {}, {}
        self._runs.add(new, alive if purge else None)
