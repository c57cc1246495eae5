"""read_bounded: a body read through httpx2 up to a bound, decompressed as it streams.

The responses come from httpx2's MockTransport through a real AsyncClient, with a body
stream that yields the given chunks one by one and counts how many were pulled.
"""

from __future__ import annotations

import asyncio
import gzip
import zlib

import httpx2
import pytest

from tinygen.teachers.bounded import BadEncoding, BodyTooLarge, read_bounded

BODY = b'{"choices": [{"message": {"content": "A short story."}}]}'
KIB = 1024


class Chunks(httpx2.AsyncByteStream):
    """A response body sent in the given chunks; `pulled` counts those read."""

    def __init__(self, chunks: list[bytes]) -> None:
        self.chunks = chunks
        self.pulled = 0

    async def __aiter__(self):
        for chunk in self.chunks:
            self.pulled += 1
            yield chunk


def split(data: bytes, size: int) -> list[bytes]:
    return [data[i : i + size] for i in range(0, len(data), size)]


def read(
    body: list[bytes] | Chunks, bound: int, encoding: str | None = None, length: int | None = None
) -> bytes:
    """Send `body` as a response with `encoding` (and a Content-Length of `length`) and
    read it with `bound`."""
    stream = body if isinstance(body, Chunks) else Chunks(body)
    headers = {"content-encoding": encoding} if encoding is not None else {}
    if length is not None:
        headers["content-length"] = str(length)

    def answer(request: httpx2.Request) -> httpx2.Response:
        return httpx2.Response(200, headers=headers, stream=stream)

    async def main() -> bytes:
        async with httpx2.AsyncClient(transport=httpx2.MockTransport(answer)) as client:
            request = client.build_request("POST", "http://teacher.test/v1/chat/completions")
            response = await client.send(request, stream=True)
            try:
                return await read_bounded(response, bound)
            finally:
                await response.aclose()

    return asyncio.run(main())


@pytest.mark.parametrize("encoding", [None, "identity", ""])
def test_an_identity_body_under_the_bound_is_read_whole(encoding):
    assert read(split(BODY, 7), 1000, encoding) == BODY


def test_an_identity_body_over_the_bound_stops_with_its_prefix():
    stream = Chunks(split(b"x" * 10 * KIB, KIB))
    with pytest.raises(BodyTooLarge) as raised:
        read(stream, 2500)
    assert raised.value.prefix == b"x" * 2500
    assert raised.value.bound == 2500
    assert stream.pulled == 3  # stopped as soon as the bound was passed


def test_a_body_exactly_at_the_bound_is_read():
    assert read([b"y" * 100], 100) == b"y" * 100


@pytest.mark.parametrize("encoding", ["gzip", "x-gzip", " GZIP "])
def test_gzip_is_decoded(encoding):
    assert read(split(gzip.compress(BODY), 5), 1000, encoding) == BODY


def test_deflate_is_decoded():
    assert read(split(zlib.compress(BODY), 5), 1000, "deflate") == BODY


def test_a_gzip_bomb_is_cut_off_early():
    bomb = gzip.compress(b"\0" * (64 * KIB * KIB), compresslevel=9)  # 64 MiB in ~64 KiB
    stream = Chunks(split(bomb, KIB))
    with pytest.raises(BodyTooLarge) as raised:
        read(stream, 256 * KIB, "gzip")
    assert raised.value.prefix == b"\0" * (256 * KIB)
    assert len(stream.chunks) > 50
    assert stream.pulled <= 3  # a few KiB of the body, not all of it


def test_a_decoded_body_over_the_bound_keeps_its_decoded_start():
    text = bytes(range(256)) * 64
    with pytest.raises(BodyTooLarge) as raised:
        read([gzip.compress(text)], 1000, "gzip")
    assert raised.value.prefix == text[:1000]


@pytest.mark.parametrize("encoding", ["br", "zstd", "compress"])
def test_an_encoding_not_asked_for_is_refused(encoding):
    with pytest.raises(BadEncoding, match=f"Content-Encoding '{encoding}' was not asked for"):
        read([BODY], 1000, encoding)


def test_a_corrupt_gzip_body_is_refused():
    with pytest.raises(BadEncoding, match="the gzip body is corrupt"):
        read([b"\x1f\x8b\x08\x00garbage that is not deflate"], 1000, "gzip")
    with pytest.raises(BadEncoding, match="the deflate body is corrupt"):
        read([BODY], 1000, "deflate")  # plain bytes labelled deflate


def test_a_gzip_body_cut_short_is_refused():
    with pytest.raises(BadEncoding, match="the gzip body ends before its end marker"):
        read([gzip.compress(BODY)[:-48]], 1000, "gzip")


def test_an_announced_length_under_the_bound_is_read_in_one_go():
    assert read(split(BODY, 7), len(BODY), length=len(BODY)) == BODY


def test_an_announced_length_over_the_bound_is_still_cut_off_while_reading():
    stream = Chunks([b"x" * KIB] * 1000)
    with pytest.raises(BodyTooLarge):
        read(stream, 10 * KIB, length=1000 * KIB)
    assert stream.pulled <= 11
