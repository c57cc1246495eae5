"""Every name in a run directory, in one place, and the one atomic write.

    data/part-00000.jsonl ...   accepted records, rotated every `shard_size` lines
    rejected.jsonl              answers a check refused (duplicates included), with reason
    failed.jsonl                items whose calls failed for good, with error kinds
    manifest.json               what the run is and how far it got (rewritten atomically)
    run.log                     one timestamped line per event of each session
    README.md                   the dataset card (carries CARD_MARK, so tinygen knows it)
    .tinygen/neardup.sig        MinHash signatures of accepted records
    .tinygen/batches.jsonl      batches a `--batch` run made: before and after each create
    plots/*.png                 `tinygen stats --plots`
    .lock                       held while a process writes the directory

`tinygen dedup` writes the same `data/` shards, plus dedup_report.jsonl and
dedup_summary.json. `--overwrite` removes exactly what `own_files` lists.
"""

from __future__ import annotations

import os
import re
from pathlib import Path

DATA_DIR = "data"
SHARD_GLOB = "part-*.jsonl"
SHARD_NAME = re.compile(r"part-(\d{5,})\.jsonl")
REJECTED = "rejected.jsonl"
FAILED = "failed.jsonl"
# what each record file holds: the kind of outcome its records are (shards: accepted)
ACCEPTED_KIND, REJECTED_KIND, FAILED_KIND = "accepted", "rejected", "failed"
MANIFEST = "manifest.json"
RUN_LOG = "run.log"
CARD = "README.md"
CARD_MARK = "<!-- tinygen dataset card: rewritten at the end of every run of this directory -->"
STATE_DIR = ".tinygen"
SIGNATURES = "neardup.sig"
BATCHES = "batches.jsonl"
PLOTS_DIR = "plots"
LENGTH_PNG = "length_histogram.png"
COVERAGE_PNG = "coverage_curve.png"
OPENINGS_PNG = "openings.png"
PLOT_FILES = (LENGTH_PNG, COVERAGE_PNG, OPENINGS_PNG)
LOCK = ".lock"
DEDUP_REPORT = "dedup_report.jsonl"
DEDUP_SUMMARY = "dedup_summary.json"
TEMPORARY = ".tmp"  # suffix of a file being written by `atomic_write`


def shard_name(number: int) -> str:
    """File name of shard `number` (zero-padded so names sort in order)."""
    return f"part-{number:05d}.jsonl"


def shard_number(path: Path) -> int | None:
    """The number of a shard file name, or None if it is not one."""
    match = SHARD_NAME.fullmatch(path.name)
    return int(match[1]) if match else None


def shard_paths(run_dir: Path) -> list[Path]:
    """Every `data/part-*.jsonl` of a run directory, in order (none if there is no data/)."""
    return sorted(path for path in (Path(run_dir) / DATA_DIR).glob(SHARD_GLOB) if path.is_file())


def temporary(path: Path) -> Path:
    """Where `atomic_write` writes `path` before moving it into place."""
    return path.with_name(path.name + TEMPORARY)


def atomic_write(path: Path, data: str | bytes) -> None:
    """Replace `path` whole: readers see the old file or the new one, never a part, even
    after a crash (written to a temporary file, flushed to disk, then renamed)."""
    staging = temporary(path)
    with staging.open("wb") as handle:
        handle.write(data.encode("utf-8") if isinstance(data, str) else data)
        handle.flush()
        os.fsync(handle.fileno())
    os.replace(staging, path)


def own_files(run_dir: Path) -> list[Path]:
    """The files tinygen's layout names in a run directory, that exist (the card not
    included: only its mark says whether tinygen wrote it)."""
    names = [MANIFEST, REJECTED, FAILED, RUN_LOG, CARD + TEMPORARY, MANIFEST + TEMPORARY]
    names += [f"{STATE_DIR}/{SIGNATURES}", f"{STATE_DIR}/{SIGNATURES}{TEMPORARY}"]
    names += [f"{STATE_DIR}/{BATCHES}"]
    names += [f"{PLOTS_DIR}/{name}" for name in PLOT_FILES]
    paths = [run_dir / name for name in names]
    paths += [path for path in shard_paths(run_dir) if shard_number(path) is not None]
    return [path for path in paths if path.is_file() and not path.is_symlink()]


def is_own_card(path: Path) -> bool:
    """`path` is a card tinygen wrote (it carries CARD_MARK)."""
    if not path.is_file() or path.is_symlink():
        return False
    with path.open("rb") as handle:
        return CARD_MARK.encode() in handle.read(4 << 20)
