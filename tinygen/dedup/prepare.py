"""`tinygen dedup`'s reading side: input lines in chunks, and each chunk prepared for the
decisions (parsed, checked for UTF-8, normalized, keyed, signed).

Preparing a chunk needs nothing but the chunk, so it runs in helper processes when the
input is large enough to pay for them (dedup/files.py decides); the decisions
that follow (seen keys, the near-duplicate index, the writes) stay in one process, in
input order, so the output is the same either way.
"""

from __future__ import annotations

import codecs
import ctypes
import json
import multiprocessing
import os
import signal
import sys
from collections import deque
from collections.abc import Iterator
from concurrent.futures import Future, ProcessPoolExecutor
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np

from tinygen.dedup.minhash import BATCH, NearDupConfig, band_keys, signatures_normalized
from tinygen.errors import TinygenError, UsageError
from tinygen.rundir.jsonl import dump_line
from tinygen.text.canonical import normalize_text, normalized_key
from tinygen.text.cores import fork_is_safe
from tinygen.text.encoding import describe_unencodable, may_escape_surrogate, unencodable_at

IN_FLIGHT = 2  # chunks given to each helper ahead of the one the decisions wait for
JSON_SPACE = b" \t\r\n"  # the whitespace JSON allows around a value
PR_SET_PDEATHSIG = 1  # prctl(2): the signal a process gets when its parent dies


@dataclass(frozen=True)
class Chunk:
    """Up to BATCH non-blank lines of one input file, with their line numbers."""

    path: Path
    numbers: list[int]
    raw: list[bytes]
    size: int  # bytes of the file these lines (and the blank ones among them) span


@dataclass
class Prepared:
    """A chunk ready for the decisions: for each line its reference (id, or file:line) and
    its exact-dedup key (None when it cannot be written: `problems` says why); the MinHash
    signatures of the lines that have a key, in order, with their LSH band keys.

    A line is written out as it was read (less its surrounding whitespace), unless its
    bytes are not plain UTF-8 JSON (another encoding, a byte order mark, an escaped
    surrogate pair): those are re-encoded (`rewritten`, by position). The lines read are
    attached in the deciding process (`raw`), so helpers never send them back."""

    refs: list[str]
    keys: list[bytes | None]
    problems: list[str | None]
    sigs: np.ndarray | None
    size: int
    bands: np.ndarray | None = None
    error: tuple[str, str | None] | None = None  # a bad line: message and hint to raise
    rewritten: dict[int, str] = field(default_factory=dict)
    raw: list[bytes] = field(default_factory=list)

    def raise_error(self) -> None:
        """Raise the error of a bad line, in the process that decides."""
        if self.error is not None:
            raise UsageError(*self.error)

    def line(self, position: int) -> str:
        """The output line of the line at `position` (one that has a key)."""
        line = self.rewritten.get(position)
        if line is None:
            return self.raw[position].strip(JSON_SPACE).decode("utf-8")
        return line


def chunks(files: list[Path]) -> Iterator[Chunk]:
    """Every non-blank line of every file, in order, BATCH at a time per file."""
    for path in files:
        try:
            yield from _file_chunks(path)
        except OSError as exc:
            raise TinygenError(
                f"cannot read {path}: {exc.strerror or exc}", "check that input file"
            ) from exc


def _file_chunks(path: Path) -> Iterator[Chunk]:
    numbers: list[int] = []
    raw: list[bytes] = []
    size = 0
    with path.open("rb") as handle:
        for number, line in enumerate(handle, start=1):
            size += len(line)
            if line.strip():
                numbers.append(number)
                raw.append(line)
            if len(raw) == BATCH:
                yield Chunk(path, numbers, raw, size)
                numbers, raw, size = [], [], 0
    if raw or size:
        yield Chunk(path, numbers, raw, size)


def prepare(chunk: Chunk, text_field: str, near: NearDupConfig | None) -> Prepared:
    """Parse, check, normalize, key and sign every line of `chunk` (a bad line stops
    the chunk there: its error is carried, to be raised in order)."""
    prepared = Prepared([], [], [], None, chunk.size)
    normalized: list[str] = []
    try:
        for number, raw in zip(chunk.numbers, chunk.raw, strict=True):
            text = _add_line(prepared, raw, chunk.path, number, text_field)
            if text is not None:
                normalized.append(text)
    except UsageError as bad:
        prepared.error = (bad.message, bad.hint)
    if near is not None and normalized:
        prepared.sigs = signatures_normalized(normalized, near)
        prepared.bands = band_keys(prepared.sigs, near)
    return prepared


def _add_line(
    prepared: Prepared, raw: bytes, path: Path, number: int, text_field: str
) -> str | None:
    """Add one line to `prepared`; its normalized text, or None if it cannot be kept."""
    record = _parse(raw, path, number, text_field)
    ref = record.get("id")
    prepared.refs.append(_printable(str(ref) if ref is not None else f"{path}:{number}"))
    problem = None
    if _may_not_encode(raw):
        problem = _encoding_problem(record)
        if not problem:
            prepared.rewritten[len(prepared.keys)] = dump_line(record)
    prepared.problems.append(problem)
    if problem:
        prepared.keys.append(None)
        return None
    normalized = normalize_text(record[text_field])
    prepared.keys.append(normalized_key(normalized))
    return normalized


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
    """False when the line can be written as it is, every string `json.loads(raw)` gives
    surely encoding as UTF-8: it is strict UTF-8 with no NUL (so json decodes it as UTF-8)
    and no byte order mark, and escapes no surrogate."""
    if b"\x00" in raw or raw.startswith(codecs.BOM_UTF8) or may_escape_surrogate(raw):
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


class Preparer:
    """Prepares chunks, handing them back in input order: in this process, or in helper
    processes. Helpers are forked, all at once as this is made, when this process runs
    one thread (they have every module it imported: ready in milliseconds, where a fresh
    interpreter spends about 0.45 s of CPU importing them); with other threads running
    they are started fresh ("spawn": a fork copies no other thread, and forked helpers
    hung in a process that had some), so, as with any use of multiprocessing, a script
    that calls this must guard its own start with `if __name__ == "__main__":`
    (tinygen's command does)."""

    def __init__(self, helpers: int) -> None:
        self.helpers = helpers
        self.prepared_here = 0  # chunks this process prepared while every helper was busy
        self._pool: ProcessPoolExecutor | None = None
        if helpers:
            forked = fork_is_safe()
            context = multiprocessing.get_context("fork" if forked else "spawn")
            self._pool = ProcessPoolExecutor(
                helpers, context, initializer=_helper_start, initargs=(os.getpid(),)
            )
            if forked:  # a first task forks every helper now, before any thread starts
                self._pool.submit(int)

    def __enter__(self) -> Preparer:
        return self

    def __exit__(self, *exc_info: object) -> None:
        if self._pool is not None:
            self._pool.shutdown(cancel_futures=True)

    def prepared(
        self, files: list[Path], text_field: str, near: NearDupConfig | None
    ) -> Iterator[Prepared]:
        """Every chunk of `files`, prepared, in input order, its lines attached: helpers
        get a few chunks ahead of the one being decided, and while the oldest is not ready
        this process prepares the next chunk itself rather than wait."""
        if self._pool is None:
            for chunk in chunks(files):
                yield _attached(prepare(chunk, text_field, near), chunk)
            return
        window: deque[tuple[Chunk, Future[Prepared]]] = deque()
        ahead = IN_FLIGHT * self.helpers
        try:
            for chunk in chunks(files):
                if len(window) >= ahead and not window[0][1].done():
                    window.append((chunk, _prepared_here(chunk, text_field, near)))
                    self.prepared_here += 1  # rather than wait
                else:
                    window.append((chunk, self._pool.submit(prepare, chunk, text_field, near)))
                while len(window) > 2 * ahead or (len(window) > ahead and window[0][1].done()):
                    yield _attached(window[0][1].result(), window.popleft()[0])
            while window:
                yield _attached(window[0][1].result(), window.popleft()[0])
        finally:
            for _chunk, future in window:
                future.cancel()


def _attached(prepared: Prepared, chunk: Chunk) -> Prepared:
    """`prepared` with the lines of its chunk (which helpers do not send back)."""
    prepared.raw = chunk.raw
    return prepared


def _prepared_here(chunk: Chunk, text_field: str, near: NearDupConfig | None) -> Future[Prepared]:
    """`chunk` prepared in this process (while the helpers are all busy), as a done future."""
    future: Future[Prepared] = Future()
    future.set_result(prepare(chunk, text_field, near))
    return future


def _helper_start(parent: int) -> None:
    """A helper leaves Ctrl-C to the process that started it, and on Linux dies with it
    even when that one is killed outright (its task pipe never closes: every helper holds
    both ends of it)."""
    signal.signal(signal.SIGINT, signal.SIG_IGN)
    if sys.platform == "linux":
        ctypes.CDLL(None).prctl(PR_SET_PDEATHSIG, signal.SIGKILL)
        if os.getppid() != parent:  # it died before the line above took effect
            os._exit(1)
