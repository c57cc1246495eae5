"""The signature file: its record layout, torn tails, and files made otherwise."""

from __future__ import annotations

import struct
import zlib

import numpy as np
import pytest

from tinygen.dedup.index import NearDupIndex
from tinygen.dedup.minhash import NearDupConfig, signatures
from tinygen.dedup.sigfile import MAGIC, SignatureFileError, SignatureLog, read_signatures


def test_signature_log_cuts_a_torn_tail(tmp_path) -> None:
    path, config = tmp_path / "sigs.bin", NearDupConfig()
    sigs = signatures(["one two three four", "five six seven eight", "nine ten"], config)
    with SignatureLog(path, config) as log:
        log.append("a", sigs[0])
        log.append("b", sigs[1])
    size = path.stat().st_size
    with path.open("ab") as handle:
        handle.write(b"\x01\x00c" + sigs[2].tobytes()[:100])  # a crash mid-record
    with SignatureLog(path, config) as log:  # reopening cuts the torn record off
        assert path.stat().st_size == size
        log.append("c", sigs[2])
    keys = [key for key, _ in read_signatures(path, config)]
    assert keys == ["a", "b", "c"]
    loaded = NearDupIndex.load(path, config)
    assert np.array_equal(dict(loaded.items())["b"], sigs[1])


def test_signature_file_with_other_settings_is_refused(tmp_path) -> None:
    path = tmp_path / "sigs.bin"
    SignatureLog(path, NearDupConfig()).close()
    with pytest.raises(SignatureFileError, match="other near-dup settings"):
        NearDupIndex.load(path, NearDupConfig(shingle=5))
    path.write_bytes(b"garbage")
    with pytest.raises(SignatureFileError, match="not a tinygen signature file"):
        NearDupIndex.load(path, NearDupConfig())


def test_records_are_laid_out_as_documented(tmp_path) -> None:
    path, config = tmp_path / "sigs.bin", NearDupConfig()
    sig = signatures(["one two three four"], config)[0]
    with SignatureLog(path, config) as log:
        log.append(42, sig)
    data = path.read_bytes()
    header_end = data.index(b"\n", len(MAGIC)) + 1
    assert data.startswith(MAGIC) and b'"format": "tinygen-neardup/1"' in data[:header_end]
    record = data[header_end:]
    body = struct.pack("<H", 2) + b"42" + sig.astype("<u2").tobytes()
    assert record == body + struct.pack("<I", zlib.crc32(body))
