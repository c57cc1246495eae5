"""Benchmark exact + near-duplicate removal on a synthetic story corpus with known answers.

The corpus (seeded, so every run builds the same one) has `--docs` stories of about 150
words, each made of 14 sentence frames with slot words (names, nouns, adjectives, verbs):
  base      stories with their own random frame sequence and slot words
  exact     copies of a base story (sometimes with other case or spacing)
  near      copies with 1-5 word edits (substitute, insert, delete)
  sibling   hard negatives: a base story's frames with 1-6 of its slot variables redrawn
Every planted pair (copy-source, sibling-base, sibling-sibling) gets its true Jaccard over
the same shingles the index uses, as does every pair the dedup reports.

Reported: docs/s of `tinygen.dedup.files.dedup_files` over the corpus as JSONL (a child process:
read, exact + near dedup, write shards and report) in one process and with `--helpers`
helper processes (default: one per core; runs alternate), the ratio of the two and whether
their outputs are byte for byte the same, its peak RSS, and the same for the in-memory
core; recall of planted pairs with true J >= threshold; precision of reported merges on
planted copies and on siblings; bytes per indexed text of the index holding
the whole corpus. `--sweep` compares shingle sizes and LSH shapes
(with and without verifying candidates); `--compare` times rensa against datasketch.

    python bench/dedup.py [--docs 100000] [--repeat 3] [--helpers N] [--sweep] [--compare]
"""

from __future__ import annotations

import argparse
import itertools
import json
import os
import random
import resource
import statistics
import subprocess
import sys
import tempfile
import time
import tracemalloc
from dataclasses import dataclass, field, replace
from pathlib import Path

import numpy as np

from tinygen.dedup.files import dedup_files
from tinygen.dedup.index import NearDupIndex
from tinygen.dedup.minhash import BATCH, NearDupConfig, shingle_sets, signatures_normalized
from tinygen.rundir.layout import DEDUP_REPORT as REPORT
from tinygen.text.canonical import normalize_text, normalized_key
from tinygen.text.cores import available_cores, fork_is_safe

VOCAB = Path(__file__).resolve().parent.parent / "wordlists" / "vocab"
NAMES = ["Lily", "Tom", "Mia", "Ben", "Sara", "Max", "Zoe", "Sam"]
NAMES += ["Anna", "Leo", "Ella", "Jack", "Lucy", "Tim", "Amy", "Finn"]
FRAMES = [
    "Once upon a time, there was a {adj1} {noun1} named {hero}.",
    "{hero} lived in a {adj2} {place} with a {noun2}.",
    "Every day, {hero} liked to {verb1} near the {place}.",
    "One day, {hero} found a {adj3} {obj1} under a {noun3}.",
    '{hero} said, "Look at this {obj1}! It is so {adj1}!"',
    "{friend} came to see the {obj1} and wanted to {verb2} it.",
    '"Can I {verb2} your {obj1}?" asked {friend}.',
    "{hero} did not want to share the {obj1} with {friend}.",
    "{friend} felt {adj4} and sat down by the {noun2}.",
    "Then a big {noun4} came and tried to {verb3} the {obj2}.",
    "The {noun4} was very {adj5} and the {place} became quiet.",
    "{hero} and {friend} had to {verb1} together to save the {obj2}.",
    "They ran to the {noun3} and looked for a {obj3}.",
    'Mom said, "You must always {verb3} when you see a {noun4}."',
    "{hero} learned that it is good to {verb2} with friends.",
    "In the end, {hero} gave the {obj1} to {friend} and they both smiled.",
    "The sun was {adj2} and the sky was full of {noun1} shapes.",
    "Later, they ate a {adj3} {obj3} and drank warm milk.",
    "At night, {hero} dreamed of a {adj5} {noun2} that could {verb3}.",
    "The next morning, {friend} brought a {obj2} to the {place}.",
    "{hero} laughed and tried to {verb1} the {obj3} high in the air.",
    "But the {obj3} fell into the {adj4} water near the {noun3}.",
    "A kind {noun1} helped them get it back from the {place}.",
    "{friend} said thank you and gave the {noun1} a {adj1} hug.",
    "From that day on, {hero} and {friend} were the best of friends.",
    "It was a {adj4} day, so {hero} put on a {adj3} hat.",
    "The little {noun2} wanted to {verb2} but it was too {adj5}.",
    "{hero} looked at the {obj2} and felt very {adj2} inside.",
    '"Let us {verb1} again tomorrow," said {friend} with a smile.',
    "Suddenly, a loud noise came from the {noun4} behind the {place}.",
    "They were scared, but {hero} was brave and went to {verb3}.",
    "It was only a {adj1} {obj2} that wanted to play.",
    "The {obj1} started to shine and the {place} looked {adj3}.",
    '{friend} clapped and said, "This is the best {obj3} ever!"',
    "After that, they went home and told Dad about the {noun3}.",
    "Dad smiled and said they could {verb2} the {obj1} again soon.",
]
SLOTS = {
    "hero": "names",
    "friend": "names",
    **{f"adj{i}": "adjectives" for i in range(1, 6)},
    **{f"noun{i}": "nouns" for i in range(1, 5)},
    **{f"obj{i}": "nouns" for i in range(1, 4)},
    "place": "nouns",
    **{f"verb{i}": "verbs" for i in range(1, 4)},
}


# --- the corpus ---------------------------------------------------------------------------


@dataclass
class Corpus:
    """Texts in stream order, what each one is, and the planted pairs (doc, doc, kind)."""

    texts: list[str] = field(default_factory=list)
    kinds: list[str] = field(default_factory=list)
    group: list[int] = field(default_factory=list)
    pairs: list[tuple[int, int, str]] = field(default_factory=list)


def _lists() -> dict[str, list[str]]:
    def read(name: str) -> list[str]:
        lines = (VOCAB / f"{name}.txt").read_text(encoding="utf-8").splitlines()
        return [w for w in lines if w and not w.startswith("#")]

    return {"names": NAMES, "nouns": read("nouns"), "adjectives": read("adjectives"),
            "verbs": read("verbs")}  # fmt: skip


def _story(rng: random.Random, lists: dict[str, list[str]]) -> tuple[list[int], dict]:
    frames = rng.sample(range(len(FRAMES)), 14)
    return frames, {slot: rng.choice(lists[kind]) for slot, kind in SLOTS.items()}


def _render(frames: list[int], fill: dict) -> str:
    return " ".join(FRAMES[i].format(**fill) for i in frames)


def _edit(rng: random.Random, text: str, edits: int, words: list[str]) -> str:
    """`edits` random word substitutions, insertions or deletions."""
    tokens = text.split()
    for _ in range(edits):
        op, at = rng.choice("sid"), rng.randrange(len(tokens))
        if op == "s":
            tokens[at] = rng.choice(words)
        elif op == "i":
            tokens.insert(at, rng.choice(words))
        else:
            del tokens[at]
    return " ".join(tokens)


def _respell(rng: random.Random, text: str) -> str:
    """The same normalized text: other case or spacing."""
    return rng.choice([text.upper(), text.replace(" ", "  "), f"  {text}\n", text])


def build_corpus(docs: int, seed: int = 0) -> Corpus:
    """Base stories plus planted exact copies, near copies and siblings, shuffled."""
    rng, lists = random.Random(seed), _lists()
    n_exact, n_near, n_sib = docs // 20, docs // 10, docs // 10
    n_base = docs - n_exact - n_near - n_sib
    stories = [_story(rng, lists) for _ in range(n_base)]
    items = [(_render(*s), "base", b, None) for b, s in enumerate(stories)]
    for _ in range(n_exact):
        b = rng.randrange(n_base)
        items.append((_respell(rng, items[b][0]), "exact", b, b))
    for _ in range(n_near):
        b = rng.randrange(n_base)
        items.append((_edit(rng, items[b][0], rng.randint(1, 5), lists["nouns"]), "near", b, b))
    for b in rng.sample(range(n_base), n_sib // 4):
        frames, fill = stories[b]
        for _ in range(4):
            redraw = rng.sample(sorted(SLOTS), rng.randint(1, 6))
            new = {**fill, **{s: rng.choice(lists[SLOTS[s]]) for s in redraw}}
            items.append((_render(frames, new), "sibling", b, None))
    return _shuffle(rng, items)


def _shuffle(rng: random.Random, items: list) -> Corpus:
    order = list(range(len(items)))
    rng.shuffle(order)
    position = {old: new for new, old in enumerate(order)}
    corpus = Corpus()
    members: dict[int, list[int]] = {}
    for old in order:
        text, kind, base, source = items[old]
        corpus.texts.append(text)
        corpus.kinds.append(kind)
        corpus.group.append(base)
        if source is not None:
            corpus.pairs.append((position[old], position[source], kind))
        members.setdefault(base, []).append(position[old])
    for docs in members.values():
        sibs = [d for d in docs if corpus.kinds[d] in ("base", "sibling")]
        if len(sibs) > 1:
            corpus.pairs += [(a, b, "sibling") for i, a in enumerate(sibs) for b in sibs[i + 1 :]]
    return corpus


# --- truth --------------------------------------------------------------------------------


class TrueJaccard:
    """Exact Jaccard of two documents over the index's shingles."""

    def __init__(self, texts: list[str], shingle: int) -> None:
        flats, offsets, base = [], [np.zeros(1, dtype=np.int64)], 0
        for begin in range(0, len(texts), 1024):  # in batches, as the index does
            normalized = [normalize_text(t) for t in texts[begin : begin + 1024]]
            flat, rows = shingle_sets(normalized, shingle)
            flats.append(flat)
            offsets.append(rows[1:].astype(np.int64) + base)
            base += len(flat)
        self.flat, self.offsets = np.concatenate(flats), np.concatenate(offsets)
        self._sets: dict[int, np.ndarray] = {}

    def _set(self, doc: int) -> np.ndarray:
        if doc not in self._sets:
            start, end = self.offsets[doc], self.offsets[doc + 1]
            self._sets[doc] = np.unique(self.flat[start:end])
        return self._sets[doc]

    def __call__(self, a: int, b: int) -> float:
        sa, sb = self._set(a), self._set(b)
        common = len(np.intersect1d(sa, sb, assume_unique=True))
        return common / (len(sa) + len(sb) - common)


# --- the in-memory core -------------------------------------------------------------------


@dataclass
class Outcome:
    """Cluster of every doc (the kept doc it joined), the merges, and the time taken."""

    cluster: list[int]
    merges: list[tuple[int, int, float]]
    cpu: float
    wall: float
    candidates: int = 0


def core_dedup(texts: list[str], config: NearDupConfig, batch: int = 1024) -> Outcome:
    """Exact then near dedup of `texts` in order, as `dedup_files` does, without I/O."""
    cpu, wall = time.process_time(), time.perf_counter()
    index, seen = NearDupIndex(config), {}
    cluster, merges = list(range(len(texts))), []
    for begin in range(0, len(texts), batch):
        normalized = [normalize_text(t) for t in texts[begin : begin + batch]]
        keys = [normalized_key(n) for n in normalized]
        fresh = [i for i, key in enumerate(keys) if key not in seen]
        sigs = signatures_normalized([normalized[i] for i in fresh], config)
        bands = index.band_keys(sigs).tolist()
        row = {i: n for n, i in enumerate(fresh)}
        for i, key in enumerate(keys):
            doc = begin + i
            if key in seen:
                cluster[doc] = seen[key][0]
                merges.append((doc, *seen[key]))
                continue
            match = index.query(sigs[row[i]], bands[row[i]])
            if match is None:
                index.add(str(doc), sigs[row[i]], bands[row[i]])
                seen[key] = (doc, 1.0)
            else:
                seen[key] = (int(match[0]), match[1])
                cluster[doc] = int(match[0])
                merges.append((doc, *seen[key]))
    return Outcome(cluster, merges, time.process_time() - cpu, time.perf_counter() - wall)


# --- scoring ------------------------------------------------------------------------------


def _merge_kind(corpus: Corpus, a: int, b: int) -> str:
    if corpus.group[a] != corpus.group[b]:
        return "unrelated"
    copies = {"exact", "near"}
    return "copies" if {corpus.kinds[a], corpus.kinds[b]} & copies else "siblings"


def score(corpus: Corpus, outcome: Outcome, truth: TrueJaccard, threshold: float) -> dict:
    """Recall and precision against true Jaccard.

    A planted pair with true J >= threshold counts as found when the output does not keep
    both (one of them was removed). A merge (removed doc, the kept doc it was matched to)
    is correct when their true J >= threshold; merges are split by what the two are.
    """
    found: dict[str, list[int]] = {}
    for a, b, kind in corpus.pairs:
        if truth(a, b) >= threshold:
            hit = outcome.cluster[a] != a or outcome.cluster[b] != b
            for name in (kind, "all"):
                found.setdefault(name, [0, 0])[0] += hit
                found[name][1] += 1
    merged: dict[str, list[int]] = {}
    for doc, kept, _estimate in outcome.merges:
        good = truth(doc, kept) >= threshold
        for name in (_merge_kind(corpus, doc, kept), "all"):
            merged.setdefault(name, [0, 0])[0] += good
            merged[name][1] += 1
    return {
        "recall": {k: (h / n, n) for k, (h, n) in found.items()},
        "precision": {k: (g / n, n) for k, (g, n) in merged.items()},
    }


def sibling_false_rate(corpus: Corpus, outcome: Outcome, truth: TrueJaccard, t: float) -> str:
    """How many sibling pairs below the threshold ended up in one cluster."""
    below = [(a, b) for a, b, kind in corpus.pairs if kind == "sibling" and truth(a, b) < t]
    joined = sum(outcome.cluster[a] == outcome.cluster[b] for a, b in below)
    return f"{joined}/{len(below)}"


# --- end to end (child process) -----------------------------------------------------------


def write_jsonl(corpus: Corpus, path: Path) -> None:
    with path.open("w", encoding="utf-8") as handle:
        for i, text in enumerate(corpus.texts):
            handle.write(json.dumps({"id": f"doc-{i:07d}", "index": i, "text": text}) + "\n")


def child_main(source: str, out: str, config: str, workers: str) -> None:
    """Run `dedup_files` and print its times and this process's peak RSS as JSON."""
    cfg = NearDupConfig(**json.loads(config))
    forked = fork_is_safe()  # helpers are forked (else started fresh)
    cpu, wall = time.process_time(), time.perf_counter()
    report = dedup_files([Path(source)], Path(out), near=cfg, progress=False, workers=int(workers))
    times = {"cpu": time.process_time() - cpu, "wall": time.perf_counter() - wall}
    counts = {"read": report.read, "kept": report.kept, "exact": report.exact, "near": report.near}
    print(json.dumps(times | counts | {"rss_mb": peak_rss_mb(), "forked": forked}))


def peak_rss_mb() -> float:
    """Peak resident memory of this process image (VmHWM; unlike ru_maxrss, not inherited
    from the parent's memory at fork)."""
    for line in Path("/proc/self/status").read_text().splitlines():
        if line.startswith("VmHWM:"):
            return int(line.split()[1]) / 1024
    return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024


def end_to_end(
    source: Path, workdir: Path, config: NearDupConfig, run: int, workers: int = 0
) -> dict:
    out = workdir / f"out-{run}-{workers}"
    params = json.dumps(config.params())
    command = [sys.executable, __file__, "--child", str(source), str(out), params, str(workers)]
    env = {**os.environ, "OPENBLAS_NUM_THREADS": "1"}  # as the command has it
    result = subprocess.run(command, capture_output=True, text=True, check=True, env=env)
    return json.loads(result.stdout) | {"out": out}


def outcome_from_report(out: Path, docs: int) -> Outcome:
    cluster, merges = list(range(docs)), []
    with (out / REPORT).open(encoding="utf-8") as handle:
        for line in handle:
            row = json.loads(line)
            doc, kept = int(row["id"][4:]), int(row["kept"][4:])
            cluster[doc] = kept
            merges.append((doc, kept, row["jaccard"]))
    return Outcome(cluster, merges, 0.0, 0.0)


# --- index memory -------------------------------------------------------------------------


def index_memory(sigs: np.ndarray, config: NearDupConfig, str_keys: bool) -> tuple[float, float]:
    """Bytes per indexed text of an index holding all `sigs` (traced allocations after
    `compact`, and at the peak while adding); keys 42 or "doc-0000042"."""
    index = NearDupIndex(config)
    tracemalloc.start()
    start = tracemalloc.get_traced_memory()[0]
    for begin in range(0, len(sigs), BATCH):
        batch = sigs[begin : begin + BATCH]
        for n, bands in enumerate(index.band_keys(batch).tolist(), begin):
            index.add(f"doc-{n:07d}" if str_keys else n, sigs[n], bands)
    index.compact()
    used, peak = tracemalloc.get_traced_memory()
    tracemalloc.stop()
    return (used - start) / len(sigs), (peak - start) / len(sigs)


def _report_memory(corpus: Corpus, config: NearDupConfig) -> None:
    sigs = signatures_normalized([normalize_text(t) for t in corpus.texts], config)
    rows = []
    for name, str_keys in (("int (42)", False), ('str ("doc-0000042")', True)):
        used, peak = index_memory(sigs, config, str_keys)
        rows.append([name, f"{used:.0f}", f"{peak:.0f}"])
    print(f"\nindex memory, all {len(sigs):,} texts indexed (tracemalloc, bytes per text):")
    print(table(["keys", "after compact()", "peak while adding"], rows))


# --- library comparison -------------------------------------------------------------------


def _timed(fn, *args) -> tuple[float, float, object]:
    cpu, wall = time.process_time(), time.perf_counter()
    result = fn(*args)
    return time.process_time() - cpu, time.perf_counter() - wall, result


def run_rensa(normalized: list[str], config: NearDupConfig) -> int:
    """Signatures + LSH + verification with tinygen's index (rensa sketches)."""
    index = NearDupIndex(config)
    sigs = signatures_normalized(normalized, config)
    index.check_and_add_many([str(i) for i in range(len(normalized))], sigs)
    return len(index)


def run_datasketch(normalized: list[str], config: NearDupConfig) -> int:
    """The same shingles, sketched and indexed with datasketch (verified candidates)."""
    from datasketch import MinHash, MinHashLSH

    flat, offsets = shingle_sets(normalized, config.shingle)
    offsets = offsets.astype(np.int64)
    lsh = MinHashLSH(config.threshold, config.num_perm, params=(config.bands, config.rows))
    kept: dict[int, MinHash] = {}
    for doc in range(len(normalized)):
        sketch = MinHash(config.num_perm, seed=config.seed, hashfunc=int, scheme="affine64")
        sketch.update_batch(flat[offsets[doc] : offsets[doc + 1]])
        if not any(sketch.jaccard(kept[c]) >= config.threshold for c in lsh.query(sketch)):
            lsh.insert(doc, sketch)
            kept[doc] = sketch
    return len(kept)


def run_python_shingles(normalized: list[str], config: NearDupConfig) -> int:
    """Pure-Python word shingles (str joins) sketched by rensa per document, same index."""
    import rensa

    k, index = config.shingle, NearDupIndex(config)
    sigs = np.empty((len(normalized), config.num_perm), dtype=np.uint16)
    for doc, text in enumerate(normalized):
        words = text.split()
        sketch = rensa.RMinHash(config.num_perm, config.seed)
        sketch.update([" ".join(words[i : i + k]) for i in range(len(words) - k + 1)])
        sigs[doc] = np.array(sketch.digest(), dtype=np.uint32) & 0xFFFF
    index.check_and_add_many([str(i) for i in range(len(normalized))], sigs)
    return len(index)


def compare(corpus: Corpus, config: NearDupConfig, docs: int, repeat: int) -> list[list[str]]:
    normalized = [normalize_text(t) for t in corpus.texts[:docs]]
    rows = []
    runs = [("rensa + vectorized shingles", run_rensa, repeat),
            ("datasketch + vectorized shingles", run_datasketch, 1),
            ("rensa + pure-Python str shingles", run_python_shingles, repeat)]  # fmt: skip
    for name, fn, times in runs:
        got = [_timed(fn, normalized, config) for _ in range(times)]
        cpu, wall = [g[0] for g in got], [g[1] for g in got]
        rows.append([name, _range(cpu), _range(wall), f"{docs / max(cpu):,.0f}"])
    return rows


# --- report -------------------------------------------------------------------------------


def _range(values: list[float], fmt: str = "{:.2f}") -> str:
    low, high = min(values), max(values)
    return fmt.format(low) if low == high else f"{fmt.format(low)}-{fmt.format(high)}"


def table(header: list[str], rows: list[list[str]]) -> str:
    widths = [max(len(str(r[i])) for r in [header, *rows]) for i in range(len(header))]
    lines = [" | ".join(str(c).ljust(w) for c, w in zip(r, widths, strict=True)) for r in rows]
    rule = "-+-".join("-" * w for w in widths)
    head = " | ".join(h.ljust(w) for h, w in zip(header, widths, strict=True))
    return "\n".join([head, rule, *lines])


def _pct(pair: tuple[float, int] | None) -> str:
    return "-" if pair is None else f"{100 * pair[0]:.2f}% (n={pair[1]})"


def quality_rows(name: str, scores: dict, false_sib: str) -> list[str]:
    r, p = scores["recall"], scores["precision"]
    return [name, _pct(r.get("all")), _pct(r.get("near")), _pct(r.get("sibling")),
            _pct(p.get("copies")), _pct(p.get("siblings")), _pct(p.get("unrelated")),
            false_sib]  # fmt: skip


QUALITY_HEADER = ["run", "recall J>=t", "recall near", "recall sib", "prec copies",
                  "prec siblings", "prec unrelated", "sib J<t merged"]  # fmt: skip


def sweep(corpus: Corpus, base: NearDupConfig) -> list[list[str]]:
    configs = [
        ("k=3 128p 16x8", replace(base, num_perm=128, bands=16, rows=8)),
        ("k=3 128p 16x8 unverified", replace(base, num_perm=128, bands=16, threshold=1e-9)),
        ("k=3 128p 8x16", replace(base, num_perm=128, bands=8, rows=16)),
        ("k=3 128p 32x4", replace(base, num_perm=128, bands=32, rows=4)),
        ("k=3 192p 24x8", replace(base, num_perm=192, bands=24, rows=8)),
        ("k=3 256p 32x8", replace(base, num_perm=256, bands=32, rows=8)),
        ("k=3 256p 32x8 unverified", replace(base, num_perm=256, bands=32, threshold=1e-9)),
        ("k=2 256p 32x8", replace(base, shingle=2)),
        ("k=5 256p 32x8", replace(base, shingle=5)),
    ]
    truths: dict[int, TrueJaccard] = {}
    rows = []
    for name, cfg in configs:
        truth = truths.setdefault(cfg.shingle, TrueJaccard(corpus.texts, cfg.shingle))
        outcome = core_dedup(corpus.texts, cfg)
        scores = score(corpus, outcome, truth, base.threshold)
        false_sib = sibling_false_rate(corpus, outcome, truth, base.threshold)
        docs_s = f"{len(corpus.texts) / outcome.cpu:,.0f}"
        rows.append([*quality_rows(name, scores, false_sib), docs_s])
    return rows


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--docs", type=int, default=100_000)
    parser.add_argument("--repeat", type=int, default=3)
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument("--sweep", action="store_true", help="compare shingle sizes, LSH shapes")
    parser.add_argument("--compare", action="store_true", help="time rensa against datasketch")
    parser.add_argument("--helpers", type=int, default=available_cores(), help="helper processes")
    parser.add_argument("--child", nargs=4, help=argparse.SUPPRESS)
    args = parser.parse_args()
    if args.child:
        child_main(*args.child)
        return
    config = NearDupConfig()
    started = time.perf_counter()
    corpus = build_corpus(args.docs, args.seed)
    print(f"corpus: {args.docs:,} docs, {len(corpus.pairs):,} planted pairs, "
          f"{sum(len(t.split()) for t in corpus.texts) / args.docs:.0f} words/doc, "
          f"built in {time.perf_counter() - started:.1f}s; config {config.params()}")  # fmt: skip
    truth = TrueJaccard(corpus.texts, config.shingle)
    _report_distribution(corpus, truth)
    _report_speed(corpus, truth, config, args.repeat, args.helpers)
    _report_memory(corpus, config)
    if args.sweep:
        print("\nparameter sweep (in-memory core, docs/s = CPU; verified unless noted):")
        print(table([*QUALITY_HEADER, "docs/s"], sweep(corpus, config)))
    if args.compare:
        print("\nsignatures + LSH (+ verification), same shingles, normalization excluded:")
        rows = compare(corpus, config, args.docs, args.repeat)
        print(table(["library", "cpu s", "wall s", "docs/s (cpu)"], rows))


def _report_distribution(corpus: Corpus, truth: TrueJaccard) -> None:
    bins = [0, 0.5, 0.7, 0.75, 0.8, 0.85, 0.9, 1.0, 1.01]
    rows = []
    for kind in ("exact", "near", "sibling"):
        values = [truth(a, b) for a, b, k in corpus.pairs if k == kind]
        counts, _ = np.histogram(values, bins=bins)
        rows.append([kind, *[str(c) for c in counts]])
    header = ["pairs", *[f"[{lo},{hi})" for lo, hi in itertools.pairwise(bins)]]
    print("true Jaccard of planted pairs:\n" + table(header, rows))


def _report_speed(
    corpus: Corpus, truth: TrueJaccard, config: NearDupConfig, repeat: int, helpers: int
) -> None:
    docs = len(corpus.texts)
    with tempfile.TemporaryDirectory(prefix="dedup-bench-") as tmp:
        source = Path(tmp) / "corpus.jsonl"
        write_jsonl(corpus, source)
        runs: dict[int, list[dict]] = {0: [], helpers: []}
        for i in range(repeat):  # alternating, so a change in the machine's load hits both
            for workers in runs:
                runs[workers].append(end_to_end(source, Path(tmp), config, i, workers))
        ends = outcome_from_report(runs[0][0]["out"], docs)
        counts = {k: runs[0][0][k] for k in ("read", "kept", "exact", "near")}
        same = all(
            _output(run["out"]) == _output(runs[0][0]["out"]) for group in runs.values()
            for run in group
        )  # fmt: skip
    cores = [core_dedup(corpus.texts, config) for _ in range(repeat)]
    rows = [
        [f"dedup_files, {workers} helpers" if workers else "dedup_files, one process",
         _range([docs / r["cpu"] for r in group], "{:,.0f}"),
         _range([docs / r["wall"] for r in group], "{:,.0f}"),
         _range([r["rss_mb"] for r in group], "{:.0f}")]
        for workers, group in runs.items()
    ] + [
        ["core (in memory)", _range([docs / c.cpu for c in cores], "{:,.0f}"),
         _range([docs / c.wall for c in cores], "{:,.0f}"),
         f"({peak_rss_mb():.0f}: whole bench process)"],
    ]  # fmt: skip
    print(f"\nspeed over {docs:,} docs, {repeat} runs each; {counts}")
    print("(with helpers, CPU time and peak RSS are the deciding process's own)")
    print(table(["stage", "docs/s (cpu)", "docs/s (wall)", "peak RSS MB"], rows))
    if helpers:
        best = {w: max(docs / r["wall"] for r in group) for w, group in runs.items()}
        how = "forked" if all(r["forked"] for r in runs[helpers]) else "started fresh"
        paired = statistics.median(
            one["wall"] / many["wall"] for one, many in zip(runs[0], runs[helpers], strict=True)
        )  # each round's own ratio: a change in the machine's load hits both of a round
        print(f"wall docs/s with {helpers} helpers ({how}) / one process: best of each "
              f"{best[helpers] / best[0]:.2f}, median of rounds {paired:.2f}; "
              f"outputs identical: {same}")  # fmt: skip
    scores = score(corpus, ends, truth, config.threshold)
    false_sib = sibling_false_rate(corpus, ends, truth, config.threshold)
    print(f"\nquality (threshold {config.threshold}, dedup_files output):")
    print(table(QUALITY_HEADER, [quality_rows("default", scores, false_sib)]))


def _output(out: Path) -> list[bytes]:
    """The output shards and the report, as bytes."""
    return [path.read_bytes() for path in sorted(out.rglob("*.jsonl"))]


if __name__ == "__main__":
    main()
