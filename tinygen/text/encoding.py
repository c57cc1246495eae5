"""Text that cannot be written as UTF-8: lone surrogates, found and repaired.

JSON may carry `\\ud83d` (half of an emoji) alone: `json.loads` turns it into a str that
`str.encode("utf-8")` refuses. Such text comes from servers and proxies, never from us;
it is found here, and replaced by U+FFFD wherever it must still be written.
"""

from __future__ import annotations

import re

_SURROGATE = re.compile("[\ud800-\udfff]")
_SURROGATE_ESCAPE = re.compile(rb"\\u[dD][89a-fA-F]")  # \uD800-\uDFFF written as JSON
REPLACEMENT = "\ufffd"


def unencodable_at(text: str) -> int | None:
    """Index of the first character UTF-8 cannot encode (a lone surrogate), or None."""
    try:
        text.encode("utf-8")
    except UnicodeEncodeError as exc:
        return exc.start
    return None


def may_escape_surrogate(raw: bytes) -> bool:
    """Whether a line of JSON could decode to a lone surrogate (it holds a \\uD800-\\uDFFF
    escape; a paired emoji escape matches too). The fast test before a full check."""
    return _SURROGATE_ESCAPE.search(raw) is not None


def describe_unencodable(text: str, at: int) -> str:
    """What is wrong at `at`, for a rejection or an error message."""
    return f"lone surrogate U+{ord(text[at]):04X} at character {at}"


def make_encodable(text: str) -> str:
    """`text` with every lone surrogate replaced by U+FFFD (unchanged if there is none)."""
    if unencodable_at(text) is None:
        return text
    return _SURROGATE.sub(REPLACEMENT, text)
