"""The run directory's records: the scan that lets a run resume, and the shard writer.

Every outcome of an item is one line in exactly one file (rundir/layout.py names them),
appended and flushed at once (rundir/jsonl.py). The scan reads them all, checking each
line, and only then cuts torn last lines: a damaged directory is left as it was.
"""

from __future__ import annotations

import hashlib
from collections import Counter
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path

from tinygen.errors import TinygenError
from tinygen.rundir.jsonl import (
    FAILED_LINE,
    REJECTED_LINE,
    SHARD_LINE,
    JsonlAppender,
    dump_line,
    read_records,
    repair_torn_tail,
)
from tinygen.rundir.layout import (
    ACCEPTED_KIND,
    DATA_DIR,
    FAILED,
    FAILED_KIND,
    REJECTED,
    REJECTED_KIND,
    shard_name,
    shard_number,
    shard_paths,
)
from tinygen.text.canonical import text_key


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
    manifest: dict | None = None  # the run's manifest as it was read (checked) before
    fingerprint: str | None = None


RecordSeen = Callable[[str, dict], None]  # (ACCEPTED_KIND, REJECTED_KIND or FAILED_KIND, record)


def scan(out_dir: Path, on_record: RecordSeen | None = None) -> ScanResult:
    """Read a run directory: check every line, collect finished items and text keys (and
    show each record to `on_record`), then cut torn last lines (only once all is read: a
    damaged directory is left as it was)."""
    result = ScanResult()
    seen = on_record or (lambda kind, record: None)
    shards = shard_paths(out_dir)
    for path in shards:
        _scan_shard(path, result, seen)
    for record in read_records(out_dir / REJECTED, REJECTED_LINE):
        result.done.add(record["index"])
        result.rejected[record["reason"]] += 1
        seen(REJECTED_KIND, record)
    for record in read_records(out_dir / FAILED, FAILED_LINE):
        result.done.add(record["index"])
        result.failed[record["error"]["kind"]] += 1
        seen(FAILED_KIND, record)
    for path in (*shards, out_dir / REJECTED, out_dir / FAILED):
        if path.exists() and repair_torn_tail(path):
            result.repaired.append(str(path))
    return result


def _scan_shard(path: Path, result: ScanResult, seen: RecordSeen) -> None:
    number = shard_number(path)
    if number is None:
        raise TinygenError(
            f"{path} is not a tinygen shard (its name is not part-NNNNN.jsonl)",
            f"move it out of {path.parent}",
        )
    count = 0
    for record in read_records(path, SHARD_LINE):
        result.done.add(record["index"])
        result.text_keys.setdefault(text_key(record["text"]), record["index"])
        seen(ACCEPTED_KIND, record)
        result.fingerprint = result.fingerprint or record["recipe"]["fingerprint"]
        count += 1
    result.accepted += count
    result.last_shard, result.last_shard_records = number, count


class ShardWriter:
    """Accepted records into `data/part-NNNNN.jsonl`, a new shard every `shard_size`."""

    def __init__(
        self,
        out_dir: Path,
        shard_size: int,
        last_shard: int,
        last_count: int,
        *,
        flush_each: bool = True,
    ) -> None:
        self._flush_each = flush_each  # off: the output is removed whole if writing fails
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
            path = self._dir / shard_name(self._number)
            self._file = JsonlAppender(path, flush_each=self._flush_each)
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
    for path in shard_paths(out_dir):
        digest, lines = hashlib.sha256(), 0
        with path.open("rb") as handle:
            for chunk in iter(lambda: handle.read(1 << 20), b""):
                digest.update(chunk)
                lines += chunk.count(b"\n")
        summaries.append(
            {"file": f"{DATA_DIR}/{path.name}", "records": lines, "sha256": digest.hexdigest()}
        )
    return summaries
