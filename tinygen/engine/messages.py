"""The messages between the main process and its worker processes, and their framing.

    main process -> worker: WorkerSetup (once, first), then Ask, Drain, Cancel
    worker -> main process: Ready or Refused (the answer to the setup), then Done batches;
                            Fatal or Crash when an ask must end the run, Refused when it
                            was sent something it cannot read

Each message is a frame: 4 bytes of length, then the pickled message. Only tinygen's own
processes read these frames (a parent and the children it started), so pickle is safe
here; a frame that holds anything but one of these messages is refused.
"""

from __future__ import annotations

import asyncio
import pickle
import struct
from dataclasses import dataclass

from tinygen.engine.asker import Finished
from tinygen.errors import TinygenError
from tinygen.recipe.model import ResolvedRecipe
from tinygen.teachers.factory import TeacherOptions
from tinygen.teachers.limits import Budget
from tinygen.teachers.prices import Prices
from tinygen.teachers.router import EndpointCounts

_LENGTH = struct.Struct(">I")
_HINT = "rerun with --workers 1 (and TINYGEN_DEBUG=1 for the traceback)"


@dataclass(frozen=True, slots=True)
class WorkerSetup:
    """Everything one worker is told when it starts: the resolved recipe (with its
    fingerprint), the teacher options (key included: it travels over the pipe, never on a
    command line or in the environment) and its share of the limits."""

    recipe: ResolvedRecipe
    teacher: TeacherOptions
    max_attempts: int
    budget: Budget
    prices: Prices | None
    tpm: float | None


@dataclass(frozen=True, slots=True)
class Ask:
    """Ask these items (they wait in the worker's queue until a slot frees)."""

    indexes: tuple[int, ...]


@dataclass(frozen=True, slots=True)
class Drain:
    """Hand back the items still waiting in the queue (running asks go on)."""


@dataclass(frozen=True, slots=True)
class Cancel:
    """Cancel the running asks and hand back the queue."""


@dataclass(frozen=True, slots=True)
class Ready:
    """The worker rebuilt the run and waits for asks."""


@dataclass(frozen=True, slots=True)
class Refused:
    """The worker cannot go on: its setup failed, or it was sent something it cannot read."""

    message: str
    hint: str | None


@dataclass(frozen=True, slots=True)
class Done:
    """Items that finished, and the concurrency the worker allows itself now (and why it
    is under its maximum, if it is)."""

    batch: tuple[Finished, ...]
    concurrency: int
    reason: str = ""
    endpoints: tuple[EndpointCounts, ...] = ()  # the worker's counts so far, per endpoint


@dataclass(frozen=True, slots=True)
class Fatal:
    """The teacher refused for good (a bad key, a wrong URL): the run must stop."""

    kind: str
    message: str
    status: int | None


@dataclass(frozen=True, slots=True)
class Crash:
    """An ask raised an unexpected exception (its traceback)."""

    traceback: str


ToWorker = WorkerSetup | Ask | Drain | Cancel
FromWorker = Ready | Refused | Done | Fatal | Crash
Message = ToWorker | FromWorker
KINDS = (WorkerSetup, Ask, Drain, Cancel, Ready, Refused, Done, Fatal, Crash)


def encode(message: Message) -> bytes:
    """One frame: 4 bytes of length, then the pickled message."""
    body = pickle.dumps(message, protocol=pickle.HIGHEST_PROTOCOL)
    return _LENGTH.pack(len(body)) + body


async def read(reader: asyncio.StreamReader) -> Message | None:
    """The next message, or None at the end of the stream (a torn last frame included).

    A frame that does not unpickle, or holds anything but a message, is a TinygenError."""
    try:
        head = await reader.readexactly(_LENGTH.size)
        body = await reader.readexactly(_LENGTH.unpack(head)[0])
    except asyncio.IncompleteReadError:
        return None
    try:
        message = pickle.loads(body)
    except Exception as exc:
        raise TinygenError(f"a worker pipe carried an unreadable frame: {exc!r}", _HINT) from None
    if not isinstance(message, KINDS):
        raise unexpected(message)
    return message


def unexpected(message: object) -> TinygenError:
    """The error for a message that has no place where it arrived."""
    return TinygenError(
        f"a worker pipe carried an unexpected message: {type(message).__name__}", _HINT
    )
