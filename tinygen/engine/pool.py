"""Worker processes that ask items, so a fast endpoint is not held back by one core.

The main process keeps everything that must be single: the output files, dedup, the
counts, the progress display and signals. Workers are forked from it where that is safe
(engine/children.py: a forked worker keeps none of its open files). It hands item
indexes to workers in batches; each worker is sent the resolved recipe (it reads no
recipe, list or template file), builds each item's prompt, calls the teacher with
retries, runs the checks and the MinHash signature, and sends back finished items in
batches (one pipe each way, typed messages: engine/messages.py). Rate limits and budgets
are split evenly between workers, so together they stay under them. A worker whose stdin
closes (the main process ended, even by SIGKILL) cancels what it has in flight and
exits.
"""

from __future__ import annotations

import asyncio
import contextlib
from collections import deque
from dataclasses import dataclass, field, replace

from tinygen.engine import messages
from tinygen.engine.asker import Finished, Kind
from tinygen.engine.children import ForkedWorker, WorkerProcess, start_worker
from tinygen.engine.messages import (
    Ask,
    Cancel,
    Crash,
    Done,
    Drain,
    Fatal,
    Message,
    Ready,
    Refused,
    ToWorker,
    WorkerSetup,
)
from tinygen.errors import TinygenError, UsageError
from tinygen.recipe.model import ResolvedRecipe
from tinygen.teachers.base import TeacherCallError
from tinygen.teachers.factory import TeacherOptions
from tinygen.teachers.limits import Budget, Gate
from tinygen.teachers.router import EndpointCounts, summed
from tinygen.text.cores import available_cores

POOL_MIN_CONCURRENCY = 128  # below this one process keeps up with any endpoint
STDERR_TAIL = 4_000


@dataclass(frozen=True)
class PoolSpec:
    """How many workers, and the teacher options they split (the run's resolved recipe,
    retries and gate come from the run itself: see `worker_setups`)."""

    workers: int
    teacher: TeacherOptions


def worker_count(requested: int | None, options: TeacherOptions, concurrency: int) -> int:
    """Processes to ask with: what the user asked for, if it can be had; by default one
    per core (at most 8) for an endpoint at high concurrency, where one process's CPU is
    the limit, else one (no pool)."""
    local = options.resolved_choice() == "local"
    if requested is None:
        if local or concurrency < POOL_MIN_CONCURRENCY:
            return 1
        return min(available_cores(), 8)
    if requested > 1 and local:
        raise UsageError(
            "--workers needs an endpoint: the local model runs in one process",
            "drop --workers (the local model already uses every core), or pass --base-url",
        )
    if requested > concurrency:
        raise UsageError(
            f"--workers {requested} is more than --concurrency {concurrency}",
            "give each worker at least one request at a time",
        )
    return requested


def worker_setups(
    spec: PoolSpec, resolved: ResolvedRecipe, max_attempts: int, gate: Gate
) -> list[WorkerSetup]:
    """One setup per worker: the resolved recipe, with concurrency, rates and budgets
    split evenly."""
    count, budget, options = spec.workers, gate.budget, spec.teacher
    setups = []
    for k in range(count):
        share = Budget(
            _split_int(budget.max_requests, k, count),
            _split_int(budget.max_tokens, k, count),
            budget.max_cost / count if budget.max_cost is not None else None,
        )
        teacher = replace(
            options,
            concurrency=_split_int(options.concurrency, k, count) or 1,
            rpm=options.rpm / count if options.rpm else None,
            pace_share=options.pace_share / count,
            endpoints=tuple(spec.split(k, count) for spec in options.endpoints),
            judge=options.judge.split(k, count) if options.judge else None,
        )
        tpm = gate.tpm / count if gate.tpm else None
        setups.append(WorkerSetup(resolved, teacher, max_attempts, share, gate.prices, tpm))
    return setups


def _split_int(total: int | None, k: int, count: int) -> int | None:
    if total is None:
        return None
    return total // count + (1 if k < total % count else 0)


@dataclass
class _Worker:
    process: WorkerProcess
    stdin: asyncio.StreamWriter
    stdout: asyncio.StreamReader
    limit: int
    reason: str = ""  # why `limit` is under the worker's maximum
    in_flight: int = 0
    exhausted: bool = False
    endpoints: tuple[EndpointCounts, ...] = ()  # its latest per-endpoint counts
    outgoing: list[int] = field(default_factory=list)
    stderr: deque[bytes] = field(default_factory=lambda: deque(maxlen=64))
    stderr_task: asyncio.Task | None = None

    @property
    def room(self) -> int:
        """Indexes it may still be given: its concurrency, and as many again to queue
        (items being checked or on their way back hold a place too)."""
        if self.exhausted:
            return 0
        return 2 * self.limit - self.in_flight

    def tell(self, message: ToWorker) -> None:
        """Send `message`, unless the pipe is closing (the worker is gone or going)."""
        if not self.stdin.is_closing():
            self.stdin.write(messages.encode(message))


class WorkerPool:
    """The main process's side of the workers: submit indexes, receive finished items."""

    def __init__(self, setups: list[WorkerSetup], gate: Gate) -> None:
        self.setups = setups
        self._gate = gate
        self._workers: list[_Worker] = []
        self._tasks: list[asyncio.Task] = []
        self._done: asyncio.Queue[list[Finished] | BaseException] = asyncio.Queue()
        self._closing = False
        self.maximum = sum(setup.teacher.concurrency for setup in setups)

    async def spawn(self) -> None:
        """Start the workers and send each its setup; they load while the caller goes on,
        and `ready` waits until all are ready (so a bad setup stops the run before any
        request, and the start is sharp)."""
        try:
            for setup in self.setups:
                await self._spawn(setup)
        except BaseException:
            await self.close()
            raise

    async def ready(self) -> None:
        """Wait until every spawned worker is ready to ask."""
        try:
            for worker in self._workers:
                await self._wait_ready(worker)
                self._tasks.append(asyncio.create_task(self._receive(worker)))
        except BaseException:
            await self.close()
            raise

    async def _spawn(self, setup: WorkerSetup) -> None:
        process = await start_worker()
        assert process.stdin is not None and process.stdout is not None  # both are PIPEs
        worker = _Worker(process, process.stdin, process.stdout, setup.teacher.concurrency)
        self._workers.append(worker)
        worker.tell(setup)
        worker.stderr_task = asyncio.create_task(self._keep_stderr(worker))
        self._tasks.append(worker.stderr_task)

    async def _wait_ready(self, worker: _Worker) -> None:
        """Wait for a worker's first message: ready, or why it cannot start."""
        match await messages.read(worker.stdout):
            case Ready():
                return
            case None:
                await worker.process.wait()
                raise TinygenError(
                    f"a worker process exited at start (code {worker.process.returncode})",
                    await self._stderr_tail(worker) or "rerun with --workers 1",
                )
            case message:
                raise worker_error(message)

    @property
    def in_flight(self) -> int:
        """Indexes given to workers and not handed back (an error to raise counts too)."""
        return sum(worker.in_flight for worker in self._workers) + self._done.qsize()

    @property
    def current(self) -> int:
        """Allowed concurrency now, summed over workers (each backs off on 429s)."""
        return sum(worker.limit for worker in self._workers)

    @property
    def adopted(self) -> frozenset[int]:
        return frozenset()

    def status_note(self) -> str:
        return ""

    def endpoints(self) -> list[EndpointCounts]:
        """Every worker's latest counts, summed per endpoint."""
        return summed([count for worker in self._workers for count in worker.endpoints])

    @property
    def limit_reason(self) -> str:
        """Why a worker's concurrency is under its maximum (the first that says)."""
        return next((worker.reason for worker in self._workers if worker.reason), "")

    @property
    def how_started(self) -> str:
        """How its processes began: "forked" from this one, or "started" fresh."""
        forked = all(isinstance(worker.process, ForkedWorker) for worker in self._workers)
        return "forked" if forked else "started"

    def has_room(self) -> bool:
        return any(worker.room > 0 for worker in self._workers)

    def budgets_spent(self) -> bool:
        return all(worker.exhausted for worker in self._workers)

    def submit(self, index: int) -> None:
        """Queue `index` for the worker with the most room (sent by `flush`)."""
        worker = max(self._workers, key=lambda w: w.room)
        worker.outgoing.append(index)
        worker.in_flight += 1

    def flush(self) -> None:
        """Send every worker the indexes queued for it, one message each."""
        for worker in self._workers:
            if worker.outgoing:
                worker.tell(Ask(tuple(worker.outgoing)))
                worker.outgoing = []

    async def next_finished(self) -> list[Finished]:
        """Wait for a batch of finished items; return every batch that has arrived."""
        results: list[Finished] = []
        while True:
            batch = await self._done.get() if not results else self._done.get_nowait()
            if isinstance(batch, BaseException):
                if not results:
                    raise batch
                self._done.put_nowait(batch)  # raised at the next call, after these
                return results
            results.extend(batch)
            if self._done.empty():
                return results

    def stop_sending(self) -> None:
        """Workers hand back what waits in their queues; running asks go on."""
        for worker in self._workers:
            worker.tell(Drain())

    def cancel(self) -> None:
        """Workers cancel what runs and hand back what waits (they report it all)."""
        for worker in self._workers:
            worker.tell(Cancel())

    async def close(self) -> None:
        """Close the workers' stdin (they cancel, finish and exit); kill stragglers."""
        self._closing = True
        for worker in self._workers:
            worker.stdin.close()
        for worker in self._workers:
            try:
                await asyncio.wait_for(worker.process.wait(), 10)
            except TimeoutError:
                worker.process.kill()
                await worker.process.wait()
        for task in self._tasks:
            task.cancel()
        await asyncio.gather(*self._tasks, return_exceptions=True)

    async def _receive(self, worker: _Worker) -> None:
        """Read one worker's messages until it exits."""
        try:
            while (message := await messages.read(worker.stdout)) is not None:
                self._done.put_nowait(self._received(worker, message))
        except TinygenError as unreadable:
            self._done.put_nowait(unreadable)
            return
        if not self._closing:
            await worker.process.wait()
            self._done.put_nowait(
                TinygenError(
                    f"a worker process exited (code {worker.process.returncode}) "
                    f"with {worker.in_flight} items in flight",
                    await self._stderr_tail(worker) or "rerun with --workers 1 to see why",
                )
            )

    def _received(self, worker: _Worker, message: Message) -> list[Finished] | Exception:
        """A batch to hand on (counted against the gate), or the error a message means."""
        match message:
            case Done(batch, concurrency, reason, endpoints):
                worker.limit, worker.reason = concurrency, reason
                worker.endpoints = endpoints
                worker.in_flight -= len(batch)
                for finished in batch:
                    self._gate.tally(
                        finished.attempts, finished.prompt_tokens, finished.completion_tokens
                    )
                    if finished.kind == Kind.UNSENT:
                        worker.exhausted = True
                return list(batch)
            case _:
                return worker_error(message)

    async def _keep_stderr(self, worker: _Worker) -> None:
        """Drain a worker's stderr, keeping the end for an error message."""
        stderr = worker.process.stderr
        assert stderr is not None
        while line := await stderr.readline():
            worker.stderr.append(line)

    async def _stderr_tail(self, worker: _Worker) -> str:
        """The end of what an exited worker wrote to stderr."""
        if worker.stderr_task is not None:
            with contextlib.suppress(asyncio.TimeoutError, asyncio.CancelledError):
                await asyncio.wait_for(asyncio.shield(worker.stderr_task), 2)
        return b"".join(worker.stderr).decode(errors="replace").strip()[-STDERR_TAIL:]


def worker_error(message: Message) -> Exception:
    """The error a worker's message stands for (any but Ready and Done)."""
    match message:
        case Fatal(kind, text, status):
            return TeacherCallError(kind, text, retryable=False, fatal=True, status=status)
        case Refused(text, hint):
            return TinygenError(text, hint)
        case Crash(trace):
            last_line = (trace.strip().splitlines() or ["(no traceback)"])[-1]
            return TinygenError(
                f"a worker process failed: {last_line}",
                "rerun with --workers 1 (and TINYGEN_DEBUG=1 for the traceback)",
            )
        case _:
            return messages.unexpected(message)
