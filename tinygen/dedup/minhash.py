"""Near-duplicate detection: MinHash signatures over word shingles, LSH, verified matches.

A text is normalized (`canonical.normalize_text`), split into words (runs of letters,
digits and `_`; punctuation and spacing do not matter), and each run of `shingle`
consecutive words becomes one 64-bit shingle hash. rensa turns a batch of shingle sets
into MinHash signatures (`num_perm` values; the low 16 bits of each are kept). The
shingling is vectorized with numpy over the bytes of a whole batch: per-word Python work,
not hashing, is what makes MinHash slow in Python.

`NearDupIndex` finds, for a new signature, the indexed signature most similar to it:
LSH (`bands` x `rows`) proposes candidates, and each candidate is kept only if the
estimated Jaccard (share of equal signature values) reaches `threshold`. The check
matters: stories from one recipe are siblings that share whole sentences, and about
half of the raw LSH candidates among them are below the threshold.

The index is compact, about 600 bytes per text at the default settings: signatures in
uint16 blocks; LSH buckets as sorted uint64 arrays of (top 32 bits of a band key, slot)
entries, log-structured (recent inserts wait in a dict, then merge into sorted runs); keys
in one byte buffer. A candidate found by a key prefix is confirmed on its whole band keys,
so the results are exactly those of plain dict buckets.

Everything is deterministic across processes (no use of Python's salted `hash()`), so
signatures can be persisted: `save`/`load` write a whole index atomically, and
`SignatureLog` appends one record per accepted text during a run. Both use one format,
whose records carry a CRC so a torn tail left by a crash is detected and cut off.
"""

from __future__ import annotations

import itertools
import json
import os
import re
import struct
import zlib
from array import array
from collections.abc import Iterable, Iterator, Sequence
from dataclasses import asdict, dataclass
from pathlib import Path
from typing import BinaryIO

import numpy as np
import rensa

from tinygen.errors import TinygenError
from tinygen.text.canonical import normalize_text

FORMAT = "tinygen-neardup/1"
MAGIC = b"TGND1\n"
BATCH = 1024
# Signatures keep the low 16 bits of each 32-bit MinHash value: half the memory, and two
# different minima agree by chance only 1 time in 65,536 (corrected in the estimate).
SIG_DTYPE = np.uint16
_CHANCE = 2.0**-16
BLOCK = 4096

_U64 = np.uint64
_MASK64 = (1 << 64) - 1
_MIX1, _MIX2 = _U64(0xBF58476D1CE4E5B9), _U64(0x94D049BB133111EB)
_POSITION = [_U64(c) for c in (0x9E3779B97F4A7C15, 0xC2B2AE3D27D4EB4F, 0x165667B19E3779F9)]
_NON_WORD = re.compile(r"[^\w\s]+")
_EMPTY_SHINGLE = 0x5EED_0F_E3B7_7E5D


@dataclass(frozen=True)
class NearDupConfig:
    """Near-duplicate settings: Jaccard threshold, MinHash size, LSH shape, shingle size."""

    threshold: float = 0.8
    num_perm: int = 192
    bands: int = 24
    rows: int = 8
    shingle: int = 3
    seed: int = 1

    def __post_init__(self) -> None:
        if not 0.0 < self.threshold <= 1.0:
            raise ValueError(f"threshold must be in (0, 1], got {self.threshold}")
        if self.bands * self.rows > self.num_perm:
            raise ValueError(f"bands x rows ({self.bands}x{self.rows}) exceeds num_perm")
        if min(self.bands, self.rows, self.shingle, self.num_perm) < 1:
            raise ValueError("num_perm, bands, rows and shingle must be at least 1")

    def params(self) -> dict[str, object]:
        """The settings as plain data (for summaries and file headers)."""
        return asdict(self)


class SignatureFileError(TinygenError):
    """A signature file is not ours, or was written with other settings."""


# --- shingling and signatures -------------------------------------------------------------


def _mix(x: np.ndarray) -> np.ndarray:
    """splitmix64 finalizer: spreads every input bit over the whole 64-bit word."""
    x = x ^ (x >> _U64(30))
    x = x * _MIX1
    x = x ^ (x >> _U64(27))
    x = x * _MIX2
    return x ^ (x >> _U64(31))


_WORD_BYTE = np.zeros(256, dtype=bool)
for _byte in range(256):
    _WORD_BYTE[_byte] = _byte >= 0x80 or chr(_byte).isalnum() or _byte == ord("_")


def _word_spans(buf: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """Start and end offsets of the words (runs of word bytes) in a byte buffer."""
    edges = np.diff(_WORD_BYTE[buf].view(np.int8), prepend=np.int8(0), append=np.int8(0))
    return np.flatnonzero(edges == 1), np.flatnonzero(edges == -1)


def _word_hashes(data: bytes, starts: np.ndarray, ends: np.ndarray) -> np.ndarray:
    """64-bit hash of each word, from its bytes read 8 at a time (unaligned view)."""
    padded = data + b"\0" * 8
    view = np.ndarray((len(data) + 1,), dtype="<u8", buffer=padded, strides=(1,))
    lengths = ends - starts
    chunks = (lengths + 7) // 8
    word_of = np.repeat(np.arange(len(starts)), chunks)
    first = np.cumsum(chunks) - chunks
    index = np.arange(len(word_of)) - first[word_of]
    left = np.minimum(lengths[word_of] - 8 * index, 8).astype(_U64)
    partial = (_U64(1) << (np.minimum(left, _U64(7)) * _U64(8))) - _U64(1)
    keep = np.where(left == 8, _U64(_MASK64), partial)
    raw = view[starts[word_of] + 8 * index] & keep
    values = _mix(raw + index.astype(_U64) * _POSITION[0])
    return _mix(np.add.reduceat(values, first) + lengths.astype(_U64)) if len(first) else values


def _shingle_hashes(words: np.ndarray, counts: np.ndarray, k: int) -> np.ndarray:
    """Hash of every run of `k` consecutive words inside each document (flat)."""
    total = len(words)
    combined = np.zeros(max(total - k + 1, 0), dtype=_U64)
    for j in range(k):
        combined += words[j : total - k + 1 + j] * _POSITION[j % len(_POSITION)] + _U64(j)
    per_doc = np.maximum(counts - k + 1, 0)
    offsets = np.cumsum(counts) - counts
    first = np.cumsum(per_doc) - per_doc
    starts = np.repeat(offsets - first, per_doc) + np.arange(per_doc.sum())
    return _mix(combined[starts])


def _short_shingle(words: np.ndarray) -> int:
    """The one shingle of a document with fewer words than the shingle size."""
    if len(words) == 0:
        return _EMPTY_SHINGLE
    total = sum(int(w) * int(_POSITION[j % 3]) for j, w in enumerate(words)) & _MASK64
    return int(_mix(np.array([total], dtype=_U64))[0])


def shingle_sets(normalized: Sequence[str], k: int) -> tuple[np.ndarray, np.ndarray]:
    """Flat shingle hashes of normalized texts, and row offsets (len(normalized) + 1)."""
    cleaned = [t if t.isascii() else _NON_WORD.sub(" ", t) for t in normalized]
    data = "\n".join(cleaned).encode("utf-8")
    starts, ends = _word_spans(np.frombuffer(data, dtype=np.uint8))
    words = _word_hashes(data, starts, ends)
    newlines = np.flatnonzero(np.frombuffer(data, dtype=np.uint8) == 10)
    counts = np.bincount(np.searchsorted(newlines, starts), minlength=len(cleaned))
    shingles = _shingle_hashes(words, counts, k)
    if (counts < k).any():
        shingles, per_doc = _patch_short(shingles, words, counts, k)
    else:
        per_doc = counts - k + 1
    return shingles, np.concatenate(([0], np.cumsum(per_doc))).astype(_U64)


def _patch_short(
    shingles: np.ndarray, words: np.ndarray, counts: np.ndarray, k: int
) -> tuple[np.ndarray, np.ndarray]:
    """Give each document shorter than `k` words its single whole-text shingle."""
    per_doc = np.maximum(counts - k + 1, 0)
    word_offsets, shingle_offsets = np.cumsum(counts) - counts, np.cumsum(per_doc) - per_doc
    parts, cursor = [], 0
    for doc in np.flatnonzero(counts < k):
        parts.append(shingles[cursor : shingle_offsets[doc]])
        own = words[word_offsets[doc] : word_offsets[doc] + counts[doc]]
        parts.append(np.array([_short_shingle(own)], dtype=_U64))
        cursor = shingle_offsets[doc]
    parts.append(shingles[cursor:])
    return np.concatenate(parts), np.maximum(per_doc, 1)


def signatures_normalized(normalized: Sequence[str], config: NearDupConfig) -> np.ndarray:
    """MinHash signatures (n x num_perm, uint16) of already-normalized texts."""
    out = np.empty((len(normalized), config.num_perm), dtype=SIG_DTYPE)
    for begin in range(0, len(normalized), BATCH):
        batch = normalized[begin : begin + BATCH]
        shingles, offsets = shingle_sets(batch, config.shingle)
        matrix = rensa.RMinHash.digest_matrix_from_flat_token_hashes(
            shingles, offsets, config.num_perm, config.seed
        )
        flat = array("I", itertools.chain.from_iterable(matrix.to_rows()))  # 32-bit values
        full = np.frombuffer(flat, dtype=np.uint32).reshape(len(batch), config.num_perm)
        out[begin : begin + len(batch)] = full & 0xFFFF  # low 16 bits: see SIG_DTYPE
    return out


def signatures(texts: Sequence[str], config: NearDupConfig) -> np.ndarray:
    """MinHash signatures (n x num_perm, uint16) of raw texts."""
    return signatures_normalized([normalize_text(t) for t in texts], config)


def estimated_jaccard(a: np.ndarray, b: np.ndarray) -> float:
    """Share of equal MinHash values: an estimate of the Jaccard similarity."""
    return float(_unbias(np.count_nonzero(a == b) / len(a)))


def _unbias(share: np.ndarray | float) -> np.ndarray | float:
    """Remove the 2^-16 chance that two different 16-bit values are equal anyway."""
    return np.maximum((share - _CHANCE) / (1 - _CHANCE), 0.0)


# --- the index -------------------------------------------------------------------------

Key = str | int
_STR, _INT = 1, 2  # kind of the key in a slot; 0 once dropped
_HI = _U64(0xFFFF_FFFF_0000_0000)
_LO = _U64(0xFFFF_FFFF)
_HI_INT = 0xFFFF_FFFF_0000_0000
_FIBONACCI = 0x9E37_79B9_7F4A_7C15  # odd: spreads a hash's low bits into its top 32 bits
FLUSH_MIN = 1024  # recent texts held in dicts before they join the sorted runs
FLUSH_CAP = 4096  # ... or, while a prefetched batch is being queried, at most this many
RATIO = 4  # each sorted run is at least RATIO times the size of the next one
PREFETCH_MAX = 4096  # largest batch `band_keys` looks up in advance


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
    merged[size] = _MASK64
    return merged


class _Runs:
    """A log-structured set of uint64 entries `prefix | slot`: `prefix` is the top 32 bits
    of a 64-bit hash, `slot` a text's slot in the low 32 bits. Entries come in sorted runs
    (each closed by an all-ones sentinel, so a search always lands on an entry); a new run
    is merged into the one before while it is at least 1/`ratio` of its size: O(log n)
    runs to search, each entry copied O(ratio log n) times."""

    def __init__(self, ratio: int) -> None:
        self.runs: list[np.ndarray] = []
        self._ratio = ratio

    def find(self, prefixes: np.ndarray) -> list[int]:
        """Slots of the entries whose prefix is one of `prefixes` (low 32 bits zero)."""
        slots: list[int] = []
        for run in self.runs:
            slots.extend(_run_find(run, prefixes))
        return slots

    def find_one(self, prefix: int) -> list[int]:
        """`find` for a single prefix (a Python int)."""
        slots: list[int] = []
        for run in self.runs:
            slots.extend(_run_find_one(run, prefix))
        return slots

    def matches(self, needles: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
        """(needle index, slot) of every entry whose prefix is one of `needles`, searched
        in sorted order (far fewer cache misses than searching them one by one)."""
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

    def add(self, entries: np.ndarray, alive: np.ndarray | None = None) -> None:
        """Add `entries` (any order) as a run; with `alive` (a flag per slot), first rewrite
        everything into one run without the entries of dead slots."""
        if alive is not None:
            self.runs = [_merged(self.runs, alive)] if self.runs else []
        if len(entries):
            run = np.empty(len(entries) + 1, dtype=_U64)
            run[:-1], run[-1] = np.sort(entries), _MASK64
            self.runs.append(run)
        runs = self.runs
        while len(runs) > 1 and len(runs[-1]) * self._ratio >= len(runs[-2]):
            runs[-2:] = [_merged(runs[-2:])]


def _key_prefix(key: Key) -> int:
    """Top 32 bits of a key's mixed `hash()` (salted, but it never leaves the process)."""
    return (hash(key) * _FIBONACCI) & _HI_INT


class _KeyStore:
    """Keys by slot, all in one byte buffer, and a key -> slot lookup: recent keys in a
    dict, older ones as hash prefixes in `_Runs` (8 bytes a key), confirmed on the key."""

    def __init__(self) -> None:
        self.kinds = bytearray()  # per slot: _STR, _INT, or 0 once dropped
        self._data = bytearray()  # the keys of the stored slots, UTF-8 or decimal
        self._ends = array("I")  # where each stored slot's key ends in _data ("Q" past 4 GB)
        self._fresh: list[Key] = []  # the keys of the slots after the stored ones
        self._recent: dict[Key, int] = {}
        self._runs = _Runs(ratio=1 << 62)  # always one run: keys are small, lookups many

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
        for slot in self._runs.find_one(_key_prefix(key)):
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
        prefixes = np.fromiter(map(_key_prefix, recent), dtype=_U64, count=count)
        self._runs.add(prefixes | np.fromiter(recent.values(), _U64, count), alive)
        self._fresh, self._recent = [], {}


class _BandTable:
    """LSH buckets, band key -> slots. The bands of recent slots sit in a dict of exact keys;
    `flush` moves them into `_Runs` (key prefix + slot: 8 bytes a band), whose hits are
    only probable (32-bit prefixes) and must be confirmed by the caller."""

    def __init__(self, bands: int) -> None:
        self.recent: dict[int, int | list[int]] = {}
        self.prefetched: dict[tuple, Sequence[int]] = {}  # band keys -> run hits, for a batch
        self._width = bands
        self.first, self.pending = 0, 0  # the slots in the dict: first, how many
        self._runs = _Runs(RATIO)

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
            maybe = self._runs.find(np.array(bands, dtype=_U64) & _HI)
        return sure, maybe

    def prefetch(self, keys: np.ndarray) -> None:
        """Look up a batch of band-key rows in the sorted runs in one vectorized pass (sorted
        needles: far fewer cache misses than one search per query)."""
        self.prefetched = {}
        if not self._runs.runs:
            return
        rows = keys.tolist()
        self.prefetched = dict.fromkeys(map(tuple, rows), ())
        owners, slots = self._runs.matches((keys & _HI).ravel())
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
        new = ((keys & _HI) | slots[:, None])[alive[first : first + len(keys)]].ravel()
        self.first, self.pending, self.recent, self.prefetched = first + len(keys), 0, {}, {}
        self._runs.add(new, alive if purge else None)


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
        self._keys = _KeyStore()
        self._table = _BandTable(self.config.bands)
        self._live = 0
        self._dropped = 0  # slots dropped since the sorted runs were last purged
        width = self.config.bands * self.config.rows
        rng = np.random.default_rng(self.config.seed)
        self._band_mult = rng.integers(1, 2**63, size=width, dtype=np.int64).astype(_U64) | _U64(1)
        self._band_tag = np.arange(self.config.bands, dtype=_U64) * _POSITION[1]

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

    def band_keys(self, sigs: np.ndarray) -> np.ndarray:
        """LSH bucket key of every band of each signature (n x bands, uint64).

        For a batch (2 to PREFETCH_MAX signatures) the keys are also looked up in the
        index's sorted runs in one vectorized pass, which the `query` calls that follow
        with these keys reuse (valid until the runs change)."""
        keys = self._band_keys(sigs)
        if 1 < len(sigs) <= PREFETCH_MAX:
            if self._table.pending >= FLUSH_MIN:
                self.compact()
            self._table.prefetch(keys)
        return keys

    def _band_keys(self, sigs: np.ndarray) -> np.ndarray:
        """`band_keys` without the look-up in advance."""
        cfg = self.config
        width = cfg.bands * cfg.rows
        products = sigs[:, :width].astype(_U64) * self._band_mult
        banded = products.reshape(len(sigs), cfg.bands, cfg.rows).sum(axis=2, dtype=_U64)
        return _mix(banded + self._band_tag)

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
        scores = _unbias(np.count_nonzero(equal, axis=1) / self.config.num_perm)
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

    def add(self, key: Key, sig: np.ndarray, bands: Sequence[int] | None = None) -> None:
        """Index `sig` under `key` (a key already present is replaced). `bands`, if given,
        must be `band_keys` of `sig`."""
        old = self._keys.find(key)
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

    def items(self) -> Iterator[tuple[Key, np.ndarray]]:
        """(key, signature) of every indexed text, in insertion order."""
        for slot, kind in enumerate(self._keys.kinds):
            if kind:
                yield self._keys.key(slot), self._sig(slot)

    def save(self, path: Path) -> None:
        """Write the whole index to `path` atomically (a temporary file, then rename)."""
        temporary = path.with_name(path.name + ".tmp")
        with SignatureLog(temporary, self.config, fresh=True) as log:
            for key, sig in self.items():
                log.append(key, sig)
        os.replace(temporary, path)

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


# --- the signature file --------------------------------------------------------------------


# --- the signature file --------------------------------------------------------------------


def _header(config: NearDupConfig) -> bytes:
    """First line of a signature file: format and the settings that shape signatures."""
    fields = {
        "format": FORMAT,
        "num_perm": config.num_perm,
        "shingle": config.shingle,
        "seed": config.seed,
        "rensa": rensa.RMinHash.ALGORITHM_VERSION,
        "bits": 16,
    }
    return MAGIC + json.dumps(fields, sort_keys=True).encode() + b"\n"


def _record(key: str | int, sig: np.ndarray) -> bytes:
    """One record: key length, key (an int as its decimal text), signature, CRC32 of all."""
    raw = key.encode() if isinstance(key, str) else str(key).encode()
    body = struct.pack("<H", len(raw)) + raw + sig.astype("<u2").tobytes()
    return body + struct.pack("<I", zlib.crc32(body))


class SignatureLog:
    """Append-only signature file: one flushed record per accepted text."""

    def __init__(self, path: Path, config: NearDupConfig, *, fresh: bool = False) -> None:
        self.path, self.config = path, config
        if not fresh and _has_records_or_header(path, config):
            _check_header(path, config)
            _truncate_to_valid(path, config)
            self._handle: BinaryIO = path.open("ab")
        else:
            self._handle = path.open("wb")
            self._handle.write(_header(config))
            self._handle.flush()

    def append(self, key: str | int, sig: np.ndarray) -> None:
        """Append and flush one record (a crash loses at most this record)."""
        self._handle.write(_record(key, sig))
        self._handle.flush()

    def close(self) -> None:
        if not self._handle.closed:
            self._handle.flush()
            os.fsync(self._handle.fileno())
            self._handle.close()

    def __enter__(self) -> SignatureLog:
        return self

    def __exit__(self, *exc_info: object) -> None:
        self.close()


def _has_records_or_header(path: Path, config: NearDupConfig) -> bool:
    """False for a missing file, or one holding only a prefix of the header (torn)."""
    if not path.exists():
        return False
    with path.open("rb") as handle:
        start = handle.read(len(_header(config)))
    return not _header(config).startswith(start) or len(start) == len(_header(config))


def _check_header(path: Path, config: NearDupConfig) -> int:
    """Offset of the first record; raises if the file is foreign or has other settings."""
    with path.open("rb") as handle:
        magic = handle.read(len(MAGIC))
        line = handle.readline()
    if magic != MAGIC or not line.endswith(b"\n"):
        raise SignatureFileError(
            f"{path} is not a tinygen signature file", "delete it: it is rebuilt from the shards"
        )
    if line != _header(config)[len(MAGIC) :]:
        raise SignatureFileError(
            f"{path} was written with other near-dup settings ({line.decode().strip()})",
            "delete it: it is rebuilt from the shards with the current settings",
        )
    return len(MAGIC) + len(line)


def _scan_records(path: Path, config: NearDupConfig) -> Iterator[tuple[int, str, np.ndarray]]:
    """(end offset, key, signature) of each intact record, stopping at the first bad one."""
    offset = _check_header(path, config)
    width = 2 * config.num_perm
    with path.open("rb") as handle:
        handle.seek(offset)
        while len(prefix := handle.read(2)) == 2:
            (size,) = struct.unpack("<H", prefix)
            rest = handle.read(size + width + 4)
            if len(rest) < size + width + 4:
                return
            body = prefix + rest[:-4]
            if struct.unpack("<I", rest[-4:])[0] != zlib.crc32(body):
                return
            offset += 2 + len(rest)
            sig = np.frombuffer(rest, dtype="<u2", count=config.num_perm, offset=size)
            yield offset, rest[:size].decode(), sig.astype(SIG_DTYPE)


def _truncate_to_valid(path: Path, config: NearDupConfig) -> bool:
    """Cut the file after its last intact record; True if anything was cut."""
    end = _check_header(path, config)
    for end, _key, _sig in _scan_records(path, config):  # noqa: B007
        pass
    if end == path.stat().st_size:
        return False
    _truncate(path, end)
    return True


def _truncate(path: Path, size: int) -> None:
    with path.open("rb+") as handle:
        handle.truncate(size)
        handle.flush()
        os.fsync(handle.fileno())


def read_signatures(path: Path, config: NearDupConfig) -> Iterator[tuple[str, np.ndarray]]:
    """(key, signature) of each intact record; once all are read, a torn or corrupt tail
    is cut off so that appends continue from the last intact record."""
    end = _check_header(path, config)
    for end, key, sig in _scan_records(path, config):  # noqa: B007
        yield key, sig
    if end != path.stat().st_size:
        _truncate(path, end)
