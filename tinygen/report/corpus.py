"""Corpus statistics for a run directory: one streaming pass, a JSON-able dict.

`corpus_stats(run_dir)` reads `data/part-*.jsonl` once (plus `rejected.jsonl`,
`failed.jsonl` and `manifest.json`) and returns a plain dict with stable keys
(`STATS_VERSION`): outcomes, tokens and cost (as the run recorded it, else estimated:
`tinygen.report.cost`), length distribution in words, word-list coverage, feature counts,
diversity (distinct-n, xz compression ratio, opening-phrase and name concentration) and
rejects by reason. The text measures and their definitions are in
`tinygen.report.measures`; `tinygen.report.view` renders them.
"""

from __future__ import annotations

import json
import time
from collections import Counter
from collections.abc import Iterator
from pathlib import Path

from tinygen.errors import TinygenError
from tinygen.report.cost import run_cost
from tinygen.report.lists import load_lists
from tinygen.report.measures import (
    Compression,
    Concentration,
    Coverage,
    Lengths,
    Ngrams,
    ratio,
    share,
)
from tinygen.report.names import names_in
from tinygen.report.outcomes import Outcomes, RunTally
from tinygen.rundir.layout import (
    DATA_DIR,
    DEDUP_SUMMARY,
    FAILED,
    MANIFEST,
    REJECTED,
    shard_paths,
)
from tinygen.text.tokens import word_tokens

STATS_VERSION = 1


# ---------------------------------------------------------------- reading


def _iter_jsonl(path: Path, problems: Counter[str]) -> Iterator[dict]:
    """Records of one JSONL file; read-only: torn or invalid lines (not JSON, or JSON that
    is not an object) are counted and skipped."""
    if not path.exists():
        return
    with path.open("rb") as handle:
        for line in handle:
            if not line.endswith(b"\n"):
                problems["torn_last_line"] += 1
                return
            try:
                record = json.loads(line)
            except (json.JSONDecodeError, UnicodeDecodeError, RecursionError):
                record = None
            if isinstance(record, dict):
                yield record
            else:
                problems["invalid_lines"] += 1


def _shards(run_dir: Path) -> list[Path]:
    return shard_paths(run_dir)


def _read_manifest(run_dir: Path) -> dict:
    return _read_json(run_dir / MANIFEST)


def _read_side_files(run_dir: Path, outcomes: Outcomes, problems: Counter[str]) -> None:
    for record in _iter_jsonl(run_dir / REJECTED, problems):
        outcomes.add_rejected(record)
    for record in _iter_jsonl(run_dir / FAILED, problems):
        outcomes.add_failed(record)


def _near_duplicates(run_dir: Path, out: Outcomes, answered: int) -> tuple[float, str]:
    """Near-duplicate rate: from near-duplicate rejects, else from a `tinygen dedup` pass."""
    near = sum(v for k, v in out.rejected.items() if "near" in k)
    if near:
        return share(near, answered), "rejected"
    summary = _read_json(run_dir / DEDUP_SUMMARY)
    if isinstance(summary.get("near"), int) and summary.get("read"):
        return share(summary["near"], summary["read"]), DEDUP_SUMMARY
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
        "duplicate_rate": share(out.rejected.get("duplicate", 0), answered),
        "near_duplicate_rate": near_rate,
        "near_duplicate_source": near_source,
        "acceptance_rate": share(accepted, answered + sum(out.failed.values())),
        "file_problems": dict(problems),
    }


def _tokens_section(out: Outcomes, manifest: dict, accepted: int) -> dict:
    t = out.tokens
    prompt = t["accepted_prompt"] + t["rejected_prompt"]
    completion = t["accepted_completion"] + t["rejected_completion"]
    return {
        "prompt": prompt,
        "completion": completion,
        "accepted_prompt": t["accepted_prompt"],
        "accepted_completion": t["accepted_completion"],
        "completion_per_record": ratio(t["accepted_completion"], accepted),
        "records_without_usage": out.no_usage,
        "cost": run_cost(manifest, prompt, completion),
    }


def _features_section(out: Outcomes, accepted: int) -> dict:
    return {
        "counts": dict(out.features.most_common()),
        "shares": {k: share(v, accepted) for k, v in out.features.most_common()},
        "per_record": {str(k): v for k, v in sorted(out.features_per_record.items())},
    }


# ---------------------------------------------------------------- the pass


def corpus_stats(
    run_dir: Path,
    *,
    sample: int | None = None,
    tally: RunTally | None = None,
) -> dict:
    """Statistics of the run in `run_dir`, in one streaming pass (see the module doc).

    With `sample`, the text statistics (lengths, coverage, diversity) use only the first
    `sample` accepted records in shard order; counts, tokens and cost stay exact. A run
    that has just ended gives its `tally` instead (its sample went to a `SampleTexts`):
    what it read and wrote, gathered as it went, so no record file is read again.
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
    if tally is None:
        found = _TextStats(lists)
        accepted, outcomes, problems = _read_records(run_dir, found, sample)
    else:
        assert isinstance(tally.texts, SampleTexts), "a run's sample goes to SampleTexts"
        found = tally.texts.stats(lists)
        accepted, outcomes, problems = tally.accepted, tally.outcomes, Counter[str]()
    return _assemble(run_dir, manifest, accepted, outcomes, found, missing, problems, started)


class SampleTexts:
    """The text figures of a run's first `sample` accepted records, gathered as the run
    reads and writes them (`add`), so its end has only to sum them up. They are set up at
    the first record, not before the run's first request; once the sample is complete,
    its compression starts in its thread."""

    def __init__(self, recipe: dict, sample: int) -> None:
        self._recipe = recipe  # the manifest's `recipe` section: the lists' source
        self.sample = sample
        self._stats: _TextStats | None = None

    def add(self, record: dict) -> None:
        if self._stats is None:
            self._stats = _TextStats(load_lists({"recipe": self._recipe})[0])
        self._stats.add(record)
        if self._stats.records == self.sample:
            self._stats.compression.send()

    def stats(self, lists: dict[str, list[str]]) -> _TextStats:
        """What was gathered (or, if no record came, nothing counted over `lists`)."""
        return self._stats or _TextStats(lists)


def _read_records(
    run_dir: Path, texts: _TextStats, sample: int | None
) -> tuple[int, Outcomes, Counter[str]]:
    """Read every record file of the run: accepted records, their outcomes (and the
    side files'), and the files' problems; the first `sample` texts go to `texts`."""
    outcomes, problems = Outcomes(), Counter[str]()
    accepted = 0
    for shard in _shards(run_dir):
        for record in _iter_jsonl(shard, problems):
            accepted += 1
            outcomes.add_accepted(record)
            if sample is None or texts.records < sample:
                texts.add(record)
    _read_side_files(run_dir, outcomes, problems)
    return accepted, outcomes, problems


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
        "tokens": _tokens_section(outcomes, manifest, accepted),
        "length": texts.lengths.result(),
        "coverage": coverage,
        "coverage_curve": curve,
        "features": _features_section(outcomes, accepted),
        "judge": outcomes.judge.result(),
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
