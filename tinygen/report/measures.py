"""The measures of a corpus's texts: accumulators fed one record at a time, each with a
`result()` that is a JSON-able dict (`tinygen.report.corpus` assembles them).

Definitions (all over lowercased word tokens, punctuation dropped):
- distinct-n = distinct n-grams / n-grams (within records, not across record borders).
- compression ratio = xz-compressed bytes / raw UTF-8 bytes of the texts joined by
  newlines (lower = more redundant; 15% duplicated stories lower it visibly).
- opening share = share of records whose first 3 (5) words are the most common 3 (5)
  first words; name share = share of records that use the most common name
  (`tinygen.report.names`).
- coverage of a list: share of its entries required (sampled into `variables`) at least
  once, and share appearing in the texts; single words match in any inflected form
  (lemminflect: "ran" counts for "run"), multi-word entries match as whole phrases.

Scale: everything is exact and streamed except (1) distinct-2/3 on large corpora, which
switch to adaptive hash sampling (keep the n-grams whose hash falls in 1/2^k of the
hash space, estimate distinct = kept x 2^k; bounded memory) and (2) xz, which compresses
at most the first `XZ_MAX_BYTES` of text. Both say so in the output (`sampled`).
"""

from __future__ import annotations

import lzma
import math
import queue
import threading
from array import array
from collections import Counter

from tinygen.report.lists import TextIndex
from tinygen.text.tokens import opening

XZ_PRESET = 6
XZ_MAX_BYTES = 32 * 1024 * 1024
NGRAM_MAX_KEPT = 1_000_000  # per n: above this, halve the hash-sampling rate
HIST_BINS = 20
CURVE_POINTS = 40
TOP_K = 10


class Coverage:
    """Per list: entries required at least once, entries seen in texts, and a curve."""

    def __init__(self, lists: dict[str, list[str]]) -> None:
        self.index = TextIndex(lists)
        self.size = {name: len(entries) for name, entries in lists.items()}
        self.required: dict[str, set[str]] = {name: set() for name in lists}
        self.in_text: dict[str, set[str]] = {name: set() for name in lists}
        self.asked = Counter[str]()
        self.followed = Counter[str]()
        self.curve: list[dict] = []
        self._step = 1
        self._records = 0

    def add(self, variables: dict, tokens: set[str], padded: str) -> None:
        for name, required in self.required.items():
            wanted = variables.get(name)
            for entry in [wanted] if isinstance(wanted, str) else wanted or ():
                self.asked[name] += 1
                self.followed[name] += self.index.contains(name, entry, tokens, padded)
                if (name, entry) in self.index.entry_forms:
                    required.add(entry)
        for name, entry in self.index.found(tokens, padded):
            self.in_text[name].add(entry)
        self._records += 1
        if self._records % self._step == 0:
            self._checkpoint()

    def _checkpoint(self) -> None:
        self.curve.append(self._point())
        if len(self.curve) > CURVE_POINTS:
            self.curve, self._step = self.curve[1::2], self._step * 2

    def _point(self) -> dict:
        return {
            "records": self._records,
            "required": {n: share(len(s), self.size[n]) for n, s in self.required.items()},
            "in_text": {n: share(len(s), self.size[n]) for n, s in self.in_text.items()},
        }

    def result(self, missing: dict[str, str]) -> tuple[dict, list[dict]]:
        out: dict[str, dict] = {}
        for name, size in self.size.items():
            out[name] = {
                "entries": size,
                "multiword_entries": self.index.multiword(name),
                "required": len(self.required[name]),
                "required_share": share(len(self.required[name]), size),
                "in_text": len(self.in_text[name]),
                "in_text_share": share(len(self.in_text[name]), size),
                "followed_share": ratio(self.followed[name], self.asked[name]),
            }
        out.update({name: {"error": why} for name, why in missing.items()})
        curve = self.curve
        if self._records and (not curve or curve[-1]["records"] != self._records):
            curve = [*curve, self._point()]
        return out, curve


class Ngrams:
    """distinct-1 exactly; distinct-2/3 exactly until too many, then hash-sampled."""

    def __init__(self) -> None:
        self.unigrams: set[str] = set()
        self.kept: dict[int, set[int]] = {2: set(), 3: set()}
        self.total = Counter[int]()
        self.level = 0  # keep hashes h with h % 2**level == 0

    def add(self, words: list[str]) -> None:
        self.unigrams.update(words)
        self.total[1] += len(words)
        grams = {n: zip(*_shifts(words, n), strict=False) for n in (2, 3)}
        for n, gram in grams.items():
            self.total[n] += max(0, len(words) - n + 1)
            kept = self.kept[n]
            if self.level == 0:
                kept.update(map(hash, gram))
            else:
                mask = (1 << self.level) - 1
                kept.update(h for h in map(hash, gram) if not h & mask)
            if len(kept) > NGRAM_MAX_KEPT:
                self._coarsen()

    def _coarsen(self) -> None:
        self.level += 1
        mask = (1 << self.level) - 1
        self.kept = {n: {h for h in s if not h & mask} for n, s in self.kept.items()}

    def result(self) -> dict:
        scale = 1 << self.level
        distinct = {1: len(self.unigrams)} | {n: len(s) * scale for n, s in self.kept.items()}
        out: dict[str, object] = {"words": self.total[1], "vocabulary": len(self.unigrams)}
        for n in (1, 2, 3):
            out[f"distinct_{n}"] = ratio(min(distinct[n], self.total[n]), self.total[n])
        out["sampled"] = self.level > 0
        out["hash_sample_rate"] = 1 / scale
        return out


def _shifts(words: list[str], n: int) -> list[list[str]]:
    return [words[i:] for i in range(n)]


class Compression:
    """xz (LZMA preset 6) over the texts joined by newlines, up to `XZ_MAX_BYTES`.

    Compression runs in a worker thread (lzma releases the GIL), fed ~1 MiB chunks.
    """

    def __init__(self) -> None:
        self.raw = 0
        self.compressed = 0
        self.skipped = 0
        self._chunk: list[bytes] = []
        self._chunk_bytes = 0
        self._queue: queue.Queue[bytes | None] = queue.Queue(maxsize=8)
        self._worker = threading.Thread(target=self._compress, daemon=True)
        self._worker.start()

    def _compress(self) -> None:
        xz = lzma.LZMACompressor(preset=XZ_PRESET)
        while (data := self._queue.get()) is not None:
            self.compressed += len(xz.compress(data))
        self.compressed += len(xz.flush())

    def add(self, text: str) -> None:
        if self.raw >= XZ_MAX_BYTES:
            self.skipped += 1
            return
        data = text.encode("utf-8") + b"\n"
        self.raw += len(data)
        self._chunk.append(data)
        self._chunk_bytes += len(data)
        if self._chunk_bytes >= 1 << 20:
            self.send()

    def send(self) -> None:
        """Hand the texts added so far to the compressing thread."""
        self._queue.put(b"".join(self._chunk))
        self._chunk, self._chunk_bytes = [], 0

    def result(self) -> dict:
        self.send()
        self._queue.put(None)
        self._worker.join()
        return {
            "method": f"xz preset {XZ_PRESET}",
            "raw_bytes": self.raw,
            "compressed_bytes": self.compressed,
            "ratio": ratio(self.compressed, self.raw),
            "sampled": self.skipped > 0,
            "records_skipped": self.skipped,
        }


class Concentration:
    """Counts of openings (first 3 and 5 words) and of names, one per record."""

    def __init__(self) -> None:
        self.openings = {3: Counter[str](), 5: Counter[str]()}
        self.names = Counter[str]()
        self.records = 0

    def add(self, words: list[str], names: set[str]) -> None:
        self.records += 1
        for n, counter in self.openings.items():
            counter[opening(words, n)] += 1
        self.names.update(names)

    def result(self) -> dict:
        return {
            "opening_3": self._top(self.openings[3]),
            "opening_5": self._top(self.openings[5]),
            "name": self._top(self.names),
        }

    def _top(self, counter: Counter[str]) -> dict:
        top = [
            {"text": text, "records": count, "share": share(count, self.records)}
            for text, count in counter.most_common(TOP_K)
        ]
        first = top[0] if top else {"text": None, "records": 0, "share": 0.0}
        return {
            "most_common": first["text"],
            "share": first["share"],
            "distinct": len(counter),
            "top": top,
        }


class Lengths:
    """Lengths in words, kept compactly (4 bytes a record) for exact percentiles."""

    def __init__(self) -> None:
        self.values = array("I")

    def add(self, words: int) -> None:
        self.values.append(words)

    def result(self) -> dict:
        values = sorted(self.values)
        if not values:
            return {"unit": "words", "records": 0, "histogram": []}
        return {
            "unit": "words",
            "records": len(values),
            "min": values[0],
            "max": values[-1],
            "mean": round(sum(values) / len(values), 2),
            "median": _percentile(values, 50),
            "p5": _percentile(values, 5),
            "p95": _percentile(values, 95),
            "histogram": histogram(values),
        }


def histogram(values: list[int], bins: int = HIST_BINS) -> list[dict]:
    """Equal-width bins of `values` (sorted) with a round width; the top 1% may overflow.

    Each bin is {"lo", "hi", "count"} covering lo <= v < hi; the last bin's "hi" is None
    when it collects the overflow above the 99th percentile.
    """
    p99 = math.ceil(_percentile(values, 99))
    top = p99 if values[-1] > 2 * max(p99, 1) else values[-1]
    width = _nice_width((top - values[0] + 1) / bins)
    lo = values[0] // width * width
    count = max(1, -(-(top + 1 - lo) // width))
    edges = [lo + i * width for i in range(count + 1)]
    counts = [0] * count
    overflow = 0
    for value in values:
        slot = (value - lo) // width
        if slot < count:
            counts[slot] += 1
        else:
            overflow += 1
    out = [{"lo": edges[i], "hi": edges[i + 1], "count": counts[i]} for i in range(count)]
    if overflow:
        out.append({"lo": edges[-1], "hi": None, "count": overflow})
    return out


def _nice_width(raw: float) -> int:
    """The smallest of 1, 2, 5 x 10^k that is >= raw."""
    if raw <= 1:
        return 1
    power = 10 ** math.floor(math.log10(raw))
    return next(int(m * power) for m in (1, 2, 5, 10) if m * power >= raw)


def _percentile(values: list[int], q: float) -> float:
    """Linear-interpolated percentile of sorted values."""
    pos = (len(values) - 1) * q / 100
    low, high = math.floor(pos), math.ceil(pos)
    return round(values[low] + (values[high] - values[low]) * (pos - low), 2)


def share(part: float, whole: float) -> float:
    """part / whole to 4 places; 0.0 of nothing."""
    return round(part / whole, 4) if whole else 0.0


def ratio(part: float, whole: float) -> float | None:
    """part / whole to 4 places; None (not measurable) of nothing."""
    return round(part / whole, 4) if whole else None
