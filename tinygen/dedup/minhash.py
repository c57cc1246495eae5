"""MinHash signatures of texts: the settings, word shingles, and rensa's sketches.

A text is normalized (`canonical.normalize_text`), split into words (runs of letters,
digits and `_`; punctuation and spacing do not matter), and each run of `shingle`
consecutive words becomes one 64-bit shingle hash. rensa turns a batch of shingle sets
into MinHash signatures (`num_perm` values; the low 16 bits of each are kept). The
shingling is vectorized with numpy over the bytes of a whole batch: per-word Python work,
not hashing, is what makes MinHash slow in Python.

Everything is deterministic across processes (no use of Python's salted `hash()`), so
signatures can be persisted (`sigfile`) and compared by an index (`index`).
"""

from __future__ import annotations

import itertools
import re
from array import array
from collections.abc import Sequence
from dataclasses import asdict, dataclass
from functools import cache

import numpy as np
import rensa

from tinygen.text.canonical import normalize_text

BATCH = 1024
# Signatures keep the low 16 bits of each 32-bit MinHash value: half the memory, and two
# different minima agree by chance only 1 time in 65,536 (corrected in the estimate).
SIG_DTYPE = np.uint16
_CHANCE = 2.0**-16

_U64 = np.uint64
_MASK64 = (1 << 64) - 1
_MIX1, _MIX2 = _U64(0xBF58476D1CE4E5B9), _U64(0x94D049BB133111EB)
POSITION = [_U64(c) for c in (0x9E3779B97F4A7C15, 0xC2B2AE3D27D4EB4F, 0x165667B19E3779F9)]
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


# --- shingling ----------------------------------------------------------------------------


def mix(x: np.ndarray) -> np.ndarray:
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
    values = mix(raw + index.astype(_U64) * POSITION[0])
    return mix(np.add.reduceat(values, first) + lengths.astype(_U64)) if len(first) else values


def _shingle_hashes(words: np.ndarray, counts: np.ndarray, k: int) -> np.ndarray:
    """Hash of every run of `k` consecutive words inside each document (flat)."""
    total = len(words)
    combined = np.zeros(max(total - k + 1, 0), dtype=_U64)
    for j in range(k):
        combined += words[j : total - k + 1 + j] * POSITION[j % len(POSITION)] + _U64(j)
    per_doc = np.maximum(counts - k + 1, 0)
    offsets = np.cumsum(counts) - counts
    first = np.cumsum(per_doc) - per_doc
    starts = np.repeat(offsets - first, per_doc) + np.arange(per_doc.sum())
    return mix(combined[starts])


def _short_shingle(words: np.ndarray) -> int:
    """The one shingle of a document with fewer words than the shingle size."""
    if len(words) == 0:
        return _EMPTY_SHINGLE
    total = sum(int(w) * int(POSITION[j % 3]) for j, w in enumerate(words)) & _MASK64
    return int(mix(np.array([total], dtype=_U64))[0])


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


# --- signatures ---------------------------------------------------------------------------


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


def band_keys(sigs: np.ndarray, config: NearDupConfig) -> np.ndarray:
    """The LSH bucket key of every band of each signature (n x bands, uint64): the same
    in every process, so helper processes may compute them for the index."""
    mult, tag = _band_constants(config)
    width = config.bands * config.rows
    products = sigs[:, :width].astype(_U64) * mult
    banded = products.reshape(len(sigs), config.bands, config.rows).sum(axis=2, dtype=_U64)
    return mix(banded + tag)


@cache
def _band_constants(config: NearDupConfig) -> tuple[np.ndarray, np.ndarray]:
    """Odd multipliers of a band's rows, and each band's tag (from the config's seed)."""
    rng = np.random.default_rng(config.seed)
    width = config.bands * config.rows
    mult = rng.integers(1, 2**63, size=width, dtype=np.int64).astype(_U64) | _U64(1)
    return mult, np.arange(config.bands, dtype=_U64) * POSITION[1]


def estimated_jaccard(a: np.ndarray, b: np.ndarray) -> float:
    """Share of equal MinHash values: an estimate of the Jaccard similarity."""
    return float(unbias(np.count_nonzero(a == b) / len(a)))


def unbias(share: np.ndarray | float) -> np.ndarray | float:
    """Remove the 2^-16 chance that two different 16-bit values are equal anyway."""
    return np.maximum((share - _CHANCE) / (1 - _CHANCE), 0.0)
