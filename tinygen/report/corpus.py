"""Corpus statistics for a run directory: one streaming pass, a JSON-able dict.

`corpus_stats(run_dir)` reads `data/part-*.jsonl` once (plus `rejected.jsonl`,
`failed.jsonl` and `manifest.json`) and returns a plain dict with stable keys
(`STATS_VERSION`): outcomes, tokens and estimated cost, length distribution in words,
word-list coverage, feature counts, diversity (distinct-n, xz compression ratio,
opening-phrase and name concentration) and rejects by reason. `tinygen.report.view`
renders them.

Definitions (all over lowercased word tokens, punctuation dropped):
- distinct-n = distinct n-grams / n-grams (within records, not across record borders).
- compression ratio = xz-compressed bytes / raw UTF-8 bytes of the texts joined by
  newlines (lower = more redundant; 15% duplicated stories lower it visibly).
- opening share = share of records whose first 3 (5) words are the most common 3 (5)
  first words; name share = share of records that use the most common name, where a name
  is a capitalised word that is not sentence-initial and not in a small stoplist.
- coverage of a list: share of its entries required (sampled into `variables`) at least
  once, and share appearing in the texts; single words match in any inflected form
  (lemminflect: "ran" counts for "run"), multi-word entries match as whole phrases.

Scale: everything is exact and streamed except (1) distinct-2/3 on large corpora, which
switch to adaptive hash sampling (keep the n-grams whose hash falls in 1/2^k of the
hash space, estimate distinct = kept x 2^k; bounded memory) and (2) xz, which compresses
at most the first `XZ_MAX_BYTES` of text. Both say so in the output (`sampled`).
"""

from __future__ import annotations

import json
import lzma
import math
import queue
import re
import threading
import time
from array import array
from collections import Counter
from collections.abc import Iterator
from pathlib import Path

from tinygen.checks.words import word_forms
from tinygen.errors import TinygenError
from tinygen.recipe.datafiles import locate_data_file, wordlists_dir
from tinygen.rundir.layout import (
    DATA_DIR,
    DEDUP_SUMMARY,
    FAILED,
    MANIFEST,
    REJECTED,
    shard_paths,
)
from tinygen.teachers.prices import price_entry
from tinygen.text.tokens import word_tokens

STATS_VERSION = 1
XZ_PRESET = 6
XZ_MAX_BYTES = 32 * 1024 * 1024
NGRAM_MAX_KEPT = 1_000_000  # per n: above this, halve the hash-sampling rate
HIST_BINS = 20
CURVE_POINTS = 40
TOP_K = 10

# Capitalised words that are not character names (compared lowercased).
_STOP_WORDS = """i i'm i'll i've i'd mom mum mommy mummy mama dad daddy papa grandma grandpa granny
    grandad nana mr mrs ms miss dr sir madam mister god ok okay oh hi hello yes no wow
    please thank thanks sorry goodbye bye the a an and but so then one once he she they it
    we you my his her their our your its this that there here when after before while
    what who why how where if as at in on of to for with from by up down out all every
    some look let let's come go good great dear little big baby mister
    monday tuesday wednesday thursday friday saturday sunday january february march april
    may june july august september october november december christmas halloween easter
    english tv"""
NAME_STOPLIST = frozenset(_STOP_WORDS.split())

_CAPITAL = re.compile(r"(?<![\w'])[A-ZÀ-ÖØ-Þ][^\W_]*(?:'[^\W_]+)*")
_SENTENCE_END = frozenset(".!?…:;\n\r#*>-—–•")
_OPEN_QUOTE = frozenset("\"“‘'«(")
_CLOSE_QUOTE = frozenset("\"”’'»)")


# ---------------------------------------------------------------- tokens


def names_in(text: str) -> set[str]:
    """Capitalised words of `text` that are neither sentence-initial nor stoplisted."""
    found = set()
    for match in _CAPITAL.finditer(text.replace("’", "'")):
        word = match.group()
        if word.lower() not in NAME_STOPLIST and not _sentence_initial(text, match.start()):
            found.add(word)
    return found


def _sentence_initial(text: str, start: int) -> bool:
    """Does the word at `start` begin a sentence, a line, or a quotation?"""
    i = start - 1
    if i >= 0 and text[i] in _OPEN_QUOTE:
        return True
    while i >= 0 and text[i] in " \t":
        i -= 1
    if i < 0 or text[i] in _SENTENCE_END:
        return True
    return text[i] in _CLOSE_QUOTE and i > 0 and text[i - 1] in _SENTENCE_END


# ---------------------------------------------------------------- reading


def _iter_jsonl(path: Path, problems: Counter[str]) -> Iterator[dict]:
    """Records of one JSONL file; read-only: torn or invalid lines are counted, skipped."""
    if not path.exists():
        return
    with path.open("rb") as handle:
        for line in handle:
            if not line.endswith(b"\n"):
                problems["torn_last_line"] += 1
                return
            try:
                yield json.loads(line)
            except (json.JSONDecodeError, UnicodeDecodeError):
                problems["invalid_lines"] += 1


def _shards(run_dir: Path) -> list[Path]:
    return shard_paths(run_dir)


def _read_manifest(run_dir: Path) -> dict:
    return _read_json(run_dir / MANIFEST)


# ---------------------------------------------------------------- word lists


Hit = tuple[str, str]  # (list name, entry)


class TextIndex:
    """All word lists of a recipe, indexed to find their entries in tokenised text at once.

    Single-word entries are found through their inflected forms (one set intersection per
    text for all lists); multi-word entries through their longest word, then as phrases.
    """

    def __init__(self, lists: dict[str, list[str]]) -> None:
        self.lists = lists
        self.forms: dict[str, list[Hit]] = {}
        self.phrases: dict[str, list[tuple[Hit, str]]] = {}
        self.entry_forms: dict[Hit, frozenset[str] | str] = {}
        for name, entries in lists.items():
            for entry in entries:
                self._add(name, entry)

    def _add(self, name: str, entry: str) -> None:
        tokens = word_tokens(entry)
        if len(tokens) == 1:
            forms = word_forms(tokens[0])
            self.entry_forms[name, entry] = forms
            for form in forms:
                self.forms.setdefault(form, []).append((name, entry))
        elif tokens:
            phrase = " ".join(tokens)
            self.entry_forms[name, entry] = phrase
            self.phrases.setdefault(max(tokens, key=len), []).append(((name, entry), phrase))

    def multiword(self, name: str) -> int:
        return sum(isinstance(self.entry_forms.get((name, e)), str) for e in self.lists[name])

    def found(self, tokens: set[str], padded: str) -> Iterator[Hit]:
        """(list, entry) pairs present in a text (its token set and ` joined words `)."""
        for form in tokens & self.forms.keys():
            yield from self.forms[form]
        for key in tokens & self.phrases.keys():
            yield from (hit for hit, phrase in self.phrases[key] if f" {phrase} " in padded)

    def contains(self, name: str, entry: str, tokens: set[str], padded: str) -> bool:
        """Does the text contain `entry` of list `name` (in any simple form)?"""
        forms = self.entry_forms.get((name, entry))
        if forms is None:
            norm = word_tokens(entry)
            forms = " ".join(norm) if len(norm) != 1 else word_forms(norm[0])
        if isinstance(forms, str):
            return f" {forms} " in padded
        return not forms.isdisjoint(tokens)


def load_lists(manifest: dict) -> tuple[dict[str, list[str]], dict[str, str]]:
    """The recipe's lists from the manifest (inline items or files), and lists not found."""
    recipe = manifest.get("recipe", {})
    specs = recipe.get("resolved", {}).get("lists", {}) or {}
    source = Path(recipe.get("source") or ".")
    lists, missing = {}, {}
    for name, spec in specs.items():
        if spec.get("items") is not None:
            raw = list(spec["items"])
        else:
            path = locate_data_file(spec.get("file") or "", source, wordlists_dir())
            if path is None:
                missing[name] = f"list file {spec.get('file')!r} not found"
                continue
            raw = path.read_text(encoding="utf-8").splitlines()
        lists[name] = list(dict.fromkeys(e.strip() for e in raw if e.strip()))
    return lists, missing


# ---------------------------------------------------------------- accumulators


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
            "required": {n: _share(len(s), self.size[n]) for n, s in self.required.items()},
            "in_text": {n: _share(len(s), self.size[n]) for n, s in self.in_text.items()},
        }

    def result(self, missing: dict[str, str]) -> tuple[dict, list[dict]]:
        out: dict[str, dict] = {}
        for name, size in self.size.items():
            out[name] = {
                "entries": size,
                "multiword_entries": self.index.multiword(name),
                "required": len(self.required[name]),
                "required_share": _share(len(self.required[name]), size),
                "in_text": len(self.in_text[name]),
                "in_text_share": _share(len(self.in_text[name]), size),
                "followed_share": _ratio(self.followed[name], self.asked[name]),
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
            out[f"distinct_{n}"] = _ratio(min(distinct[n], self.total[n]), self.total[n])
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
            self._send()

    def _send(self) -> None:
        self._queue.put(b"".join(self._chunk))
        self._chunk, self._chunk_bytes = [], 0

    def result(self) -> dict:
        self._send()
        self._queue.put(None)
        self._worker.join()
        return {
            "method": f"xz preset {XZ_PRESET}",
            "raw_bytes": self.raw,
            "compressed_bytes": self.compressed,
            "ratio": _ratio(self.compressed, self.raw),
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
            counter[" ".join(words[:n])] += 1
        self.names.update(names)

    def result(self) -> dict:
        return {
            "opening_3": self._top(self.openings[3]),
            "opening_5": self._top(self.openings[5]),
            "name": self._top(self.names),
        }

    def _top(self, counter: Counter[str]) -> dict:
        top = [
            {"text": text, "records": count, "share": _share(count, self.records)}
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


def _share(part: float, whole: float) -> float:
    return round(part / whole, 4) if whole else 0.0


def _ratio(part: float, whole: float) -> float | None:
    return round(part / whole, 4) if whole else None


# ---------------------------------------------------------------- outcomes and cost


class Outcomes:
    """Tokens and finish reasons of accepted records; rejects and failures by kind."""

    def __init__(self) -> None:
        self.tokens = Counter[str]()
        self.finish = Counter[str]()
        self.features = Counter[str]()
        self.features_per_record = Counter[int]()
        self.rejected = Counter[str]()
        self.failed = Counter[str]()
        self.no_usage = 0

    def add_usage(self, record: dict, prefix: str) -> None:
        usage = record.get("usage") or {}
        if usage.get("completion_tokens") is None:
            self.no_usage += prefix == "accepted"
        self.tokens[f"{prefix}_prompt"] += usage.get("prompt_tokens") or 0
        self.tokens[f"{prefix}_completion"] += usage.get("completion_tokens") or 0

    def add_accepted(self, record: dict) -> None:
        self.add_usage(record, "accepted")
        self.finish[str(record.get("finish_reason"))] += 1
        features = (record.get("variables") or {}).get("features") or []
        self.features.update(features)
        self.features_per_record[len(features)] += 1


def _read_side_files(run_dir: Path, outcomes: Outcomes, problems: Counter[str]) -> None:
    for record in _iter_jsonl(run_dir / REJECTED, problems):
        outcomes.rejected[str(record.get("reason"))] += 1
        outcomes.add_usage(record, "rejected")
    for record in _iter_jsonl(run_dir / FAILED, problems):
        outcomes.failed[str((record.get("error") or {}).get("kind"))] += 1


def estimate_cost(teacher: dict, prompt_tokens: int, completion_tokens: int) -> dict:
    """Estimated USD of the tokens at list prices, or None with a note why not."""
    model = teacher.get("model")
    found = None if teacher.get("kind") == "local" else price_entry(model)
    if found is None:
        why = "local model: no API cost" if teacher.get("kind") == "local" else "unknown"
        return {"usd": None, "model": model, "price_per_1m": None, "note": why}
    key, (price_in, price_out) = found
    usd = (prompt_tokens * price_in + completion_tokens * price_out) / 1e6
    return {
        "usd": round(usd, 6),
        "model": model,
        "price_per_1m": {"input": price_in, "output": price_out, "as": key},
        "note": "list prices, no batch or cache discounts; includes rejected answers",
    }


def _near_duplicates(run_dir: Path, out: Outcomes, answered: int) -> tuple[float, str]:
    """Near-duplicate rate: from near-duplicate rejects, else from a `tinygen dedup` pass."""
    near = sum(v for k, v in out.rejected.items() if "near" in k)
    if near:
        return _share(near, answered), "rejected"
    summary = _read_json(run_dir / DEDUP_SUMMARY)
    if isinstance(summary.get("near"), int) and summary.get("read"):
        return _share(summary["near"], summary["read"]), DEDUP_SUMMARY
    return 0.0, "rejected (none)"


def _read_json(path: Path) -> dict:
    try:
        value = json.loads(path.read_text(encoding="utf-8"))
    except (OSError, ValueError):
        return {}
    return value if isinstance(value, dict) else {}


def _records_section(run_dir: Path, accepted: int, out: Outcomes, problems: Counter) -> dict:
    answered = accepted + sum(out.rejected.values())
    near_rate, near_source = _near_duplicates(run_dir, out, answered)
    return {
        "accepted": accepted,
        "rejected": sum(out.rejected.values()),
        "failed": sum(out.failed.values()),
        "shards": len(_shards(run_dir)),
        "rejected_by_reason": dict(sorted(out.rejected.items())),
        "failed_by_kind": dict(sorted(out.failed.items())),
        "finish_reasons": dict(sorted(out.finish.items())),
        "duplicate_rate": _share(out.rejected.get("duplicate", 0), answered),
        "near_duplicate_rate": near_rate,
        "near_duplicate_source": near_source,
        "acceptance_rate": _share(accepted, answered + sum(out.failed.values())),
        "file_problems": dict(problems),
    }


def _tokens_section(out: Outcomes, teacher: dict, accepted: int) -> dict:
    t = out.tokens
    prompt = t["accepted_prompt"] + t["rejected_prompt"]
    completion = t["accepted_completion"] + t["rejected_completion"]
    return {
        "prompt": prompt,
        "completion": completion,
        "accepted_prompt": t["accepted_prompt"],
        "accepted_completion": t["accepted_completion"],
        "completion_per_record": _ratio(t["accepted_completion"], accepted),
        "records_without_usage": out.no_usage,
        "cost": estimate_cost(teacher, prompt, completion),
    }


def _features_section(out: Outcomes, accepted: int) -> dict:
    return {
        "counts": dict(out.features.most_common()),
        "shares": {k: _share(v, accepted) for k, v in out.features.most_common()},
        "per_record": {str(k): v for k, v in sorted(out.features_per_record.items())},
    }


# ---------------------------------------------------------------- the pass


def corpus_stats(run_dir: Path, *, sample: int | None = None) -> dict:
    """Statistics of the run in `run_dir`, in one streaming pass (see the module doc).

    With `sample`, the text statistics (lengths, coverage, diversity) use only the first
    `sample` accepted records in shard order; counts, tokens and cost stay exact.
    """
    run_dir = Path(run_dir)
    if not (run_dir / DATA_DIR).is_dir() and not (run_dir / MANIFEST).is_file():
        raise TinygenError(
            f"{run_dir} holds no tinygen run (no {DATA_DIR}/ and no {MANIFEST})",
            "give the --out directory of a `tinygen generate` run",
        )
    started = time.monotonic()
    manifest = _read_manifest(run_dir)
    lists, missing = load_lists(manifest)
    texts = _TextStats(lists)
    outcomes, problems = Outcomes(), Counter[str]()
    accepted = 0
    for shard in _shards(run_dir):
        for record in _iter_jsonl(shard, problems):
            accepted += 1
            outcomes.add_accepted(record)
            if sample is None or texts.records < sample:
                texts.add(record)
    _read_side_files(run_dir, outcomes, problems)
    return _assemble(run_dir, manifest, accepted, outcomes, texts, missing, problems, started)


class _TextStats:
    """Everything computed from the texts themselves."""

    def __init__(self, lists: dict[str, list[str]]) -> None:
        self.records = 0
        self.lengths = Lengths()
        self.coverage = Coverage(lists)
        self.ngrams = Ngrams()
        self.compression = Compression()
        self.concentration = Concentration()

    def add(self, record: dict) -> None:
        text = record.get("text") or ""
        words = word_tokens(text)
        self.records += 1
        self.lengths.add(len(words))
        self.coverage.add(record.get("variables") or {}, set(words), f" {' '.join(words)} ")
        self.ngrams.add(words)
        self.compression.add(text)
        self.concentration.add(words, names_in(text))


def _assemble(
    run_dir: Path,
    manifest: dict,
    accepted: int,
    outcomes: Outcomes,
    texts: _TextStats,
    missing: dict[str, str],
    problems: Counter[str],
    started: float,
) -> dict:
    recipe = manifest.get("recipe", {})
    teacher = manifest.get("teacher", {})
    coverage, curve = texts.coverage.result(missing)
    diversity = texts.ngrams.result() | {"compression": texts.compression.result()}
    diversity |= texts.concentration.result()
    return {
        "stats_version": STATS_VERSION,
        "run_dir": str(run_dir),
        "status": manifest.get("status"),
        "recipe": {
            "name": recipe.get("name"),
            "description": recipe.get("resolved", {}).get("description"),
            "fingerprint": recipe.get("fingerprint"),
            "seed": manifest.get("seed"),
            "sampling": recipe.get("resolved", {}).get("sampling"),
        },
        "teacher": {k: teacher.get(k) for k in ("kind", "model", "host")},
        "tinygen_version": manifest.get("tinygen_version"),
        "records": _records_section(run_dir, accepted, outcomes, problems),
        "tokens": _tokens_section(outcomes, teacher, accepted),
        "length": texts.lengths.result(),
        "coverage": coverage,
        "coverage_curve": curve,
        "features": _features_section(outcomes, accepted),
        "diversity": diversity,
        "analysed_records": texts.records,
        "sampled": _sampling_notes(texts, accepted),
        "elapsed_s": round(time.monotonic() - started, 3),
    }


def _sampling_notes(texts: _TextStats, accepted: int) -> list[str]:
    """Human-readable notes on every figure that is not an exact count over all records."""
    notes = []
    if texts.records < accepted:
        notes.append(f"text statistics use the first {texts.records} of {accepted} records")
    if texts.ngrams.level:
        notes.append(
            f"distinct-2/3 estimated from 1/{1 << texts.ngrams.level} of the n-gram hash space"
        )
    if texts.compression.skipped:
        notes.append(
            f"xz ratio measured on the first {texts.compression.raw // 2**20} MiB of text "
            f"({texts.compression.skipped} records not compressed)"
        )
    return notes
