"""JSONL in a run directory: the one reader (strict UTF-8, one torn-line rule, each line
checked against what its file must hold), the one line encoder, and the appender.

What a line of each file must hold to be read is declared once (`SHARD_LINE`,
`REJECTED_LINE`, `FAILED_LINE`) and checked by `read_records`. A torn last line (a crash
mid-write) is left out by the reader and cut off by `repair_torn_tail`, so the item it
held is simply asked again; any other damage is an error naming the file, the line and
the repair.
"""

from __future__ import annotations

import json
import os
import shlex
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import BinaryIO

from tinygen.errors import TinygenError
from tinygen.text.encoding import make_encodable, may_escape_surrogate, unencodable_at


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


_ASKED_AGAIN = "delete that line (its item is asked again)"


SHARD_LINE = LineSchema(
    ((("index",), int), (("text",), str), (("recipe", "fingerprint"), str)),
    f"restore the file, or {_ASKED_AGAIN}",
)


REJECTED_LINE = LineSchema(((("index",), int), (("reason",), str)), _ASKED_AGAIN)


FAILED_LINE = LineSchema(((("index",), int), (("error", "kind"), str)), _ASKED_AGAIN)


ANY_SHARD_LINE = LineSchema((), SHARD_LINE.repair)  # any JSON object (what the card shows)


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
    if not may_escape_surrogate(raw):  # the fast path: no such escape at all
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
    """Appends one JSON line per record and flushes it to the OS at once (unless
    `flush_each` is off: for output that is removed whole if the writer fails)."""

    def __init__(self, path: Path, *, flush_each: bool = True) -> None:
        path.parent.mkdir(parents=True, exist_ok=True)
        self.path = path
        self._handle = path.open("a", encoding="utf-8")
        self._flush_each = flush_each

    def write(self, record: dict) -> None:
        self.write_line(dump_line(record))

    def write_line(self, line: str) -> None:
        """Append one encoded record (no newline in it) as a whole line, flushed."""
        self._handle.write(line + "\n")
        if self._flush_each:
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
