"""Reading the text files a recipe names: strictly UTF-8, with errors that point at the byte.

Recipes, templates, word lists and vocabulary files all go through `read_text`, so a
Latin-1 or binary file is one clear error naming the file, line and byte offset.
"""

from __future__ import annotations

from pathlib import Path

from tinygen.errors import UsageError

_BOM = b"\xef\xbb\xbf"


def read_text(path: Path, what: str) -> str:
    """The text of `path`, a UTF-8 file (a leading BOM is dropped); `what` names its role.

    A NUL byte, bytes that are not UTF-8, or an unreadable file are a `UsageError`.
    """
    try:
        data = path.read_bytes()
    except OSError as exc:
        raise UsageError(
            f"{path}: cannot read {what}: {exc.strerror or exc}", "check the path and permissions"
        ) from None
    if b"\x00" in data:
        offset = data.index(b"\x00")
        raise UsageError(
            f"{path} line {_line_at(data, offset)}: is a binary file, not a text {what} "
            f"(NUL byte at offset {offset})",
            f"name a plain-text {what} file, saved as UTF-8",
        )
    try:
        return data.removeprefix(_BOM).decode("utf-8")
    except UnicodeDecodeError as exc:
        offset = exc.start + (len(_BOM) if data.startswith(_BOM) else 0)
        raise UsageError(
            f"{path} line {_line_at(data, offset)}: not UTF-8 "
            f"(byte 0x{data[offset]:02x} at offset {offset})",
            f"save {path.name} as UTF-8 (e.g. `iconv -f latin1 -t utf-8`)",
        ) from None


def _line_at(data: bytes, offset: int) -> int:
    """The 1-based line number of byte `offset`."""
    return data.count(b"\n", 0, offset) + 1
