"""A worker process of engine/pool.py: asks the items the main process sends it.

Forked from the main process, or run as `python -m tinygen.engine.worker`
(engine/children.py says which), with pipes on stdin and stdout, speaking the messages
of engine/messages.py. It reads a `WorkerSetup` (the resolved recipe travels in it: no
recipe, list or template file is read here) and answers `Ready`, or `Refused` and why;
then it reads `Ask` (indexes), `Drain` (hand back the queue) and `Cancel` (that, and
cancel what runs), and answers `Done` batches (finished items and its allowed
concurrency). Indexes beyond its allowed concurrency wait in a queue and start as soon
as a slot frees, so the main process's round trip never leaves a slot idle. It ignores
SIGINT, SIGTERM and SIGHUP (the main process decides how to stop) and exits when its
stdin closes.
"""

from __future__ import annotations

import asyncio
import os
import signal
import sys
import traceback
from collections import deque

from tinygen.dedup.minhash import NearDupConfig, band_keys, signatures
from tinygen.dedup.seen import near_config
from tinygen.engine import messages
from tinygen.engine.asker import Asker, Finished, Kind
from tinygen.engine.messages import (
    Ask,
    Cancel,
    Crash,
    Done,
    Drain,
    Fatal,
    FromWorker,
    Ready,
    Refused,
    WorkerSetup,
)
from tinygen.errors import TinygenError
from tinygen.loading import without_gc
from tinygen.teachers.backpressure import AdaptiveConcurrency
from tinygen.teachers.base import TeacherCallError
from tinygen.teachers.factory import make_judge_teacher, make_teacher
from tinygen.teachers.limits import Gate
from tinygen.teachers.retry import RetryPolicy
from tinygen.teachers.router import endpoint_counts


def build_asker(setup: WorkerSetup) -> Asker:
    """Rebuild the run on this side: recipe, teacher, this worker's gate and retries."""
    resolved = setup.recipe
    if not resolved.fingerprint_holds():
        raise TinygenError(
            f"recipe {resolved.name} does not match its fingerprint "
            f"{resolved.fingerprint[:12]} in a worker process",
            "rerun with --workers 1 (and please report this: it is a bug)",
        )
    gate = Gate(setup.budget, setup.prices, setup.tpm)
    concurrency = AdaptiveConcurrency(setup.teacher.concurrency)
    policy = RetryPolicy(max_attempts=setup.max_attempts)
    judge = make_judge_teacher(setup.teacher)
    return Asker(
        resolved, make_teacher(setup.teacher), gate, policy, concurrency, judge_teacher=judge
    )


class Worker:
    """Runs asks as tasks and sends finished ones back in batches."""

    def __init__(self, asker: Asker, writer: asyncio.StreamWriter) -> None:
        self.asker = asker
        self._writer = writer
        self._near: NearDupConfig | None = near_config(asker.resolved)
        self._queued: deque[int] = deque()
        self._tasks: set[asyncio.Task] = set()
        self._calling = 0  # tasks asking the teacher (the rest are checking answers)
        self._outbox: list[Finished] = []
        self._flush_due = False
        asker.concurrency.on_room = self._start_queued  # an item went to wait for a retry

    def take(self, indexes: tuple[int, ...]) -> None:
        """Queue `indexes`; they start as the allowed concurrency leaves room."""
        self._queued.extend(indexes)
        self._start_queued()

    def _start_queued(self) -> None:
        room = self.asker.concurrency.room(self._calling)
        for _ in range(min(room, len(self._queued))):
            self._calling += 1
            self._tasks.add(asyncio.create_task(self._run(self._queued.popleft())))

    def drain(self) -> None:
        """Hand back what waits in the queue, as CANCELLED (it was never sent)."""
        while self._queued:
            self._finished(Finished(self._queued.popleft(), Kind.CANCELLED))

    def cancel(self) -> None:
        """Cancel what runs, and hand back what waits, as CANCELLED."""
        self.drain()
        for task in self._tasks:
            task.cancel()

    async def finish(self) -> None:
        """Cancel what is in flight and send the last batch."""
        self.cancel()
        if self._tasks:
            await asyncio.gather(*self._tasks, return_exceptions=True)
        self._flush()
        await self._writer.drain()

    async def _run(self, index: int) -> None:
        try:
            finished = await self._ask(index)
        except asyncio.CancelledError:
            finished = Finished(index, Kind.CANCELLED)
        except TeacherCallError as fatal:
            self.send(Fatal(fatal.kind, fatal.message, fatal.status))
            finished = Finished(index, Kind.CANCELLED)
        except Exception:
            self.send(Crash(traceback.format_exc()))
            finished = Finished(index, Kind.CANCELLED)
        if (task := asyncio.current_task()) is not None:
            self._tasks.discard(task)
        self._finished(finished)

    async def _ask(self, index: int) -> Finished:
        """Ask, free the request slot for the next queued item, and let that request go
        out before this answer is checked (checks never delay the next request)."""
        try:
            asked = await self.asker.call(index)
        finally:
            self._calling -= 1
            self._start_queued()
        await asyncio.sleep(0)
        return await self.asker.judge(asked)

    def _finished(self, finished: Finished) -> None:
        self._outbox.append(finished)
        if not self._flush_due:
            self._flush_due = True
            asyncio.get_running_loop().call_soon(self._flush)

    def _flush(self) -> None:
        """Send everything finished since the last flush, MinHash-signed (with the
        signatures' band keys) in one batch."""
        self._flush_due = False
        if not self._outbox:
            return
        batch, self._outbox = self._outbox, []
        texts = [(finished, finished.text) for finished in batch if finished.text is not None]
        if texts and self._near is not None:
            signed = signatures([text for _, text in texts], self._near)
            bands = band_keys(signed, self._near).tolist()
            for (finished, _), signature, keys in zip(texts, signed, bands, strict=True):
                finished.signature, finished.bands = signature, keys
        for finished, _ in texts:
            finished.text = None
        limit = self.asker.concurrency
        counts = tuple(endpoint_counts(self.asker.teacher))
        self.send(Done(tuple(batch), limit.current, limit.reason, counts))

    def send(self, message: FromWorker) -> None:
        if not self._writer.is_closing():
            self._writer.write(messages.encode(message))

    async def follow(self, reader: asyncio.StreamReader) -> None:
        """Do what the main process says until its pipe closes; then finish. Something
        that is not one of its messages ends the worker with `Refused`."""
        try:
            while (message := await messages.read(reader)) is not None:
                match message:
                    case Ask(indexes):
                        self.take(indexes)
                    case Drain():
                        self.drain()
                    case Cancel():
                        self.cancel()
                    case _:
                        raise messages.unexpected(message)
        except TinygenError as exc:
            self.send(Refused(exc.message, exc.hint))
        await self.finish()


async def serve() -> None:
    """Read the setup, then ask what the main process sends until stdin closes."""
    loop = asyncio.get_running_loop()
    reader = asyncio.StreamReader()
    await loop.connect_read_pipe(lambda: asyncio.StreamReaderProtocol(reader), sys.stdin)
    out = os.fdopen(_private_stdout(), "wb")
    transport, protocol = await loop.connect_write_pipe(asyncio.streams.FlowControlMixin, out)
    writer = asyncio.StreamWriter(transport, protocol, None, loop)
    try:
        match await messages.read(reader):
            case WorkerSetup() as setup:
                with without_gc():  # it imports the HTTP transport
                    asker = build_asker(setup)
            case None:
                return
            case message:
                raise messages.unexpected(message)
    except TinygenError as exc:
        writer.write(messages.encode(Refused(exc.message, exc.hint)))
        await writer.drain()
        return
    asker.warm_up_soon()  # the word tables load while the first requests are out
    worker = Worker(asker, writer)
    worker.send(Ready())
    try:
        await worker.follow(reader)
    finally:
        await asker.aclose()


def _private_stdout() -> int:
    """A private copy of stdout for frames; fd 1 then points at stderr, so a stray
    print cannot corrupt the stream."""
    fd = os.dup(1)
    os.dup2(2, 1)
    return fd


def main() -> None:
    signal.signal(signal.SIGINT, signal.SIG_IGN)
    signal.signal(signal.SIGTERM, signal.SIG_IGN)
    signal.signal(signal.SIGHUP, signal.SIG_IGN)
    asyncio.run(serve())
    # everything is sent (and drained) and nothing is left to write: exit without the
    # interpreter's teardown of every module, which the main process would wait for
    sys.stderr.flush()
    os._exit(0)


if __name__ == "__main__":
    main()
