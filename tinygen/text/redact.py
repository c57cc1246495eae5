"""Secrets never reach a file or the terminal: known values are masked in any text that
came from a server or an exception before it is written or printed.

Whoever is handed a secret (the HTTP teacher, its API key) registers it; error types
(`TeacherCallError`, `TinygenError`), the run log and the CLI's error lines redact.
"""

from __future__ import annotations

MASK = "[redacted]"
MIN_SECRET_CHARS = 6  # shorter values are placeholders ("k", "none"), masking them mangles text

_secrets: set[str] = set()


def register_secret(value: str | None) -> None:
    """Mask `value` from now on in every text this process redacts."""
    if value and len(value) >= MIN_SECRET_CHARS:
        _secrets.add(value)


def redact(text: str) -> str:
    """`text` with every registered secret replaced by MASK."""
    for secret in _secrets:
        if secret in text:
            text = text.replace(secret, MASK)
    return text
