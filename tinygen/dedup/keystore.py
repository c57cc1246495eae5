"""The index's text keys: which key each slot holds, and which slot holds a key.

Keys are str or int (an int comes back as an int; 1 and "1" are different keys). They are
stored by slot in one byte buffer (UTF-8 or decimal text); the key -> slot lookup holds
recent keys in a dict and older ones as hash prefixes in `SortedRuns` (8 bytes a key),
confirmed on the stored key.
"""

from __future__ import annotations

import itertools
from array import array

import numpy as np

from tinygen.dedup.sorted_runs import SortedRuns, entries

Key = str | int
_STR, _INT = 1, 2  # kind of the key in a slot; 0 once dropped
_U64 = np.uint64
_FIBONACCI = 0x9E37_79B9_7F4A_7C15  # odd: spreads a hash's low bits into its top 32 bits


def _key_hash(key: Key) -> int:
    """A key's mixed 64-bit `hash()` (salted, but it never leaves the process)."""
    return (hash(key) * _FIBONACCI) & 0xFFFF_FFFF_FFFF_FFFF


class KeyStore:
    """Keys by slot, all in one byte buffer, and a key -> slot lookup: recent keys in a
    dict, older ones as hash prefixes in `SortedRuns`, confirmed on the key."""

    def __init__(self) -> None:
        self.kinds = bytearray()  # per slot: _STR, _INT, or 0 once dropped
        self._data = bytearray()  # the keys of the stored slots, UTF-8 or decimal
        self._ends = array("I")  # where each stored slot's key ends in _data ("Q" past 4 GB)
        self._fresh: list[Key] = []  # the keys of the slots after the stored ones
        self._recent: dict[Key, int] = {}
        self._runs = SortedRuns(ratio=1 << 62)  # always one run: keys are small, lookups many

    def append(self, key: Key) -> int:
        """Put an absent `key` in the next slot, and return that slot."""
        if isinstance(key, str):
            self.kinds.append(_STR)
        elif isinstance(key, int):
            self.kinds.append(_INT)
        else:
            raise TypeError(f"keys are str or int, not {type(key).__name__}")
        self._fresh.append(key)
        self._recent[key] = len(self.kinds) - 1
        return len(self.kinds) - 1

    def key(self, slot: int) -> Key:
        """The key in `slot`."""
        stored = len(self._ends)
        if slot >= stored:
            return self._fresh[slot - stored]
        raw = self._data[self._ends[slot - 1] if slot else 0 : self._ends[slot]]
        return int(raw) if self.kinds[slot] == _INT else raw.decode("utf-8", "surrogatepass")

    def find(self, key: Key) -> int | None:
        """The live slot holding `key`, or None."""
        slot = self._recent.get(key)
        if slot is not None:
            return slot
        for slot in self._runs.find_one(_key_hash(key)):
            if self.kinds[slot] and self._holds(slot, key):
                return slot
        return None

    def _holds(self, slot: int, key: Key) -> bool:
        """Whether `slot` holds `key` (1 and "1" are different keys)."""
        stored = self.key(slot)
        return stored == key and isinstance(stored, str) == isinstance(key, str)

    def kill(self, slot: int, key: Key) -> None:
        """Mark the live `slot` holding `key` as dropped."""
        self.kinds[slot] = 0
        self._recent.pop(key, None)

    def flush(self, alive: np.ndarray | None) -> None:
        """Store the fresh keys, and move the recent ones into the sorted runs (purging
        dead slots, with `alive`)."""
        raws = [k.encode("utf-8", "surrogatepass") if isinstance(k, str) else b"%d" % k
                for k in self._fresh]  # fmt: skip
        ends = itertools.accumulate(map(len, raws), initial=self._ends[-1] if self._ends else 0)
        next(ends)
        self._data += b"".join(raws)
        if len(self._data) > 0xFFFF_FFFF and self._ends.typecode == "I":
            self._ends = array("Q", self._ends)
        self._ends.extend(ends)
        recent, count = self._recent, len(self._recent)
        hashes = np.fromiter(map(_key_hash, recent), dtype=_U64, count=count)
        self._runs.add(entries(hashes, np.fromiter(recent.values(), _U64, count)), alive)
        self._fresh, self._recent = [], {}
