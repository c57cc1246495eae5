"""Length-prefixed pickled messages over a pipe between tinygen and its worker processes.

Only tinygen's own processes read these frames (a parent and the children it started),
so pickle is safe here.
"""

from __future__ import annotations

import asyncio
import pickle
import struct

_LENGTH = struct.Struct(">I")


def encode(message: object) -> bytes:
    """One frame: 4 bytes of length, then the pickled message."""
    body = pickle.dumps(message, protocol=pickle.HIGHEST_PROTOCOL)
    return _LENGTH.pack(len(body)) + body


async def read(reader: asyncio.StreamReader) -> object | None:
    """The next message, or None at the end of the stream."""
    try:
        head = await reader.readexactly(_LENGTH.size)
        body = await reader.readexactly(_LENGTH.unpack(head)[0])
    except asyncio.IncompleteReadError:
        return None
    return pickle.loads(body)
