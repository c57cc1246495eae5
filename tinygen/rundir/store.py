"""The output directory: crash-safe JSONL files, and the scan that lets a run resume.

Layout of a run directory:
    data/part-00000.jsonl ...   accepted records, rotated every `shard_size` lines
    rejected.jsonl              answers a check refused (duplicates included), with reason
    failed.jsonl                items whose calls failed for good, with error kinds
    manifest.json               what the run is and how far it got (rewritten atomically)

Every outcome of an item is one line in exactly one of these files, appended and
flushed at once. On resume a torn last line (a crash mid-write) is cut off, so the
item it held is simply asked again: nothing is lost and nothing is doubled.

What a line of each file must hold to be read is declared once (`SHARD_LINE`,
`REJECTED_LINE`, `FAILED_LINE`) and checked by the one reader, `read_records`. Any other
damage stops the scan with an error naming the file, the line and the repair, before
anything is cut or written.
"""

from __future__ import annotations

import hashlib
import json
import os
import re
import shlex
from collections import Counter
from collections.abc import Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import BinaryIO

from pydantic import BaseModel, ConfigDict, Field, ValidationError

from tinygen.errors import TinygenError
from tinygen.text.canonical import text_key
from tinygen.text.encoding import make_encodable, unencodable_at

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


@dataclass(frozen=True)
class LineSchema:
    """What a line of one run file must hold to be read, and how to repair one that does not.

    `fields` are (key path, exact JSON type) pairs; an integer must also be >= 0.
    """

    fields: tuple[tuple[tuple[str, ...], type], ...]
    repair: str

    def problem(self, record: object) -> str | None:
        """Why `record` cannot be read as a line of this file, or None if it can."""
        if type(record) is not dict:
            return "not a JSON object"
        for keys, kind in self.fields:
            value = record
            for key in keys:
                value = value.get(key) if type(value) is dict else None
            if type(value) is not kind:
                return f"no {_TYPE_NAMES[kind]} `{'.'.join(keys)}`"
            if kind is int and value < 0:
                return f"negative `{'.'.join(keys)}`"
        return None


_TYPE_NAMES = {int: "integer", str: "string"}
_SURROGATE_ESCAPE = re.compile(rb"\\u[dD][89a-fA-F]")  # \uD800-\uDFFF (a regex beats `in`)
_ASKED_AGAIN = "delete that line (its item is asked again)"
SHARD_LINE = LineSchema(
    ((("index",), int), (("text",), str), (("recipe", "fingerprint"), str)),
    f"restore the file, or {_ASKED_AGAIN}",
)
REJECTED_LINE = LineSchema(((("index",), int), (("reason",), str)), _ASKED_AGAIN)
FAILED_LINE = LineSchema(((("index",), int), (("error", "kind"), str)), _ASKED_AGAIN)
ANY_SHARD_LINE = LineSchema((), SHARD_LINE.repair)  # any JSON object (what the card shows)


def scan(out_dir: Path) -> ScanResult:
    """Read a run directory: check every line, collect finished items and text keys, then
    cut torn last lines (only once all is read: a damaged directory is left as it was)."""
    result = ScanResult()
    shards = sorted((out_dir / DATA_DIR).glob("part-*.jsonl"))
    for path in shards:
        _scan_shard(path, result)
    for record in read_records(out_dir / REJECTED, REJECTED_LINE):
        result.done.add(record["index"])
        result.rejected[record["reason"]] += 1
    for record in read_records(out_dir / FAILED, FAILED_LINE):
        result.done.add(record["index"])
        result.failed[record["error"]["kind"]] += 1
    for path in (*shards, out_dir / REJECTED, out_dir / FAILED):
        if path.exists() and repair_torn_tail(path):
            result.repaired.append(str(path))
    return result


def _scan_shard(path: Path, result: ScanResult) -> None:
    number = path.stem.removeprefix("part-")
    if not (number.isascii() and number.isdigit()):
        raise TinygenError(
            f"{path} is not a tinygen shard (its name is not part-NNNNN.jsonl)",
            f"move it out of {path.parent}",
        )
    count = 0
    for record in read_records(path, SHARD_LINE):
        result.done.add(record["index"])
        result.text_keys.setdefault(text_key(record["text"]), record["index"])
        result.fingerprint = result.fingerprint or record["recipe"]["fingerprint"]
        count += 1
    result.accepted += count
    result.last_shard, result.last_shard_records = int(number), count


def read_records(path: Path, schema: LineSchema) -> Iterator[dict]:
    """The records of a run file (none if it is missing), each checked against `schema`.

    Only whole lines are read: a torn last line (a crash, or a writer mid-line) is left
    out. A line that is not UTF-8, not JSON or not what `schema` asks for raises a
    TinygenError naming the file, the line (1-based) and the repair.
    """
    if not path.exists():
        return
    with _open_for_reading(path) as handle:
        for number, raw in enumerate(handle, start=1):
            if raw[-1:] != b"\n":
                return
            record = _parse_line(raw, path, number, schema)
            problem = schema.problem(record)
            if problem is not None:
                raise _bad_line(path, number, f"is not a tinygen record ({problem})", schema)
            yield record


def _open_for_reading(path: Path) -> BinaryIO:
    try:
        return path.open("rb")
    except OSError as exc:
        raise TinygenError(
            f"cannot read {path}: {exc.strerror}",
            "make it a readable file, or start afresh with --overwrite",
        ) from None


def _parse_line(raw: bytes, path: Path, number: int, schema: LineSchema) -> object:
    """One line decoded as strict UTF-8 and parsed as JSON, with no lone surrogate in it."""
    try:
        record = json.loads(raw.decode("utf-8"))
    except UnicodeDecodeError as exc:
        what = f"is not UTF-8 (byte 0x{raw[exc.start]:02x} at offset {exc.start})"
    except json.JSONDecodeError:
        what = "is not valid JSON: the file was edited or is corrupt"
    except RecursionError:
        what = "is JSON nested too deeply to read: the file was edited or is corrupt"
    else:
        surrogate = _lone_surrogate(raw, record)
        if surrogate is None:
            return record
        what = f"holds a lone surrogate {surrogate} (half of a UTF-16 pair): not UTF-8 text"
    raise _bad_line(path, number, what, schema)


def _lone_surrogate(raw: bytes, record: object) -> str | None:
    """The first lone surrogate an escape in `raw` put into `record` ("U+D83D"), or None."""
    if _SURROGATE_ESCAPE.search(raw) is None:  # the fast path: no such escape at all
        return None
    text = json.dumps(record, ensure_ascii=False)
    at = unencodable_at(text)
    return None if at is None else f"U+{ord(text[at]):04X}"


def _bad_line(path: Path, number: int, what: str, schema: LineSchema) -> TinygenError:
    delete = f"sed -i '{number}d' {shlex.quote(str(path))}"
    return TinygenError(
        f"{path} line {number} {what}",
        f"{schema.repair}: {delete}, or start afresh with --overwrite",
    )


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
    """One record as compact JSON (UTF-8 kept), one line; a lone surrogate
    anywhere in it becomes U+FFFD, so every line written is strict UTF-8."""
    return make_encodable(json.dumps(record, ensure_ascii=False, separators=(",", ":")))


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


class _RecipeFields(BaseModel):
    model_config = ConfigDict(extra="allow", strict=True)

    fingerprint: str
    name: str


class ManifestFields(BaseModel):
    """The manifest fields tinygen reads back; the others are kept as they are."""

    model_config = ConfigDict(extra="allow", strict=True, allow_inf_nan=False)

    tinygen_version: str | None = None
    recipe: _RecipeFields
    totals: dict[str, float] = Field(default_factory=dict)
    sessions: int = Field(0, ge=0)
    started_at: str | None = None


def read_manifest(out_dir: Path) -> dict | None:
    """The manifest of a run directory as a plain dict holding (at least) every field of
    `ManifestFields`, or None if there is none."""
    path = out_dir / MANIFEST
    if not path.exists():
        return None
    try:
        value = json.loads(path.read_text(encoding="utf-8"))
    except (json.JSONDecodeError, UnicodeDecodeError, RecursionError):
        raise TinygenError(
            f"{path} is corrupt (not valid JSON)",
            "delete manifest.json: the next run rebuilds it from the records, which are intact",
        ) from None
    except OSError as exc:
        raise TinygenError(
            f"cannot read {path}: {exc.strerror}", "make it a readable file, or delete it"
        ) from None
    try:
        return ManifestFields.model_validate(value).model_dump()
    except ValidationError as exc:
        raise TinygenError(
            f"{path} is not a tinygen manifest ({_first_problem(exc)})",
            f"if {out_dir} holds a tinygen run, delete manifest.json: the next run rebuilds "
            "it from the records",
        ) from None


def _first_problem(exc: ValidationError) -> str:
    error = exc.errors()[0]
    if not error["loc"]:
        return "not a JSON object"
    return f"field {'.'.join(map(str, error['loc']))}: {error['msg']}"


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
