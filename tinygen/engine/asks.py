"""Where items are asked: the `Asks` seam, and its in-process form.

The run loop (engine/generation.py) decides what to ask and when, and handles what
finishes; an `Asks` only runs the asks. `InProcessAsks` (here) runs them as tasks in this
process (the local teacher, small runs); `WorkerPool` (engine/pool.py) hands them to
worker processes.
"""

from __future__ import annotations

import asyncio
from typing import Protocol

from tinygen.engine.asker import Asker, Finished, Kind
from tinygen.teachers.backpressure import AdaptiveConcurrency
from tinygen.teachers.router import EndpointCounts, endpoint_counts


class Asks(Protocol):
    """Runs asks for the run loop: `submit` indexes (sent at `flush`), collect them with
    `next_finished`. Every submitted index comes back once, as whatever it ended as
    (cancelled or unsent ones too), unless a fatal error ends the run."""

    @property
    def in_flight(self) -> int:
        """Indexes submitted and not yet handed back."""
        ...

    @property
    def current(self) -> int:
        """Asks allowed at once now (lower than `maximum` after rate limits)."""
        ...

    @property
    def maximum(self) -> int:
        """Asks allowed at once at most."""
        ...

    @property
    def limit_reason(self) -> str:
        """Why `current` is under `maximum` ("" when it is not)."""
        ...

    @property
    def adopted(self) -> frozenset[int]:
        """Indexes an earlier session left in flight (batches): not to be submitted."""
        ...

    def status_note(self) -> str:
        """What runs elsewhere (batches at the provider), for the display ("" if none)."""
        ...

    def endpoints(self) -> list[EndpointCounts]:
        """Per-endpoint counts when several endpoints answer ([] otherwise)."""
        ...

    def has_room(self) -> bool:
        """Whether another index may be submitted now."""
        ...

    def budgets_spent(self) -> bool:
        """Whether every budget that asks here is spent (nothing more can be sent)."""
        ...

    async def start(self) -> None:
        """Get ready to ask; an error here stops the run before any request."""
        ...

    def submit(self, index: int) -> None:
        """Ask item `index` (it may wait until `flush`)."""
        ...

    def flush(self) -> None:
        """Send what `submit` queued."""
        ...

    async def next_finished(self) -> list[Finished]:
        """Wait for at least one finished item; return all that have finished. A fatal
        error (a bad key, a wrong URL, a lost worker) is raised."""
        ...

    def stop_sending(self) -> None:
        """Send no more requests; asks already running go on."""
        ...

    def cancel(self) -> None:
        """Cancel what runs (it comes back as cancelled)."""
        ...

    async def close(self) -> None:
        """Cancel what runs and release everything (tasks, processes)."""
        ...


class InProcessAsks:
    """Keeps asks in flight as tasks; finished ones arrive on a queue (O(1) each)."""

    def __init__(self, asker: Asker, concurrency: AdaptiveConcurrency) -> None:
        self.asker = asker
        self.concurrency = concurrency
        self._tasks: set[asyncio.Task] = set()
        self._done: asyncio.Queue[Finished | Exception] = asyncio.Queue()

    @property
    def in_flight(self) -> int:
        return len(self._tasks) + self._done.qsize()  # results not yet handed back count

    @property
    def current(self) -> int:
        return self.concurrency.current

    @property
    def maximum(self) -> int:
        return self.concurrency.maximum

    @property
    def limit_reason(self) -> str:
        return self.concurrency.reason

    @property
    def adopted(self) -> frozenset[int]:
        return frozenset()

    def status_note(self) -> str:
        return ""

    def endpoints(self) -> list[EndpointCounts]:
        return endpoint_counts(self.asker.teacher)

    def budgets_spent(self) -> bool:
        return self.asker.gate.reached is not None

    def has_room(self) -> bool:
        return self.concurrency.room(len(self._tasks)) > 0

    async def start(self) -> None:
        """Load what the checks load lazily while the first requests go out."""
        self.asker.warm_up_soon()

    def submit(self, index: int) -> None:
        self._tasks.add(asyncio.create_task(self._run(index)))

    def flush(self) -> None:
        """Nothing to send: tasks start at once."""

    async def next_finished(self) -> list[Finished]:
        """Wait for at least one item to finish; return all that have."""
        results = [await self._done.get()]
        while not self._done.empty():
            results.append(self._done.get_nowait())
        return _finished_first(results, self._done)

    def stop_sending(self) -> None:
        """Nothing waits here: every submitted item is already running."""

    def cancel(self) -> None:
        for task in self._tasks:
            task.cancel()

    async def close(self) -> None:
        """Cancel what runs and drop what was not handed back (a run that closes its asks
        has stopped reading them; those items are asked again on resume)."""
        self.cancel()
        if self._tasks:
            await asyncio.gather(*self._tasks, return_exceptions=True)
        while not self._done.empty():
            self._done.get_nowait()

    async def _run(self, index: int) -> None:
        result: Finished | Exception
        try:
            result = await self.asker.ask(index)
        except asyncio.CancelledError:
            result = Finished(index, Kind.CANCELLED)
        except Exception as exc:
            result = exc
        if (task := asyncio.current_task()) is not None:
            self._tasks.discard(task)
        self._done.put_nowait(result)


def _finished_first(results: list, queue: asyncio.Queue) -> list[Finished]:
    """The finished items among `results`; a fatal error (a bad key, a wrong URL) is
    raised, but only once the items that finished with it are handed back (it goes back
    on the queue for the next call)."""
    finished = [result for result in results if isinstance(result, Finished)]
    errors = [result for result in results if not isinstance(result, Finished)]
    if errors and not finished:
        raise errors[0]
    if errors:
        queue.put_nowait(errors[0])
    return finished
