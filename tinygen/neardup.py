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
from collections.abc import Iterable, Iterator, Sequence
from dataclasses import asdict, dataclass
from pathlib import Path
from typing import BinaryIO

import numpy as np
import rensa

from tinygen.canonical import normalize_text
from tinygen.errors import TinygenError

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
        full = np.array(matrix.to_rows(), dtype=np.uint32)
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


class NearDupIndex:
    """Signatures of accepted texts, with LSH lookup of verified near-duplicates."""

    def __init__(self, config: NearDupConfig | None = None) -> None:
        self.config = config or NearDupConfig()
        self._blocks: list[np.ndarray] = []  # signatures, BLOCK rows each: no regrowth copies
        self._keys: list[str | None] = []
        self._slots: dict[str, int] = {}
        self._buckets: dict[int, int | list[int]] = {}
        width = self.config.bands * self.config.rows
        rng = np.random.default_rng(self.config.seed)
        self._band_mult = rng.integers(1, 2**63, size=width, dtype=np.int64).astype(_U64) | _U64(1)
        self._band_tag = np.arange(self.config.bands, dtype=_U64) * _POSITION[1]

    def __len__(self) -> int:
        return len(self._slots)

    def __contains__(self, key: object) -> bool:
        return key in self._slots

    def keys(self) -> list[str]:
        """Keys of the indexed texts, in insertion order."""
        return [k for k in self._keys if k is not None]

    def signature(self, text: str) -> np.ndarray:
        """MinHash signature (uint16 array of num_perm values) of one raw text."""
        return signatures([text], self.config)[0]

    def band_keys(self, sigs: np.ndarray) -> np.ndarray:
        """LSH bucket key of every band of each signature (n x bands, uint64)."""
        cfg = self.config
        width = cfg.bands * cfg.rows
        products = sigs[:, :width].astype(_U64) * self._band_mult
        banded = products.reshape(len(sigs), cfg.bands, cfg.rows).sum(axis=2, dtype=_U64)
        return _mix(banded + self._band_tag)

    def query(
        self, sig: np.ndarray, bands: Sequence[int] | None = None
    ) -> tuple[str, float] | None:
        """The most similar indexed text with estimated Jaccard >= threshold, or None."""
        if bands is None:
            bands = self.band_keys(sig[None, :])[0].tolist()
        candidates = self._candidates(bands)
        if not candidates:
            return None
        slots = np.fromiter(candidates, dtype=np.int64, count=len(candidates))
        rows = np.stack([self._sig(slot) for slot in slots.tolist()])
        scores = _unbias(np.count_nonzero(rows == sig, axis=1) / self.config.num_perm)
        best = int(np.argmax(scores))
        if scores[best] < self.config.threshold:
            return None
        return self._keys[slots[best]], float(scores[best])  # type: ignore[return-value]

    def _sig(self, slot: int) -> np.ndarray:
        return self._blocks[slot // BLOCK][slot % BLOCK]

    def _candidates(self, bands: Sequence[int]) -> set[int]:
        """Slots sharing at least one band bucket with the query."""
        buckets = self._buckets
        found: set[int] = set()
        for band in buckets.keys() & bands:  # one C-level pass; usually empty
            hit = buckets[band]
            if type(hit) is int:
                found.add(hit)
            else:
                found.update(hit)
        return found

    def add(self, key: str, sig: np.ndarray, bands: Sequence[int] | None = None) -> None:
        """Index `sig` under `key` (a key already present is replaced)."""
        if key in self._slots:
            self.drop([key])
        if bands is None:
            bands = self.band_keys(sig[None, :])[0].tolist()
        slot = len(self._keys)
        if slot % BLOCK == 0:
            self._blocks.append(np.empty((BLOCK, self.config.num_perm), dtype=SIG_DTYPE))
        self._blocks[-1][slot % BLOCK] = sig
        self._keys.append(key)
        self._slots[key] = slot
        self._bucket(bands, slot)

    def _bucket(self, bands: Sequence[int], slot: int) -> None:
        """Put `slot` into the bucket of each of its bands."""
        buckets = self._buckets
        present = buckets.keys() & bands
        for band in present:
            hit = buckets[band]
            if type(hit) is int:
                buckets[band] = [hit, slot]
            else:
                hit.append(slot)
        buckets.update(dict.fromkeys(set(bands).difference(present) if present else bands, slot))

    def check_and_add(self, key: str, text: str) -> tuple[str, float] | None:
        """The near-duplicate of `text` already indexed, or None after indexing `text`."""
        sig = self.signature(text)
        bands = self.band_keys(sig[None, :])[0].tolist()
        match = self.query(sig, bands)
        if match is None:
            self.add(key, sig, bands)
        return match

    def check_and_add_many(
        self, keys: Sequence[str], sigs: np.ndarray
    ) -> list[tuple[str, float] | None]:
        """`check_and_add` over a batch of signatures, in order (later ones see earlier)."""
        all_bands = self.band_keys(sigs).tolist()
        results: list[tuple[str, float] | None] = []
        for key, sig, bands in zip(keys, sigs, all_bands, strict=True):
            match = self.query(sig, bands)
            if match is None:
                self.add(key, sig, bands)
            results.append(match)
        return results

    def drop(self, keys: Iterable[str]) -> int:
        """Remove keys from the index (e.g. records lost in a crash); returns how many."""
        dropped = 0
        for key in keys:
            slot = self._slots.pop(key, None)
            if slot is None:
                continue
            for band in self.band_keys(self._sig(slot)[None, :])[0].tolist():
                self._unbucket(band, slot)
            self._keys[slot] = None
            dropped += 1
        return dropped

    def _unbucket(self, band: int, slot: int) -> None:
        hit = self._buckets.get(band)
        if hit == slot:
            del self._buckets[band]
        elif isinstance(hit, list):
            hit.remove(slot)
            if len(hit) == 1:
                self._buckets[band] = hit[0]

    def items(self) -> Iterator[tuple[str, np.ndarray]]:
        """(key, signature) of every indexed text, in insertion order."""
        for slot, key in enumerate(self._keys):
            if key is not None:
                yield key, self._sig(slot)

    def save(self, path: Path) -> None:
        """Write the whole index to `path` atomically (a temporary file, then rename)."""
        temporary = path.with_name(path.name + ".tmp")
        with SignatureLog(temporary, self.config, fresh=True) as log:
            for key, sig in self.items():
                log.append(key, sig)
        os.replace(temporary, path)

    @classmethod
    def load(cls, path: Path, config: NearDupConfig | None = None) -> NearDupIndex:
        """Rebuild an index from a signature file (a torn or corrupt tail is cut off)."""
        index = cls(config)
        records = read_signatures(path, index.config)
        while chunk := list(itertools.islice(records, BLOCK)):
            sigs = np.stack([sig for _key, sig in chunk])
            for (key, sig), bands in zip(chunk, index.band_keys(sigs).tolist(), strict=True):
                index.add(key, sig, bands)
        return index


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


def _record(key: str, sig: np.ndarray) -> bytes:
    """One record: key length, key, signature, CRC32 of all of it."""
    body = struct.pack("<H", len(key.encode())) + key.encode() + sig.astype("<u2").tobytes()
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

    def append(self, key: str, sig: np.ndarray) -> None:
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
