"""The output directory: crash-safe JSONL files, and the scan that lets a run resume.

Layout of a run directory:
    data/part-00000.jsonl ...   accepted records, rotated every `shard_size` lines
    rejected.jsonl              answers a check refused (duplicates included), with reason
    failed.jsonl                items whose calls failed for good, with error kinds
    manifest.json               what the run is and how far it got (rewritten atomically)

Every outcome of an item is one line in exactly one of these files, appended and
flushed at once. On resume a torn last line (a crash mid-write) is cut off, so the
item it held is simply asked again: nothing is lost and nothing is doubled.
"""

from __future__ import annotations

import hashlib
import json
import os
from collections import Counter
from collections.abc import Iterator
from dataclasses import dataclass, field
from pathlib import Path

import jsonlines

from tinygen.canonical import text_key
from tinygen.errors import TinygenError

DATA_DIR = "data"
REJECTED = "rejected.jsonl"
FAILED = "failed.jsonl"
MANIFEST = "manifest.json"


def shard_name(number: int) -> str:
    """File name of shard `number` (zero-padded so names sort in order)."""
    return f"part-{number:05d}.jsonl"


@dataclass
class ScanResult:
    """What an output directory already holds."""

    done: set[int] = field(default_factory=set)
    text_keys: dict[bytes, int] = field(default_factory=dict)
    accepted: int = 0
    rejected: Counter[str] = field(default_factory=Counter)
    failed: Counter[str] = field(default_factory=Counter)
    last_shard: int = 0
    last_shard_records: int = 0
    repaired: list[str] = field(default_factory=list)
    fingerprint: str | None = None


def scan(out_dir: Path) -> ScanResult:
    """Read a run directory: repair torn lines, collect finished items and text keys."""
    result = ScanResult()
    shards = sorted((out_dir / DATA_DIR).glob("part-*.jsonl"))
    for path in shards:
        count = 0
        for record in _read_records(path, result):
            result.done.add(record["index"])
            result.text_keys.setdefault(text_key(record["text"]), record["index"])
            result.fingerprint = result.fingerprint or record["recipe"]["fingerprint"]
            count += 1
        result.accepted += count
        result.last_shard, result.last_shard_records = int(path.stem.split("-")[1]), count
    for record in _read_records(out_dir / REJECTED, result):
        result.done.add(record["index"])
        result.rejected[record["reason"]] += 1
    for record in _read_records(out_dir / FAILED, result):
        result.done.add(record["index"])
        result.failed[record["error"]["kind"]] += 1
    return result


def _read_records(path: Path, result: ScanResult) -> Iterator[dict]:
    """Stream the records of one file, after cutting off a torn last line."""
    if not path.exists():
        return
    if repair_torn_tail(path):
        result.repaired.append(str(path))
    try:
        with jsonlines.open(path) as reader:
            yield from reader
    except jsonlines.InvalidLineError as exc:
        raise TinygenError(
            f"{path} line {exc.lineno} is not valid JSON: the file was edited or is corrupt",
            "restore the file, delete that line, or start afresh with --overwrite",
        ) from None


def repair_torn_tail(path: Path) -> bool:
    """Cut off a last line left without its newline by a crash; True if anything was cut."""
    with path.open("rb+") as handle:
        size = handle.seek(0, os.SEEK_END)
        if size == 0:
            return False
        handle.seek(size - 1)
        if handle.read(1) == b"\n":
            return False
        keep = _last_newline_end(handle, size)
        handle.truncate(keep)
        handle.flush()
        os.fsync(handle.fileno())
    return True


def _last_newline_end(handle, size: int) -> int:
    """Offset just past the last newline of the file (0 if there is none)."""
    block = 64 * 1024
    end = size
    while end > 0:
        start = max(0, end - block)
        handle.seek(start)
        chunk = handle.read(end - start)
        found = chunk.rfind(b"\n")
        if found >= 0:
            return start + found + 1
        end = start
    return 0


def dump_line(record: dict) -> str:
    """One record as compact JSON (UTF-8 kept), as jsonlines writes it."""
    return json.dumps(record, ensure_ascii=False, separators=(",", ":"))


class JsonlAppender:
    """Appends one JSON line per record and flushes it to the OS at once."""

    def __init__(self, path: Path) -> None:
        path.parent.mkdir(parents=True, exist_ok=True)
        self.path = path
        self._handle = path.open("a", encoding="utf-8")

    def write(self, record: dict) -> None:
        self.write_line(dump_line(record))

    def write_line(self, line: str) -> None:
        """Append one encoded record (no newline in it) as a whole line, flushed."""
        self._handle.write(line + "\n")
        self._handle.flush()

    def close(self) -> None:
        """Flush to disk and close (the file is closed even if the flush fails)."""
        if self._handle.closed:
            return
        try:
            self._handle.flush()
            os.fsync(self._handle.fileno())
        finally:
            self._handle.close()


class ShardWriter:
    """Accepted records into `data/part-NNNNN.jsonl`, a new shard every `shard_size`."""

    def __init__(self, out_dir: Path, shard_size: int, last_shard: int, last_count: int) -> None:
        self._dir = out_dir / DATA_DIR
        self._shard_size = shard_size
        self._number = last_shard
        self._count = last_count
        if self._count >= shard_size:
            self._number, self._count = self._number + 1, 0
        self._file: JsonlAppender | None = None

    def write(self, record: dict) -> None:
        self.write_line(dump_line(record))

    def write_line(self, line: str) -> None:
        """Append one encoded record to the current shard; rotate when it is full."""
        if self._file is None:
            self._file = JsonlAppender(self._dir / shard_name(self._number))
        self._file.write_line(line)
        self._count += 1
        if self._count >= self._shard_size:
            self._file.close()
            self._file, self._number, self._count = None, self._number + 1, 0

    def close(self) -> None:
        if self._file is not None:
            self._file.close()


def shard_summaries(out_dir: Path) -> list[dict[str, object]]:
    """Each shard's relative path, record count and sha256."""
    summaries = []
    for path in sorted((out_dir / DATA_DIR).glob("part-*.jsonl")):
        digest, lines = hashlib.sha256(), 0
        with path.open("rb") as handle:
            for chunk in iter(lambda: handle.read(1 << 20), b""):
                digest.update(chunk)
                lines += chunk.count(b"\n")
        summaries.append(
            {"file": f"{DATA_DIR}/{path.name}", "records": lines, "sha256": digest.hexdigest()}
        )
    return summaries


def read_manifest(out_dir: Path) -> dict | None:
    """The manifest of a run directory, or None if there is none."""
    path = out_dir / MANIFEST
    if not path.exists():
        return None
    try:
        return json.loads(path.read_text(encoding="utf-8"))
    except (json.JSONDecodeError, UnicodeDecodeError):
        raise TinygenError(
            f"{path} is corrupt (not valid JSON)",
            "delete manifest.json: the next run rebuilds it from the records, which are intact",
        ) from None


def write_manifest(out_dir: Path, manifest: dict) -> None:
    """Replace the manifest atomically: readers see the old one or the new one, whole."""
    path = out_dir / MANIFEST
    temporary = path.with_suffix(".json.tmp")
    with temporary.open("w", encoding="utf-8") as handle:
        json.dump(manifest, handle, indent=2, ensure_ascii=False)
        handle.write("\n")
        handle.flush()
        os.fsync(handle.fileno())
    os.replace(temporary, path)
