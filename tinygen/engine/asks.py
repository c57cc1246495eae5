"""Items asked in this process, as asyncio tasks (the local teacher, small runs)."""

from __future__ import annotations

import asyncio

from tinygen.engine.asker import Asker, Finished, Kind
from tinygen.teachers.limits import AdaptiveConcurrency


class InProcessAsks:
    """Keeps asks in flight as tasks; finished ones arrive on a queue (O(1) each)."""

    def __init__(self, asker: Asker, concurrency: AdaptiveConcurrency) -> None:
        self.asker = asker
        self.concurrency = concurrency
        self._tasks: set[asyncio.Task] = set()
        self._done: asyncio.Queue[Finished | BaseException] = asyncio.Queue()

    @property
    def in_flight(self) -> int:
        return len(self._tasks)

    @property
    def current(self) -> int:
        return self.concurrency.current

    @property
    def maximum(self) -> int:
        return self.concurrency.maximum

    def budgets_spent(self) -> bool:
        return self.asker.gate.reached is not None

    def has_room(self) -> bool:
        return len(self._tasks) < self.concurrency.current

    def submit(self, index: int) -> None:
        self._tasks.add(asyncio.create_task(self._run(index)))

    def flush(self) -> None:
        """Nothing to send: tasks start at once."""

    async def next_finished(self) -> list[Finished]:
        """Wait for at least one item to finish; return all that have."""
        results = [await self._done.get()]
        while not self._done.empty():
            results.append(self._done.get_nowait())
        for result in results:
            if isinstance(result, BaseException):
                raise result  # a fatal error (bad key, wrong URL) ends the run
        return results  # type: ignore[return-value]

    def stop_sending(self) -> None:
        """Nothing waits here: every submitted item is already running."""

    def cancel(self) -> None:
        for task in self._tasks:
            task.cancel()

    async def close(self) -> None:
        self.cancel()
        if self._tasks:
            await asyncio.gather(*self._tasks, return_exceptions=True)

    async def _run(self, index: int) -> None:
        result: Finished | BaseException
        try:
            result = await self.asker.ask(index)
        except asyncio.CancelledError:
            result = Finished(index, Kind.CANCELLED)
        except Exception as exc:
            result = exc
        self._tasks.discard(asyncio.current_task())  # type: ignore[arg-type]
        self._done.put_nowait(result)
