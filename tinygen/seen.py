"""What a run has already accepted: exact text keys and (optionally) near-duplicates."""

from __future__ import annotations

from pathlib import Path

from tinygen.canonical import text_key
from tinygen.checks import Rejection
from tinygen.recipe import ResolvedRecipe
from tinygen.store import ScanResult


class SeenTexts:
    """Refuses a text whose normalized form (or near copy) was accepted before."""

    def __init__(self, text_keys: dict[str, int]) -> None:
        self._keys = text_keys

    @classmethod
    def resume(cls, out_dir: Path, resolved: ResolvedRecipe, scan: ScanResult) -> SeenTexts:
        """Start from the keys of the records already in the shards."""
        return cls(scan.text_keys)

    def check_and_add(self, record: dict) -> Rejection | None:
        """A rejection if `record`'s text was seen; otherwise remember it."""
        key = text_key(record["text"])
        first = self._keys.setdefault(key, record["index"])
        if first != record["index"]:
            return Rejection("duplicate", f"same normalized text as item {first}")
        return None

    def accepted(self, record: dict) -> None:
        """`record` went into a shard (near-duplicate signatures are kept from here)."""

    def close(self) -> None:
        """Flush anything kept on disk."""
