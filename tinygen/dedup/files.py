"""`tinygen dedup`: exact and near-duplicate removal over existing JSONL files.

Inputs are JSONL files or directories: a tinygen run directory contributes its
`data/part-*.jsonl` shards, any other directory every `*.jsonl` under it (sorted). Records
stream through in order, a batch at a time, so inputs larger than memory work; only the
text keys and MinHash signatures of kept records stay in memory. The first record of a
cluster is kept, its line as it was read, and written to `OUT/data/part-NNNNN.jsonl` in the
layout of a run. A record holding a string UTF-8 cannot encode (a lone surrogate) is never
kept. Every removed record gets one line in `OUT/dedup_report.jsonl` saying why;
`OUT/dedup_summary.json` holds the counts and settings.

`OUT` must be new or empty: it is checked before any input is read, and a pass that fails
removes what it wrote, so a refused or failed run leaves `OUT` as it found it.
"""

from __future__ import annotations

import json
import time
from contextlib import suppress
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np

from tinygen.dedup.index import NearDupIndex
from tinygen.dedup.minhash import NearDupConfig
from tinygen.dedup.output import check_out_dir, make_out_dir, remove_outputs
from tinygen.dedup.prepare import Prepared, Preparer
from tinygen.display.live import LiveStatus, Status
from tinygen.errors import TinygenError, UsageError
from tinygen.rundir.jsonl import JsonlAppender
from tinygen.rundir.layout import (
    DATA_DIR,
    DEDUP_REPORT,
    DEDUP_SUMMARY,
    MANIFEST,
    atomic_write,
    shard_paths,
)
from tinygen.rundir.store import ShardWriter
from tinygen.text.cores import available_cores

AGAINST = "against:"  # what the report's `kept` says of a record of the --against files
HELPERS_FROM = 16 << 20  # input bytes from which helper processes pay for their start


@dataclass
class DedupReport:
    """What a dedup pass read, kept and removed."""

    inputs: list[str] = field(default_factory=list)
    files: int = 0
    read: int = 0
    kept: int = 0
    exact: int = 0
    near: int = 0
    encoding: int = 0
    against: int = 0  # of exact + near: copies of a record of the --against files
    reference: int = 0  # records read from the --against files
    seconds: float = 0.0
    out_dir: str = ""

    @property
    def removed(self) -> int:
        return self.exact + self.near + self.encoding


def input_files(inputs: list[Path]) -> list[Path]:
    """The JSONL files named by `inputs` (run directories give their shards only)."""
    files: list[Path] = []
    for item in inputs:
        if item.is_file():
            files.append(item)
        elif item.is_dir():
            files.extend(_jsonl_under(item))
        else:
            raise UsageError(f"input {item} does not exist", "name JSONL files or directories")
    if not files:
        raise UsageError("the inputs hold no .jsonl files", "name JSONL files or run directories")
    return files


def _is_run_dir(path: Path) -> bool:
    return (path / DATA_DIR).is_dir() or (path / MANIFEST).is_file()


def _jsonl_under(directory: Path) -> list[Path]:
    """A run directory's shards, or every `*.jsonl` below `directory` (sorted), where run
    directories met on the way give their shards only (not rejected/failed records)."""
    if _is_run_dir(directory):
        return shard_paths(directory)
    files: list[Path] = []
    for child in sorted(directory.iterdir()):
        if child.is_dir():
            files.extend(_jsonl_under(child))
        elif child.suffix == ".jsonl":
            files.append(child)
    return files


class _Deduper:
    """The streaming state: text keys seen, the near-dup index, the writers."""

    def __init__(self, out_dir: Path, near: NearDupConfig | None, shard_size: int) -> None:
        self.index = NearDupIndex(near) if near else None
        self.seen: dict[bytes, tuple[str, float]] = {}
        self.taken_refs: set[str] = set()  # kept ids and against: clusters, each once
        self.report = DedupReport(out_dir=str(out_dir))
        # no flush per line: a pass that fails removes its output whole
        self.shards = ShardWriter(out_dir, shard_size, 0, 0, flush_each=False)
        self.removed = JsonlAppender(out_dir / DEDUP_REPORT, flush_each=False)

    def close(self) -> None:
        try:
            self.shards.close()
        finally:
            self.removed.close()

    def refer(self, prepared: Prepared) -> None:
        """Remember records of the --against files (never written): inputs that copy one,
        exactly or nearly, are removed."""
        prepared.raise_error()
        pairs = zip(prepared.refs, prepared.keys, strict=True)
        keyed = [(ref, key) for ref, key in pairs if key is not None]
        bands = self._bands(prepared)
        for n, (ref, key) in enumerate(keyed):
            self.report.reference += 1
            cluster = f"{AGAINST}{ref}"
            self.taken_refs.add(cluster)  # no kept record takes its name
            self.seen.setdefault(key, (cluster, 1.0))
            if prepared.sigs is not None:
                self.index.add(cluster, prepared.sigs[n], bands[n])

    def process(self, prepared: Prepared) -> None:
        """Decide each record of a prepared chunk, in order, and write it out."""
        prepared.raise_error()
        sigs, bands = prepared.sigs, self._bands(prepared)
        row = 0  # of the signatures: one per line that has a key
        for n, (ref, key, problem) in enumerate(
            zip(prepared.refs, prepared.keys, prepared.problems, strict=True)
        ):
            self.report.read += 1
            if key is None:
                self._remove_unencodable(ref, problem)
                continue
            if key in self.seen:
                self._remove(ref, "exact", *self.seen[key])
            elif sigs is None:
                self._keep(ref, key, prepared.line(n), None, None)
            elif (match := self.index.query(sigs[row], bands[row])) is None:
                self._keep(ref, key, prepared.line(n), sigs[row], bands[row])
            else:
                self.seen[key] = match
                self._remove(ref, "near", *match)
            row += 1

    def _bands(self, prepared: Prepared) -> list:
        """LSH band keys of a chunk's signatures (none if near is off), looked up in the
        index in one pass."""
        if self.index is None or prepared.sigs is None:
            return []
        return self.index.band_keys(prepared.sigs, prepared.bands).tolist()

    def _keep(
        self, ref: str, key: bytes, line: str, sig: np.ndarray | None, bands: list | None
    ) -> None:
        ref = self._unique_ref(ref)
        self.seen[key] = (ref, 1.0)
        if sig is not None:
            self.index.add(ref, sig, bands, new=True)  # unique: no look-up
        self.shards.write_line(line)
        self.report.kept += 1

    def _unique_ref(self, ref: str) -> str:
        """The record's id, made unique if an earlier kept record (or an --against
        record's cluster) had the same id."""
        unique, n = ref, 1
        while unique in self.taken_refs:
            n += 1
            unique = f"{ref}#{n}"
        self.taken_refs.add(unique)
        return unique

    def _remove(self, ref: str, kind: str, cluster: str, score: float) -> None:
        if kind == "exact":
            self.report.exact += 1
        else:
            self.report.near += 1
        if cluster.startswith(AGAINST):
            self.report.against += 1
        self.removed.write(
            {
                "id": ref,
                "kind": kind,
                "kept": cluster,
                "jaccard": round(score, 4),
                "cluster": cluster,
            }
        )

    def _remove_unencodable(self, ref: str, problem: str | None) -> None:
        self.report.encoding += 1
        self.removed.write({"id": ref, "kind": "encoding", "detail": problem})


def dedup_files(
    inputs: list[Path],
    out_dir: Path,
    *,
    against: list[Path] | None = None,
    against_field: str | None = None,
    text_field: str = "text",
    near: NearDupConfig | None = NearDupConfig(),  # noqa: B008  (frozen, so shared safely)
    shard_size: int = 10_000,
    progress: bool = True,
    workers: int | None = None,
) -> DedupReport:
    """Remove exact and near duplicates from `inputs`, writing a clean corpus to `out_dir`;
    records that copy one of the `against` files (an eval set) are removed too. `workers`
    processes read and sign the records (by default one per core for inputs large enough
    to pay for starting them, else none: this process does it all); the output is the
    same whatever their number."""
    started = time.perf_counter()
    out_dir = Path(out_dir)
    check_out_dir(out_dir)
    files = input_files([Path(p) for p in inputs])
    references = input_files([Path(p) for p in against]) if against else []
    made = make_out_dir(out_dir)
    try:
        report = _dedup(
            files,
            (references, against_field or text_field),
            out_dir,
            text_field,
            near,
            shard_size,
            progress,
            _helpers(workers, [*files, *references]),
        )
        report.inputs, report.files = [str(p) for p in inputs], len(files)
        report.seconds = round(time.perf_counter() - started, 3)
        _write_summary(out_dir, report, near, text_field)
    except OSError as exc:
        remove_outputs(out_dir, made)
        raise TinygenError(
            f"writing {exc.filename or out_dir} failed: {exc.strerror or exc} "
            f"(the partial output in {out_dir} was removed)",
            "free some disk space or choose another --out, then run again",
        ) from exc
    except BaseException:
        remove_outputs(out_dir, made)
        raise
    return report


def _dedup(
    files: list[Path],
    references: tuple[list[Path], str],
    out_dir: Path,
    text_field: str,
    near: NearDupConfig | None,
    shard_size: int,
    progress: bool,
    helpers: int,
) -> DedupReport:
    """Stream every record of `files` through the deduper (closed however it ends)."""
    with Preparer(helpers) as preparer:  # before any output file opens: helpers may fork
        deduper = _Deduper(out_dir, near, shard_size)
        try:
            _stream(deduper, preparer, files, references, text_field, near, progress)
        except BaseException:
            with suppress(OSError):
                deduper.close()
            raise
    deduper.close()
    return deduper.report


def _stream(
    deduper: _Deduper,
    preparer: Preparer,
    files: list[Path],
    references: tuple[list[Path], str],
    text_field: str,
    near: NearDupConfig | None,
    progress: bool,
) -> None:
    """The --against records, then every record of `files`, prepared and decided."""
    total, started = sum(path.stat().st_size for path in files), time.monotonic()
    read = [0]  # bytes of the inputs decided so far
    source = lambda: _status(deduper.report, read[0], total, started)  # noqa: E731
    with LiveStatus(source, enabled=progress) as live:
        for prepared in preparer.prepared(references[0], references[1], near):
            deduper.refer(prepared)
        for prepared in preparer.prepared(files, text_field, near):
            deduper.process(prepared)
            read[0] += prepared.size
            live.refresh()


def _helpers(requested: int | None, files: list[Path]) -> int:
    """Helper processes to read and sign records: as asked, else one per core when the
    inputs hold at least HELPERS_FROM bytes (0: none, this process does it all)."""
    if requested is not None:
        return requested
    size = sum(path.stat().st_size for path in files)
    cores = available_cores()
    return cores if cores > 1 and size >= HELPERS_FROM else 0


def _status(report: DedupReport, read: int, total: int, started: float) -> Status:
    """Bytes read of the inputs, documents a second; kept and removed always shown."""
    elapsed = max(time.monotonic() - started, 1e-9)
    eta = elapsed * (total - read) / read if read else None
    removed = (
        f"removed {report.exact + report.near:,} (exact {report.exact:,}, near {report.near:,})"
    )
    more = [f"read {report.read:,}"] + (
        [f"encoding {report.encoding:,}"] if report.encoding else []
    )
    return Status(
        "dedup",
        read >> 20,
        max(total >> 20, 1),
        f"{report.read / elapsed:,.0f} docs/s",
        eta,
        must=[f"kept {report.kept:,}", removed],
        more=more,
        unit="MiB",
    )


def _write_summary(
    out_dir: Path, report: DedupReport, near: NearDupConfig | None, text_field: str
) -> None:
    """`dedup_summary.json`, written atomically."""
    summary = {
        "inputs": report.inputs,
        "files": report.files,
        "text_field": text_field,
        "read": report.read,
        "kept": report.kept,
        "exact": report.exact,
        "near": report.near,
        "encoding": report.encoding,
        "against": report.against,
        "reference_records": report.reference,
        "threshold": near.threshold if near else None,
        "near_params": near.params() if near else None,
        "seconds": report.seconds,
    }
    atomic_write(out_dir / DEDUP_SUMMARY, json.dumps(summary, indent=2) + "\n")
