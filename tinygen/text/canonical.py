"""Canonical hashing: one way to turn data into a stable identity."""

from __future__ import annotations

import hashlib
import json
import unicodedata
from typing import Any


def canonical_json(value: Any) -> str:
    """JSON with sorted keys and no spaces: equal data gives equal text."""
    return json.dumps(value, sort_keys=True, separators=(",", ":"), ensure_ascii=False)


def sha256_hex(text: str) -> str:
    """Hex sha256 of a UTF-8 string."""
    return hashlib.sha256(text.encode("utf-8")).hexdigest()


def hash_data(value: Any) -> str:
    """Hex sha256 of the canonical JSON of `value`."""
    return sha256_hex(canonical_json(value))


def normalize_text(text: str) -> str:
    """Unicode NFKC, casefolded, whitespace collapsed: the key for exact dedup."""
    return " ".join(unicodedata.normalize("NFKC", text).casefold().split())


def normalized_key(normalized: str) -> bytes:
    """16-byte digest of an already normalized text (compact in memory)."""
    return hashlib.blake2b(normalized.encode("utf-8"), digest_size=16).digest()


def text_key(text: str) -> bytes:
    """The exact-dedup key of a text: the digest of its normalized form."""
    return normalized_key(normalize_text(text))
