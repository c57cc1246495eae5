"""Near-duplicate index: what it finds, what it leaves alone, persistence, memory."""

from __future__ import annotations

import random
import tracemalloc

import numpy as np
import pytest

from tinygen.dedup import index as index_module
from tinygen.dedup import sorted_runs
from tinygen.dedup.index import NearDupIndex
from tinygen.dedup.minhash import NearDupConfig, estimated_jaccard, signatures

WORDS = [f"w{i}" for i in range(2000)]
FRAME = (
    "Once upon a time there was a {a} {b} named {c}. Every day {c} liked to {d} near the {e}. "
    "One day {c} found a {f} {g} under a {h} and said: look at this {g}, it is so {a}! "
    "{i} came to see the {g} and wanted to {d} with it too. {c} did not want to share. "
    "Then a big {j} came and the {e} became very quiet. {c} and {i} had to {d} together. "
    "They ran to the {h} and looked for a {k}. In the end {c} gave the {g} to {i}. "
    "From that day on {c} and {i} were the best of friends, and the {b} was {f} again. "
    "At night {c} dreamed of a {a} {j} that could {d} all the way to the {e} and back. "
    "The next morning {i} brought a {k} and they played with the {g} until the sun went down."
)
SLOTS = "abcdefghijk"


def story(rng: random.Random, **fixed: str) -> str:
    fill = {s: " ".join(rng.choice(WORDS) for _ in range(2)) for s in SLOTS} | fixed
    return FRAME.format(**fill)


def edit(rng: random.Random, text: str, edits: int) -> str:
    words = text.split()
    for _ in range(edits):
        words[rng.randrange(len(words))] = rng.choice(WORDS)
    return " ".join(words)


def test_near_copies_with_few_word_edits_are_found() -> None:
    rng, index = random.Random(1), NearDupIndex()
    originals = [story(rng) for _ in range(50)]
    for n, text in enumerate(originals):
        assert index.check_and_add(f"o{n}", text) is None
    found = 0
    for n, text in enumerate(originals):
        match = index.check_and_add(f"c{n}", edit(rng, text, 1 + n % 3))
        found += match is not None and match[0] == f"o{n}" and match[1] >= 0.8
    assert found >= 48
    assert len(index) == 50 + (50 - found)


def test_unrelated_and_sibling_texts_are_not_matched() -> None:
    rng, index = random.Random(2), NearDupIndex()
    base = {s: f"base{s}" for s in SLOTS}
    assert index.check_and_add("base", story(rng, **base)) is None
    for n in range(30):
        keep = {s: base[s] for s in "abc"}  # siblings: same frame, most slots redrawn
        assert index.check_and_add(f"sib{n}", story(rng, **keep)) is None
    for n in range(30):
        assert index.check_and_add(f"other{n}", " ".join(rng.sample(WORDS, 150))) is None
    assert len(index) == 61


def test_save_load_round_trip_and_drop(tmp_path) -> None:
    rng, index = random.Random(4), NearDupIndex()
    texts = {f"k{n}": story(rng) for n in range(20)}
    for key, text in texts.items():
        index.check_and_add(key, text)
    index.save(tmp_path / "sigs.bin")
    loaded = NearDupIndex.load(tmp_path / "sigs.bin", NearDupConfig())
    assert loaded.keys() == index.keys()
    copy = edit(rng, texts["k7"], 1)
    assert loaded.query(loaded.signature(copy))[0] == "k7"
    assert loaded.drop(["k7", "missing"]) == 1
    assert loaded.query(loaded.signature(copy)) is None
    assert "k7" not in loaded and len(loaded) == 19


# --- the compact index against the former one -------------------------------------------


class DictIndex:
    """The former index, as a reference: one dict of buckets (band key -> slots); of
    equally good candidates the earliest indexed one is returned."""

    def __init__(self, index: NearDupIndex) -> None:
        self.index, self.buckets, self.slots = index, {}, {}
        self.entries: list[tuple[str | int, np.ndarray] | None] = []

    def bands(self, sig: np.ndarray) -> list[int]:
        return self.index.band_keys(sig[None, :])[0].tolist()

    def add(self, key: str | int, sig: np.ndarray) -> None:
        if key in self.slots:
            self.drop(key)
        self.slots[key] = len(self.entries)
        for band in self.bands(sig):
            self.buckets.setdefault(band, []).append(len(self.entries))
        self.entries.append((key, sig))

    def drop(self, key: str | int) -> None:
        slot = self.slots.pop(key)
        for band in self.bands(self.entries[slot][1]):
            self.buckets[band].remove(slot)
            if not self.buckets[band]:
                del self.buckets[band]
        self.entries[slot] = None

    def query(self, sig: np.ndarray) -> tuple[str | int, float] | None:
        found: set[int] = set()
        for band in self.buckets.keys() & self.bands(sig):
            found.update(self.buckets[band])
        best = None
        for slot in sorted(found):
            key, other = self.entries[slot]
            score = estimated_jaccard(other, sig)
            if score >= self.index.config.threshold and (best is None or score > best[1]):
                best = (key, score)
        return best

    def keys(self) -> list[str | int]:
        return [entry[0] for entry in self.entries if entry is not None]


def related_signatures(rng: np.random.Generator, n: int, num_perm: int) -> np.ndarray:
    """Random signatures, two thirds of them copies of earlier ones with 0-30 values changed
    (many exact copies, so that equally good candidates are common)."""
    sigs = rng.integers(0, 2**16, (n, num_perm), dtype=np.uint16)
    for i in range(1, n):
        if i % 3:
            sigs[i] = sigs[rng.integers(0, i)]
            changed = rng.choice(num_perm, rng.choice([0, 0, 2, 10, 30]), replace=False)
            sigs[i, changed] = rng.integers(0, 2**16, len(changed))
    return sigs


@pytest.mark.parametrize("prefix_bits", [32, 4])
def test_matches_equal_the_former_index_across_merges_drops_and_ties(
    monkeypatch, prefix_bits: int
) -> None:
    monkeypatch.setattr(index_module, "FLUSH_MIN", 16)  # many merges of small sorted runs
    monkeypatch.setattr(index_module, "FLUSH_CAP", 48)
    mask = ((1 << prefix_bits) - 1) << (64 - prefix_bits)  # 4 bits: prefixes collide a lot
    monkeypatch.setattr(sorted_runs, "_HI", np.uint64(mask))  # the one home of the layout
    monkeypatch.setattr(sorted_runs, "_HI_INT", mask)
    rng, config = np.random.default_rng(prefix_bits), NearDupConfig(threshold=0.7)
    index = NearDupIndex(config)
    reference = DictIndex(index)
    sigs = related_signatures(rng, 600, config.num_perm)
    for begin in range(0, len(sigs), 40):
        batch = sigs[begin : begin + 40]
        all_bands = index.band_keys(batch).tolist()  # also looks the batch up in advance
        for offset, (sig, bands) in enumerate(zip(batch, all_bands, strict=True)):
            expected = reference.query(sig)
            assert index.query(sig, bands) == expected
            prefetched, index._table.prefetched = index._table.prefetched, {}
            assert index.query(sig) == expected  # looked up alone
            index._table.prefetched = prefetched
            n = begin + offset
            key = n if n % 2 else f"k{n}"
            if n % 7 == 0 and n:  # replace an earlier text
                key = reference.keys()[int(rng.integers(0, len(reference.keys())))]
            index.add(key, sig, bands)
            reference.add(key, sig)
            if n % 11 == 0:
                gone = reference.keys()[int(rng.integers(0, len(reference.keys())))]
                assert index.drop([gone]) == 1
                reference.drop(gone)
    assert index.keys() == reference.keys() and len(index) == len(reference.keys())
    assert all(key in index for key in reference.slots)


def test_int_and_str_keys(tmp_path) -> None:
    rng, index = random.Random(5), NearDupIndex()
    texts = [story(rng) for _ in range(6)]
    for n, text in enumerate(texts):
        assert index.check_and_add(n if n % 2 else str(n), text) is None
    assert index.keys() == ["0", 1, "2", 3, "4", 5]
    assert 1 in index and "1" not in index and "0" in index and 0 not in index
    assert index.query(index.signature(edit(rng, texts[3], 1)))[0] == 3
    with pytest.raises(TypeError, match="str or int"):
        index.add(("tuple",), index.signature(texts[0]))
    only_ints = NearDupIndex()
    only_ints.check_and_add_many(list(range(6)), signatures(texts, only_ints.config))
    only_ints.save(tmp_path / "sigs.bin")
    loaded = NearDupIndex.load(tmp_path / "sigs.bin", int_keys=True)
    assert loaded.keys() == list(range(6))
    assert loaded.drop([3]) == 1 and loaded.query(loaded.signature(texts[3])) is None


def test_index_memory_per_text_is_compact() -> None:
    index, rng = NearDupIndex(), np.random.default_rng(6)
    sigs = rng.integers(0, 2**16, (8192, index.config.num_perm), dtype=np.uint16)
    tracemalloc.start()
    start = tracemalloc.get_traced_memory()[0]
    for begin in range(0, len(sigs), 1024):
        batch = sigs[begin : begin + 1024]
        for n, bands in enumerate(index.band_keys(batch).tolist(), begin):
            index.add(n, sigs[n], bands)
    index.compact()
    used = tracemalloc.get_traced_memory()[0] - start
    tracemalloc.stop()
    assert len(index) == len(sigs)
    assert used / len(sigs) < 640  # 384 signature + 192 bands + 8 key lookup + key
