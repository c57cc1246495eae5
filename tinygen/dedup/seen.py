"""What a run has already accepted: exact text keys and near-duplicate signatures.

Exact keys are rebuilt from the shards on every resume (the scan reads them anyway).
Near-duplicate signatures are appended to `DIR/.tinygen/neardup.sig` as records are
accepted, so a resume loads them instead of reshingling every shard; records the file
lacks (a crash between the shard line and the signature) are added from the shards,
and signatures of records that are not in the shards are dropped.
"""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import numpy as np

from tinygen.checks.base import Rejection
from tinygen.dedup.index import NearDupIndex
from tinygen.dedup.minhash import NearDupConfig
from tinygen.dedup.sigfile import SignatureFileError, SignatureLog
from tinygen.recipe.model import ResolvedRecipe
from tinygen.rundir.jsonl import SHARD_LINE, read_records
from tinygen.rundir.layout import SIGNATURES, STATE_DIR, shard_paths
from tinygen.rundir.store import ScanResult


class SeenTexts:
    """Refuses a text whose normalized form, or a near copy of it, was accepted before."""

    def __init__(
        self,
        text_keys: dict[bytes, int],
        near: NearDupIndex | None = None,
        log: SignatureLog | None = None,
    ) -> None:
        self._keys = text_keys
        self._near = near
        self._log = log
        self._pending: tuple[int, np.ndarray, list[int]] | None = None

    @classmethod
    def resume(cls, out_dir: Path, resolved: ResolvedRecipe, scan: ScanResult) -> SeenTexts:
        """Start from the records already in the shards."""
        config = near_config(resolved)
        if config is None:
            return cls(scan.text_keys)
        path = out_dir / STATE_DIR / SIGNATURES
        index = _load_index(path, config)
        _reconcile(index, out_dir, set(scan.text_keys.values()))
        path.parent.mkdir(exist_ok=True)
        index.save(path)
        return cls(scan.text_keys, index, SignatureLog(path, config))

    def check_and_add(
        self,
        index: int,
        key: bytes,
        text: str | None,
        signature: np.ndarray | None = None,
        bands: list[int] | None = None,
    ) -> Rejection | None:
        """A rejection if the text with exact `key` (or a near copy) was accepted before.

        The exact key is remembered at once; the near-duplicate `signature` (computed
        from `text` if not given, as its LSH `bands` are) when the record is reported
        `accepted`.
        """
        first = self._keys.setdefault(key, index)
        if first != index:
            return Rejection("duplicate", f"same normalized text as item {first}")
        if self._near is None:
            return None
        if signature is None:
            assert text is not None
            signature = self._near.signature(text)
        if bands is None:
            bands = self._near.band_keys(signature[None, :])[0].tolist()
        match = self._near.query(signature, bands)
        if match is not None:
            del self._keys[key]
            other, jaccard = match
            return Rejection(
                "near_duplicate", f"near copy of item {other} (Jaccard ~{jaccard:.2f})", jaccard
            )
        self._pending = (index, signature, bands)
        return None

    def accepted(self) -> None:
        """The text last passed went into a shard: index its signature, append it to the file."""
        if self._pending is None or self._near is None or self._log is None:
            return
        key, signature, bands = self._pending
        self._pending = None
        self._near.add(key, signature, bands)
        self._log.append(key, signature)

    def close(self) -> None:
        if self._log is not None:
            self._log.close()


def near_config(resolved: ResolvedRecipe) -> NearDupConfig | None:
    """The recipe's near-duplicate settings, or None if it switches them off."""
    checks = resolved.recipe.checks
    if not checks.near_duplicates:
        return None
    return NearDupConfig(threshold=checks.near_duplicate_threshold)


def _load_index(path: Path, config: NearDupConfig) -> NearDupIndex:
    """The saved index, or an empty one if there is none or it was made otherwise."""
    if not path.exists():
        return NearDupIndex(config)
    try:
        return NearDupIndex.load(path, config, int_keys=True)
    except SignatureFileError:
        return NearDupIndex(config)


def _reconcile(index: NearDupIndex, out_dir: Path, accepted: set[int]) -> None:
    """Make the index hold exactly the accepted records' signatures."""
    index.drop(set(index.keys()) - accepted)
    missing = accepted - set(index.keys())
    for key, text in _shard_texts(out_dir, missing):
        index.add(key, index.signature(text))


def _shard_texts(out_dir: Path, wanted: set[int]) -> Iterator[tuple[int, str]]:
    """(index as key, text) of the shard records in `wanted` (reads shards only if any)."""
    if not wanted:
        return
    for shard in shard_paths(out_dir):
        for record in read_records(shard, SHARD_LINE):
            if record["index"] in wanted:
                yield record["index"], record["text"]
