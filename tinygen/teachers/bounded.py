"""Reading an HTTP body up to a bound, decompressing as it goes.

A hostile or broken endpoint can send a 96 KB gzip body that decodes to 100 MB, or a
50 MB answer to a 600-token request. The body is read raw and decoded here with zlib's
`max_length`, so no more than the bound (plus one chunk) is ever held in memory.
"""

from __future__ import annotations

import zlib
from collections.abc import AsyncIterator

import httpx2

ACCEPT_ENCODING = "gzip, deflate"  # what `read_bounded` decodes: asked for explicitly
_DECODED = {"gzip", "x-gzip", "deflate"}
_AUTO_HEADER = 32 + zlib.MAX_WBITS  # zlib or gzip header, detected


class BodyTooLarge(Exception):
    """The body passed the bound; `prefix` is what was read of it."""

    def __init__(self, prefix: bytes, bound: int) -> None:
        super().__init__(f"more than {bound:,} bytes")
        self.prefix = prefix
        self.bound = bound


class BadEncoding(Exception):
    """The body's Content-Encoding is one tinygen did not ask for, or is corrupt."""


async def read_bounded(response: httpx2.Response, bound: int) -> bytes:
    """The decoded body, or BodyTooLarge as soon as it passes `bound` bytes."""
    if _plain_length(response) <= bound:  # the usual answer: read whole, in one go
        return await response.aread()
    body = bytearray()
    async for piece in _decoded(response, bound):
        body += piece
        if len(body) > bound:
            raise BodyTooLarge(bytes(body[:bound]), bound)
    return bytes(body)


def _plain_length(response: httpx2.Response) -> float:
    """The announced length of an uncompressed body (infinite if unknown or encoded: the
    transport stops at Content-Length, so a body that announces it cannot pass it)."""
    encoding = response.headers.get("content-encoding", "identity").strip().lower()
    length = response.headers.get("content-length", "")
    if encoding not in ("", "identity") or not length.isdigit():
        return float("inf")
    return int(length)


async def _decoded(response: httpx2.Response, bound: int) -> AsyncIterator[bytes]:
    encoding = response.headers.get("content-encoding", "identity").strip().lower()
    if encoding in ("", "identity"):
        async for chunk in response.aiter_raw():
            yield chunk
        return
    if encoding not in _DECODED:
        raise BadEncoding(f"Content-Encoding {encoding!r} was not asked for")
    decoder = zlib.decompressobj(_AUTO_HEADER)
    try:
        async for chunk in response.aiter_raw():
            data = chunk
            while data:  # at most bound + 1 bytes out per call, the rest waits
                yield decoder.decompress(data, bound + 1)
                data = decoder.unconsumed_tail
        yield decoder.flush()
        if not decoder.eof:
            raise BadEncoding(f"the {encoding} body ends before its end marker")
    except zlib.error as exc:
        raise BadEncoding(f"the {encoding} body is corrupt: {exc}") from None
