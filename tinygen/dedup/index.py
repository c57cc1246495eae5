"""The near-duplicate index: LSH over MinHash signatures, with verified matches.

`NearDupIndex` finds, for a new signature, the indexed signature most similar to it:
LSH (`bands` x `rows`) proposes candidates, and each candidate is kept only if the
estimated Jaccard (share of equal signature values) reaches `threshold`. The check
matters: stories from one recipe are siblings that share whole sentences, and about
half of the raw LSH candidates among them are below the threshold.

The index is compact, about 600 bytes per text at the default settings: signatures in
uint16 blocks; LSH buckets (`buckets.BandTable`) and the key lookup (`keystore.KeyStore`)
as sorted uint64 arrays of (top 32 bits of a hash, slot) entries (`sorted_runs`),
log-structured (recent inserts wait in a dict, then merge into sorted runs); keys in one
byte buffer. A candidate found by a key prefix is confirmed on its whole band keys, so the
results are exactly those of plain dict buckets.

Band keys are deterministic across processes, and `save`/`load` write and read a whole
index as a signature file (`sigfile`).
"""

from __future__ import annotations

import itertools
import os
from collections.abc import Iterable, Iterator, Sequence
from pathlib import Path

import numpy as np

from tinygen.dedup.buckets import BandTable
from tinygen.dedup.keystore import Key, KeyStore
from tinygen.dedup.minhash import (
    BATCH,
    SIG_DTYPE,
    NearDupConfig,
    band_keys,
    signatures,
    unbias,
)
from tinygen.dedup.sigfile import SignatureLog, read_signatures
from tinygen.rundir.layout import temporary

BLOCK = 4096
FLUSH_MIN = 1024  # recent texts held in dicts before they join the sorted runs
FLUSH_CAP = 4096  # ... or, while a prefetched batch is being queried, at most this many
PREFETCH_MAX = 4096  # largest batch `band_keys` looks up in advance
_U64 = np.uint64


def _shares_key(keys: np.ndarray, bands: Sequence[int]) -> np.ndarray:
    """Which rows of band keys hold at least one of `bands`."""
    return (keys[:, :, None] == np.array(bands, dtype=_U64)).any(axis=(1, 2))


class NearDupIndex:
    """Signatures of accepted texts, with LSH lookup of verified near-duplicates.

    Keys are str or int (an int comes back as an int; 1 and "1" are different keys).
    Memory per indexed text: the signature (2 x num_perm bytes), 8 bytes per band, 8 bytes
    of key lookup, the key's UTF-8 or decimal bytes + 5; up to FLUSH_MIN-FLUSH_CAP recent
    texts also sit in dicts (about 2.5 KB each) until `compact` (automatic)."""

    def __init__(self, config: NearDupConfig | None = None) -> None:
        self.config = config or NearDupConfig()
        self._blocks: list[np.ndarray] = []  # signatures, BLOCK rows each: no regrowth copies
        self._keys = KeyStore()
        self._table = BandTable(self.config.bands)
        self._live = 0
        self._dropped = 0  # slots dropped since the sorted runs were last purged

    def __len__(self) -> int:
        return self._live

    def __contains__(self, key: object) -> bool:
        return self._keys.find(key) is not None  # type: ignore[arg-type]

    def keys(self) -> list[Key]:
        """Keys of the indexed texts, in insertion order."""
        return [key for key, _sig in self.items()]

    def signature(self, text: str) -> np.ndarray:
        """MinHash signature (uint16 array of num_perm values) of one raw text."""
        return signatures([text], self.config)[0]

    # --- band keys and queries ------------------------------------------------------------

    def band_keys(self, sigs: np.ndarray, keys: np.ndarray | None = None) -> np.ndarray:
        """LSH bucket key of every band of each signature (n x bands, uint64), or `keys`
        if the caller has them (`minhash.band_keys`, e.g. from a helper process).

        For a batch (2 to PREFETCH_MAX signatures) the keys are also looked up in the
        index's sorted runs in one vectorized pass, which the `query` calls that follow
        with these keys reuse (valid until the runs change)."""
        keys = self._band_keys(sigs) if keys is None else keys
        if 1 < len(sigs) <= PREFETCH_MAX:
            if self._table.pending >= FLUSH_MIN:
                self.compact()
            self._table.prefetch(keys)
        return keys

    def _band_keys(self, sigs: np.ndarray) -> np.ndarray:
        """`band_keys` without the look-up in advance."""
        return band_keys(sigs, self.config)

    def query(
        self, sig: np.ndarray, bands: Sequence[int] | None = None
    ) -> tuple[Key, float] | None:
        """The most similar indexed text with estimated Jaccard >= threshold, or None.
        `bands`, if given, must be `band_keys` of `sig`."""
        if bands is None:
            bands = self._band_keys(sig[None, :])[0].tolist()
        slots, unsure = self._candidates(bands)
        if not slots:
            return None
        rows = np.stack([self._sig(slot) for slot in slots])
        equal = rows == sig
        scores = unbias(np.count_nonzero(equal, axis=1) / self.config.num_perm)
        if scores.max() < self.config.threshold:
            return None
        if unsure:  # drop the candidates that only share a band key prefix
            scores = np.where(self._confirmed(rows, equal, scores, bands), scores, -1.0)
        return self._best(slots, scores)

    def _confirmed(
        self, rows: np.ndarray, equal: np.ndarray, scores: np.ndarray, bands: Sequence[int]
    ) -> np.ndarray:
        """Which candidates share a whole band key with the query: those with a band of
        equal values, and (checked on their band keys) any others above the threshold."""
        cfg = self.config
        banded = equal[:, : cfg.bands * cfg.rows].reshape(len(rows), cfg.bands, cfg.rows)
        shared = banded.all(axis=2).any(axis=1)
        doubt = np.flatnonzero(~shared & (scores >= cfg.threshold))
        if len(doubt):
            shared[doubt] = _shares_key(self._band_keys(rows[doubt]), bands)
        return shared

    def _best(self, slots: list[int], scores: np.ndarray) -> tuple[Key, float] | None:
        """The best-scoring candidate above the threshold; on a tie, the earliest indexed."""
        best = int(np.argmax(scores))  # argmax takes the first maximum: slots ascend
        if scores[best] < self.config.threshold:
            return None
        return self._keys.key(slots[best]), float(scores[best])

    def _sig(self, slot: int) -> np.ndarray:
        """The signature in `slot`."""
        return self._blocks[slot // BLOCK][slot % BLOCK]

    def _rows(self, start: int, end: int) -> np.ndarray:
        """The signatures of slots start..end-1."""
        parts = [np.empty((0, self.config.num_perm), dtype=SIG_DTYPE)]
        for block in range(start // BLOCK, (end + BLOCK - 1) // BLOCK):
            base = block * BLOCK
            parts.append(self._blocks[block][max(start - base, 0) : min(end - base, BLOCK)])
        return np.concatenate(parts)

    def _candidates(self, bands: Sequence[int]) -> tuple[list[int], bool]:
        """Live slots (ascending) that may share a band key with the query, and whether
        some of them still have to be confirmed (found by key prefix only)."""
        sure, maybe = self._table.candidates(bands)
        if maybe:
            sure.update(maybe)
        if not sure:
            return [], False
        kinds = self._keys.kinds
        return sorted(slot for slot in sure if kinds[slot]), bool(maybe)

    # --- adding and dropping --------------------------------------------------------------

    def add(
        self, key: Key, sig: np.ndarray, bands: Sequence[int] | None = None, *, new: bool = False
    ) -> None:
        """Index `sig` under `key` (a key already present is replaced, unless the caller
        says it is `new`: then it is not looked up). `bands`, if given, must be `band_keys`
        of `sig`."""
        old = None if new else self._keys.find(key)
        if old is not None:
            self._drop_slot(old, key)
        if bands is None:
            bands = self._band_keys(sig[None, :])[0].tolist()
        slot = self._keys.append(key)
        if slot % BLOCK == 0:
            self._blocks.append(np.empty((BLOCK, self.config.num_perm), dtype=SIG_DTYPE))
        self._blocks[-1][slot % BLOCK] = sig
        self._table.add(bands, slot)
        self._live += 1
        if self._table.pending >= (FLUSH_CAP if self._table.prefetched else FLUSH_MIN):
            self.compact()

    def compact(self) -> None:
        """Move the recently added texts from dicts into the sorted runs (automatic; call it
        to free the dicts' memory, e.g. when done adding)."""
        alive = np.frombuffer(self._keys.kinds, dtype=np.uint8).astype(bool)
        purge = self._dropped * 16 >= len(alive) > 0  # dead entries: at most 1/16
        first = self._table.first
        keys = self._band_keys(self._rows(first, first + self._table.pending))
        self._table.flush(keys, alive, purge)
        self._keys.flush(alive if purge else None)
        if purge:
            self._dropped = 0

    def check_and_add(self, key: Key, text: str) -> tuple[Key, float] | None:
        """The near-duplicate of `text` already indexed, or None after indexing `text`."""
        sig = self.signature(text)
        bands = self._band_keys(sig[None, :])[0].tolist()
        match = self.query(sig, bands)
        if match is None:
            self.add(key, sig, bands)
        return match

    def check_and_add_many(
        self, keys: Sequence[Key], sigs: np.ndarray
    ) -> list[tuple[Key, float] | None]:
        """`check_and_add` over a batch of signatures, in order (later ones see earlier)."""
        results: list[tuple[Key, float] | None] = []
        for begin in range(0, len(sigs), BATCH):
            chunk = sigs[begin : begin + BATCH]
            all_bands = self.band_keys(chunk).tolist()
            for key, sig, bands in zip(keys[begin : begin + BATCH], chunk, all_bands, strict=True):
                match = self.query(sig, bands)
                if match is None:
                    self.add(key, sig, bands)
                results.append(match)
        return results

    def drop(self, keys: Iterable[Key]) -> int:
        """Remove keys from the index (e.g. records lost in a crash); returns how many."""
        dropped = 0
        for key in keys:
            slot = self._keys.find(key)
            if slot is not None:
                self._drop_slot(slot, key)
                dropped += 1
        return dropped

    def _drop_slot(self, slot: int, key: Key) -> None:
        """Tombstone: the slot's entries stay until a purge but are never returned."""
        self._keys.kill(slot, key)
        self._live -= 1
        self._dropped += 1

    # --- persistence ----------------------------------------------------------------------

    def items(self) -> Iterator[tuple[Key, np.ndarray]]:
        """(key, signature) of every indexed text, in insertion order."""
        for slot, kind in enumerate(self._keys.kinds):
            if kind:
                yield self._keys.key(slot), self._sig(slot)

    def save(self, path: Path) -> None:
        """Write the whole index to `path` atomically (a temporary file, then rename)."""
        staging = temporary(path)
        with SignatureLog(staging, self.config, fresh=True) as log:  # fsynced on close
            for key, sig in self.items():
                log.append(key, sig)
        os.replace(staging, path)

    @classmethod
    def load(
        cls, path: Path, config: NearDupConfig | None = None, *, int_keys: bool = False
    ) -> NearDupIndex:
        """Rebuild an index from a signature file (a torn or corrupt tail is cut off).
        `int_keys`: the keys were ints (files hold keys as text), give them back as ints."""
        index = cls(config)
        records = read_signatures(path, index.config)
        while chunk := list(itertools.islice(records, BLOCK)):
            sigs = np.stack([sig for _key, sig in chunk])
            for (key, sig), bands in zip(chunk, index._band_keys(sigs).tolist(), strict=True):
                index.add(int(key) if int_keys else key, sig, bands)
        index.compact()
        return index
