"""`tinygen dedup`: exact and near-duplicate removal over existing JSONL files.

Inputs are JSONL files or directories: a tinygen run directory contributes its
`data/part-*.jsonl` shards, any other directory every `*.jsonl` under it (sorted). Records
stream through in order, a batch at a time, so inputs larger than memory work; only the
text keys and MinHash signatures of kept records stay in memory. The first record of a
cluster is kept, whole and unchanged, and written to `OUT/data/part-NNNNN.jsonl` in the
layout of a run. A record holding a string UTF-8 cannot encode (a lone surrogate) is never
kept. Every removed record gets one line in `OUT/dedup_report.jsonl` saying why;
`OUT/dedup_summary.json` holds the counts and settings.

`OUT` must be new or empty: it is checked before any input is read, and a pass that fails
removes what it wrote, so a refused or failed run leaves `OUT` as it found it.
"""

from __future__ import annotations

import json
import time
from collections.abc import Iterable, Iterator
from contextlib import suppress
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np

from tinygen.dedup.index import NearDupIndex
from tinygen.dedup.minhash import BATCH, NearDupConfig, signatures_normalized
from tinygen.dedup.output import check_out_dir, make_out_dir, remove_outputs
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
from tinygen.text.canonical import normalize_text, normalized_key
from tinygen.text.encoding import describe_unencodable, may_escape_surrogate, unencodable_at

AGAINST = "against:"  # what the report's `kept` says of a record of the --against files


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


@dataclass
class _Line:
    """One input record with where it came from (`problem`: why it cannot be written)."""

    record: dict
    ref: str
    normalized: str
    problem: str | None = None


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


def _parse(raw: bytes, path: Path, number: int, text_field: str) -> dict:
    """One JSON record, or a UsageError naming the file and line."""
    try:
        record = json.loads(raw)
    except (json.JSONDecodeError, UnicodeDecodeError):
        raise UsageError(
            f"{path} line {number} is not valid JSON",
            "fix or delete that line (a torn last line of a crashed run: resume that run first)",
        ) from None
    if not isinstance(record, dict) or not isinstance(record.get(text_field), str):
        raise UsageError(
            f"{path} line {number} has no string field {text_field!r}",
            "name the text field with --text-field",
        )
    return record


def _may_not_encode(raw: bytes) -> bool:
    """False when every string `json.loads(raw)` gives surely encodes as UTF-8: the line is
    strict UTF-8 with no NUL (so json decodes it as UTF-8) and escapes no surrogate."""
    if b"\x00" in raw or may_escape_surrogate(raw):
        return True
    try:
        raw.decode("utf-8")
    except UnicodeDecodeError:
        return True
    return False


def _encoding_problem(record: dict) -> str | None:
    """Where the record holds a string UTF-8 cannot encode (a lone surrogate), or None."""
    for name, text in _strings(record, ""):
        at = unencodable_at(text)
        if at is not None:
            return f"{describe_unencodable(text, at)} in field '{_printable(name)}'"
    return None


def _strings(value: object, name: str) -> Iterator[tuple[str, str]]:
    """Every string in a JSON value, keys included, with the field it is in."""
    if isinstance(value, str):
        yield name, value
    elif isinstance(value, dict):
        for key, item in value.items():
            field_name = f"{name}.{key}" if name else str(key)
            yield field_name, str(key)
            yield from _strings(item, field_name)
    elif isinstance(value, list):
        for n, item in enumerate(value):
            yield from _strings(item, f"{name}[{n}]")


def _printable(text: str) -> str:
    """`text` with anything UTF-8 cannot encode spelled as a backslash escape."""
    return text.encode("utf-8", "backslashreplace").decode("utf-8")


class _Reader:
    """Every record of every file, in order, with its reference (id, or file:line)."""

    def __init__(self, files: list[Path], text_field: str) -> None:
        self.files, self.text_field = files, text_field
        self.bytes_read = 0

    def __iter__(self) -> Iterator[_Line]:
        for path in self.files:
            try:
                yield from self._lines(path)
            except OSError as exc:
                raise TinygenError(
                    f"cannot read {path}: {exc.strerror or exc}", "check that input file"
                ) from exc

    def _lines(self, path: Path) -> Iterator[_Line]:
        with path.open("rb") as handle:
            for number, raw in enumerate(handle, start=1):
                self.bytes_read += len(raw)
                if raw.strip():
                    yield self._line(raw, path, number)

    def _line(self, raw: bytes, path: Path, number: int) -> _Line:
        record = _parse(raw, path, number, self.text_field)
        ref = record.get("id")
        ref = _printable(str(ref) if ref is not None else f"{path}:{number}")
        problem = _encoding_problem(record) if _may_not_encode(raw) else None
        if problem:
            return _Line(record, ref, "", problem)
        return _Line(record, ref, normalize_text(record[self.text_field]))


def _batches(lines: Iterable[_Line], size: int) -> Iterator[list[_Line]]:
    batch: list[_Line] = []
    for line in lines:
        batch.append(line)
        if len(batch) == size:
            yield batch
            batch = []
    if batch:
        yield batch


class _Deduper:
    """The streaming state: text keys seen, the near-dup index, the writers."""

    def __init__(self, out_dir: Path, near: NearDupConfig | None, shard_size: int) -> None:
        self.index = NearDupIndex(near) if near else None
        self.seen: dict[str, tuple[str, float]] = {}
        self.kept_refs: set[str] = set()
        self.report = DedupReport(out_dir=str(out_dir))
        self.shards = ShardWriter(out_dir, shard_size, 0, 0)
        self.removed = JsonlAppender(out_dir / DEDUP_REPORT)

    def close(self) -> None:
        try:
            self.shards.close()
        finally:
            self.removed.close()

    def refer(self, batch: list[_Line]) -> None:
        """Remember records of the --against files (never written): inputs that copy one,
        exactly or nearly, are removed."""
        lines = [line for line in batch if not line.problem]
        keys = [normalized_key(line.normalized) for line in lines]
        sigs, bands = self._signatures([line.normalized for line in lines])
        for n, (line, key) in enumerate(zip(lines, keys, strict=True)):
            self.report.reference += 1
            ref = f"{AGAINST}{line.ref}"
            self.seen.setdefault(key, (ref, 1.0))
            if sigs is not None:
                self.index.add(ref, sigs[n], bands[n])

    def process(self, batch: list[_Line]) -> None:
        """Decide each record of a batch, in order, and write it out."""
        keys = [None if line.problem else normalized_key(line.normalized) for line in batch]
        fresh = [i for i, key in enumerate(keys) if key is not None and key not in self.seen]
        sigs, bands = self._signatures([batch[i].normalized for i in fresh])
        row = {i: n for n, i in enumerate(fresh)}
        for i, (line, key) in enumerate(zip(batch, keys, strict=True)):
            self.report.read += 1
            if key is None:
                self._remove_unencodable(line)
            elif key in self.seen:
                self._remove(line, "exact", *self.seen[key])
            elif sigs is None:
                self._keep(line, key, None, None)
            else:
                self._near_or_keep(line, key, sigs[row[i]], bands[row[i]])

    def _signatures(self, texts: list[str]) -> tuple[np.ndarray | None, list | None]:
        """Signatures and LSH band keys of texts not seen before (None if near is off)."""
        if self.index is None or not texts:
            return None, None
        sigs = signatures_normalized(texts, self.index.config)
        return sigs, self.index.band_keys(sigs).tolist()

    def _near_or_keep(self, line: _Line, key: str, sig: np.ndarray, bands: list[int]) -> None:
        match = self.index.query(sig, bands)
        if match is None:
            self._keep(line, key, sig, bands)
        else:
            self.seen[key] = match
            self._remove(line, "near", *match)

    def _keep(self, line: _Line, key: str, sig: np.ndarray | None, bands: list | None) -> None:
        ref = self._unique_ref(line.ref)
        self.seen[key] = (ref, 1.0)
        if sig is not None:
            self.index.add(ref, sig, bands)
        self.shards.write(line.record)
        self.report.kept += 1

    def _unique_ref(self, ref: str) -> str:
        """The record's id, made unique if an earlier kept record had the same id."""
        unique, n = ref, 1
        while unique in self.kept_refs:
            n += 1
            unique = f"{ref}#{n}"
        self.kept_refs.add(unique)
        return unique

    def _remove(self, line: _Line, kind: str, cluster: str, score: float) -> None:
        if kind == "exact":
            self.report.exact += 1
        else:
            self.report.near += 1
        if cluster.startswith(AGAINST):
            self.report.against += 1
        self.removed.write(
            {
                "id": line.ref,
                "kind": kind,
                "kept": cluster,
                "jaccard": round(score, 4),
                "cluster": cluster,
            }
        )

    def _remove_unencodable(self, line: _Line) -> None:
        self.report.encoding += 1
        self.removed.write({"id": line.ref, "kind": "encoding", "detail": line.problem})


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
) -> DedupReport:
    """Remove exact and near duplicates from `inputs`, writing a clean corpus to `out_dir`;
    records that copy one of the `against` files (an eval set) are removed too."""
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
) -> DedupReport:
    """Stream every record of `files` through the deduper (closed however it ends)."""
    deduper = _Deduper(out_dir, near, shard_size)
    reader = _Reader(files, text_field)
    total, started = sum(path.stat().st_size for path in files), time.monotonic()
    try:
        source = lambda: _status(deduper.report, reader.bytes_read, total, started)  # noqa: E731
        with LiveStatus(source, enabled=progress) as live:
            for batch in _batches(_Reader(*references), BATCH):
                deduper.refer(batch)
            for batch in _batches(reader, BATCH):
                deduper.process(batch)
                live.refresh()
    except BaseException:
        with suppress(OSError):
            deduper.close()
        raise
    deduper.close()
    return deduper.report


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
