"""A worker process of engine/pool.py: asks the items the main process sends it.

Run as `python -m tinygen.engine.worker` with pipes on stdin and stdout. It reads a
`WorkerSetup` and answers `("ready",)`; then it reads `("ask", [indexes])`,
`("drain",)` (hand back the queue) and `("cancel",)` (that, and cancel what runs), and
answers `("done", [Finished...], allowed_concurrency)` batches. Indexes beyond its
allowed concurrency wait in a queue and start as soon as a slot frees, so the main
process's round trip never leaves a slot idle. It ignores SIGINT and SIGTERM (the main
process decides how to stop) and exits when its stdin closes.
"""

from __future__ import annotations

import asyncio
import gc
import os
import signal
import sys
import traceback
from collections import deque

from tinygen.dedup.minhash import NearDupConfig, signatures
from tinygen.dedup.seen import near_config
from tinygen.engine import frames
from tinygen.engine.asker import Asker, Finished, Kind
from tinygen.engine.pool import WorkerSetup
from tinygen.errors import TinygenError
from tinygen.recipe.load import load_recipe
from tinygen.teachers.base import TeacherCallError
from tinygen.teachers.factory import make_teacher
from tinygen.teachers.limits import AdaptiveConcurrency, Gate
from tinygen.teachers.retry import RetryPolicy


def build_asker(setup: WorkerSetup) -> Asker:
    """Rebuild the run on this side: recipe, teacher, this worker's gate and retries."""
    resolved = load_recipe(setup.recipe, setup.overrides, setup.allow_paths)
    if resolved.fingerprint != setup.fingerprint:
        raise TinygenError(
            f"recipe {setup.recipe} changed while the run was starting",
            "rerun the same command",
        )
    gate = Gate(setup.budget, setup.prices, setup.tpm)
    concurrency = AdaptiveConcurrency(setup.teacher.concurrency)
    policy = RetryPolicy(max_attempts=setup.max_attempts)
    return Asker(resolved, make_teacher(setup.teacher), gate, policy, concurrency)


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

    def take(self, indexes: list[int]) -> None:
        """Queue `indexes`; they start as the allowed concurrency leaves room."""
        self._queued.extend(indexes)
        self._start_queued()

    def _start_queued(self) -> None:
        room = self.asker.concurrency.current - self._calling
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
            self.send(("fatal", fatal.kind, fatal.message, fatal.status))
            finished = Finished(index, Kind.CANCELLED)
        except Exception:
            self.send(("crash", traceback.format_exc()))
            finished = Finished(index, Kind.CANCELLED)
        self._tasks.discard(asyncio.current_task())  # type: ignore[arg-type]
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
        """Send everything finished since the last flush, MinHash-signed in one batch."""
        self._flush_due = False
        if not self._outbox:
            return
        batch, self._outbox = self._outbox, []
        texts = [finished for finished in batch if finished.text is not None]
        if texts and self._near is not None:
            signed = signatures([finished.text for finished in texts], self._near)  # type: ignore[misc]
            for finished, signature in zip(texts, signed, strict=True):
                finished.signature = signature
        for finished in texts:
            finished.text = None
        self.send(("done", batch, self.asker.concurrency.current))

    def send(self, message: object) -> None:
        if not self._writer.is_closing():
            self._writer.write(frames.encode(message))


async def serve() -> None:
    """Read the setup, then ask what the main process sends until stdin closes."""
    loop = asyncio.get_running_loop()
    reader = asyncio.StreamReader()
    await loop.connect_read_pipe(lambda: asyncio.StreamReaderProtocol(reader), sys.stdin)
    out = os.fdopen(_private_stdout(), "wb")
    transport, protocol = await loop.connect_write_pipe(asyncio.streams.FlowControlMixin, out)
    writer = asyncio.StreamWriter(transport, protocol, None, loop)
    setup = await frames.read(reader)
    if setup is None:
        return
    try:
        asker = build_asker(setup)  # type: ignore[arg-type]
        asker.warm_up()
    except TinygenError as exc:
        writer.write(frames.encode(("error", exc.message, exc.hint)))
        await writer.drain()
        return
    gc.freeze()  # the word tables are permanent: keep them out of every GC pass
    worker = Worker(asker, writer)
    worker.send(("ready",))
    try:
        while (message := await frames.read(reader)) is not None:
            if message[0] == "ask":  # type: ignore[index]
                worker.take(message[1])  # type: ignore[index]
            elif message[0] == "drain":  # type: ignore[index]
                worker.drain()
            elif message[0] == "cancel":  # type: ignore[index]
                worker.cancel()
        await worker.finish()
    finally:
        await asker.teacher.aclose()


def _private_stdout() -> int:
    """A private copy of stdout for frames; fd 1 then points at stderr, so a stray
    print cannot corrupt the stream."""
    fd = os.dup(1)
    os.dup2(2, 1)
    return fd


def main() -> None:
    signal.signal(signal.SIGINT, signal.SIG_IGN)
    signal.signal(signal.SIGTERM, signal.SIG_IGN)
    asyncio.run(serve())


if __name__ == "__main__":
    main()
