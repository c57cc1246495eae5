"""The signature file: MinHash signatures of accepted texts, one CRC-checked record each.

Layout: `MAGIC`, then one JSON line with the settings that shape signatures (format,
num_perm, shingle, seed, rensa's algorithm version, bits), then records of

    key length (uint16 LE) | key (UTF-8; an int as its decimal text)
    | signature (num_perm x uint16 LE) | CRC32 (uint32 LE) of everything before it

`SignatureLog` appends one flushed record per accepted text during a run; `NearDupIndex`
`save`/`load` write and read a whole index in the same format. A torn or corrupt tail
left by a crash is detected by its CRC and cut off, so appends continue from the last
intact record. A file that is not ours, or was written with other settings, raises
`SignatureFileError`.
"""

from __future__ import annotations

import json
import os
import struct
import zlib
from collections.abc import Iterator
from pathlib import Path
from typing import BinaryIO

import numpy as np
import rensa

from tinygen.dedup.minhash import SIG_DTYPE, NearDupConfig
from tinygen.errors import TinygenError

FORMAT = "tinygen-neardup/1"
MAGIC = b"TGND1\n"


class SignatureFileError(TinygenError):
    """A signature file is not ours, or was written with other settings."""


def _header(config: NearDupConfig) -> bytes:
    """First line of a signature file: format and the settings that shape signatures."""
    fields = {
        "format": FORMAT,
        "num_perm": config.num_perm,
        "shingle": config.shingle,
        "seed": config.seed,
        "rensa": rensa.RMinHash.ALGORITHM_VERSION,
        "bits": 16,
    }
    return MAGIC + json.dumps(fields, sort_keys=True).encode() + b"\n"


def _record(key: str | int, sig: np.ndarray) -> bytes:
    """One record: key length, key (an int as its decimal text), signature, CRC32 of all."""
    raw = key.encode() if isinstance(key, str) else str(key).encode()
    body = struct.pack("<H", len(raw)) + raw + sig.astype("<u2").tobytes()
    return body + struct.pack("<I", zlib.crc32(body))


class SignatureLog:
    """Append-only signature file: one flushed record per accepted text."""

    def __init__(self, path: Path, config: NearDupConfig, *, fresh: bool = False) -> None:
        self.path, self.config = path, config
        if not fresh and _has_records_or_header(path, config):
            _check_header(path, config)
            _truncate_to_valid(path, config)
            self._handle: BinaryIO = path.open("ab")
        else:
            self._handle = path.open("wb")
            self._handle.write(_header(config))
            self._handle.flush()

    def append(self, key: str | int, sig: np.ndarray) -> None:
        """Append and flush one record (a crash loses at most this record)."""
        self._handle.write(_record(key, sig))
        self._handle.flush()

    def close(self) -> None:
        """Flush, sync and close; the file is closed even when the disk is full."""
        if self._handle.closed:
            return
        try:
            self._handle.flush()
            os.fsync(self._handle.fileno())
        finally:
            self._handle.close()

    def __enter__(self) -> SignatureLog:
        return self

    def __exit__(self, *exc_info: object) -> None:
        self.close()


def _has_records_or_header(path: Path, config: NearDupConfig) -> bool:
    """False for a missing file, or one holding only a prefix of the header (torn)."""
    if not path.exists():
        return False
    with path.open("rb") as handle:
        start = handle.read(len(_header(config)))
    return not _header(config).startswith(start) or len(start) == len(_header(config))


def _check_header(path: Path, config: NearDupConfig) -> int:
    """Offset of the first record; raises if the file is foreign or has other settings."""
    with path.open("rb") as handle:
        magic = handle.read(len(MAGIC))
        line = handle.readline()
    if magic != MAGIC or not line.endswith(b"\n"):
        raise SignatureFileError(
            f"{path} is not a tinygen signature file", "delete it: it is rebuilt from the shards"
        )
    if line != _header(config)[len(MAGIC) :]:
        raise SignatureFileError(
            f"{path} was written with other near-dup settings ({line.decode().strip()})",
            "delete it: it is rebuilt from the shards with the current settings",
        )
    return len(MAGIC) + len(line)


def _scan_records(path: Path, config: NearDupConfig) -> Iterator[tuple[int, str, np.ndarray]]:
    """(end offset, key, signature) of each intact record, stopping at the first bad one."""
    offset = _check_header(path, config)
    width = 2 * config.num_perm
    with path.open("rb") as handle:
        handle.seek(offset)
        while len(prefix := handle.read(2)) == 2:
            (size,) = struct.unpack("<H", prefix)
            rest = handle.read(size + width + 4)
            if len(rest) < size + width + 4:
                return
            body = prefix + rest[:-4]
            if struct.unpack("<I", rest[-4:])[0] != zlib.crc32(body):
                return
            offset += 2 + len(rest)
            sig = np.frombuffer(rest, dtype="<u2", count=config.num_perm, offset=size)
            yield offset, rest[:size].decode(), sig.astype(SIG_DTYPE)


def _truncate_to_valid(path: Path, config: NearDupConfig) -> bool:
    """Cut the file after its last intact record; True if anything was cut."""
    end = _check_header(path, config)
    for end, _key, _sig in _scan_records(path, config):  # noqa: B007
        pass
    if end == path.stat().st_size:
        return False
    _truncate(path, end)
    return True


def _truncate(path: Path, size: int) -> None:
    with path.open("rb+") as handle:
        handle.truncate(size)
        handle.flush()
        os.fsync(handle.fileno())


def read_signatures(path: Path, config: NearDupConfig) -> Iterator[tuple[str, np.ndarray]]:
    """(key, signature) of each intact record; once all are read, a torn or corrupt tail
    is cut off so that appends continue from the last intact record."""
    end = _check_header(path, config)
    for end, key, sig in _scan_records(path, config):  # noqa: B007
        yield key, sig
    if end != path.stat().st_size:
        _truncate(path, end)
