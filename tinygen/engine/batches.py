"""Asking through a Batch API (`generate --batch`): the `Asks` seam over batches.

Submitted indexes become request lines (teachers/batch_lines.py); `flush` (or a full
`--batch-size`) uploads them as one file and creates a batch whose metadata carries the
run's fingerprint. What was submitted is written to `.tinygen/batches.jsonl` before and
after each create, so a rerun after a crash at any moment reattaches: it follows every
batch of this run it knows of (or finds by metadata when the local record was lost),
each item only in the newest batch that holds it, and skips items already on disk; it
never submits them again. Results go through the same checks as online answers; lines
that expired or were cancelled come back unsent (the run asks them again in its next
batch), up to `EXPIRY_TRIES` times. Ctrl-C stops waiting: the batches keep running at
the provider, and the same command collects them.
"""

from __future__ import annotations

import asyncio
import contextlib
import json
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path

from tinygen.engine.asker import Asked, Asker, Finished, Kind
from tinygen.errors import TinygenError
from tinygen.recipe.items import build_item
from tinygen.rundir.jsonl import JsonlAppender
from tinygen.rundir.layout import BATCHES, STATE_DIR
from tinygen.teachers.base import TeacherCallError
from tinygen.teachers.batch_api import RUN_KEY, TERMINAL, BatchClient
from tinygen.teachers.batch_lines import Result, index_of, read_result, request_line
from tinygen.teachers.limits import BudgetReached
from tinygen.teachers.retry import CallOutcome
from tinygen.teachers.router import EndpointCounts

MAX_FILE_BYTES = 190 * 1024 * 1024  # OpenAI takes batch files of up to 200 MB
EXPIRY_TRIES = 3  # an item whose line expires this often fails as batch_expired
WAKE_S = 1.0  # the run loop's display and manifest are refreshed at least this often
Book = Callable[[int, int], None]


class BatchJournal:
    """`.tinygen/batches.jsonl`: one line before each create (what is being submitted)
    and one after (the batch id and the item indexes it holds)."""

    def __init__(self, out_dir: Path) -> None:
        self.path = out_dir / STATE_DIR / BATCHES
        self._appender: JsonlAppender | None = None

    def created(self) -> dict[str, list[int]]:
        """Batch id -> item indexes, in the order the batches were created."""
        batches: dict[str, list[int]] = {}
        if not self.path.exists():
            return batches
        for line in self.path.read_text(encoding="utf-8", errors="replace").splitlines():
            with contextlib.suppress(ValueError, KeyError, TypeError):
                event = json.loads(line)
                if event["event"] == "created":
                    batches[str(event["batch"])] = [int(i) for i in event["indexes"]]
        return batches

    def write(self, event: dict[str, object]) -> None:
        if self._appender is None:
            self._appender = JsonlAppender(self.path)
        self._appender.write(event)

    def close(self) -> None:
        if self._appender is not None:
            self._appender.close()


@dataclass
class Followed:
    """A batch being followed: its items, and its state as last polled."""

    batch_id: str
    indexes: list[int]
    state: str = "submitted"
    counts: str = ""
    changed: float = field(default_factory=time.monotonic)

    def describe(self, now: float) -> str:
        since = int(now - self.changed)
        return f"{self.batch_id[-8:]} {self.state} {self.counts} ({since // 60}m{since % 60:02d}s)"


class BatchAsks:
    """Runs the asks of a run as batches at one endpoint (see the module docstring)."""

    def __init__(
        self,
        asker: Asker,
        client: BatchClient,
        out_dir: Path,
        batch_size: int,
        poll_s: float,
        done: set[int],
    ) -> None:
        self.asker = asker
        self.client = client
        self.journal = BatchJournal(out_dir)
        self.batch_size = batch_size
        self.poll_s = poll_s
        self.fingerprint = asker.resolved.fingerprint
        self._done_before = done
        self._queued: list[int] = []
        self._open = 0  # indexes submitted or adopted, not handed back
        self._tasks: set[asyncio.Task] = set()
        self._results: asyncio.Queue[list[Finished] | BaseException] = asyncio.Queue()
        self._followed: dict[str, Followed] = {}
        self._expired: dict[int, int] = {}
        self._adopted: frozenset[int] = frozenset()
        self._left = ""  # the batches still running when the run stopped waiting

    # the Asks seam
    @property
    def in_flight(self) -> int:
        return self._open

    @property
    def current(self) -> int:
        return self.batch_size

    @property
    def maximum(self) -> int:
        return self.batch_size

    @property
    def limit_reason(self) -> str:
        return ""

    @property
    def adopted(self) -> frozenset[int]:
        return self._adopted

    def endpoints(self) -> list[EndpointCounts]:
        return []

    def status_note(self) -> str:
        now = time.monotonic()
        live = " · ".join(followed.describe(now) for followed in self._followed.values())
        return live or self._left

    def has_room(self) -> bool:
        return True  # the run loop's target and item cap bound what is submitted

    def budgets_spent(self) -> bool:
        return self.asker.gate.reached is not None

    async def start(self) -> None:
        """Find this run's batches (journal and metadata) and follow what they still
        owe: those items are in flight already and are not submitted again."""
        self.asker.warm_up()
        owed = await self._owed()
        adopted: set[int] = set()
        for batch_id, indexes in owed.items():
            adopted.update(indexes)
            self._follow_later(batch_id, indexes, books=None)
        self._adopted = frozenset(adopted)
        self._open += len(adopted)

    async def _owed(self) -> dict[str, list[int]]:
        """Batch id -> items not on disk that it is the newest batch to hold."""
        known = self.journal.created()
        for batch in sorted(await self.client.find(self.fingerprint), key=lambda b: b.created_at):
            if batch.id not in known:  # made, but the record of it was lost
                known[batch.id] = await self._submitted(batch.input_file_id)
        newest: dict[int, str] = {}
        for batch_id, indexes in known.items():
            for index in indexes:
                newest[index] = batch_id
        owed: dict[str, list[int]] = {}
        for index, batch_id in newest.items():
            if index not in self._done_before:
                owed.setdefault(batch_id, []).append(index)
        return owed

    async def _submitted(self, file_id: str) -> list[int]:
        """The item indexes of an input file (its lines' custom_ids)."""
        indexes = []
        for line in (await self.client.content(file_id)).splitlines():
            with contextlib.suppress(ValueError, AttributeError):
                index = index_of(json.loads(line).get("custom_id"), self.fingerprint)
                if index is not None:
                    indexes.append(index)
        return indexes

    def submit(self, index: int) -> None:
        self._queued.append(index)
        self._open += 1
        if len(self._queued) >= self.batch_size:
            self.flush()

    def flush(self) -> None:
        """Make a batch of what was submitted (in the background)."""
        while self._queued:
            indexes, self._queued = self._queued[: self.batch_size], self._queued[self.batch_size :]
            self._spawn(self._submit(indexes))

    async def next_finished(self) -> list[Finished]:
        """The items of a finished batch; [] after WAKE_S without one (the run loop then
        refreshes its display and manifest)."""
        try:
            batch = await asyncio.wait_for(self._results.get(), WAKE_S)
        except TimeoutError:
            return []
        if isinstance(batch, BaseException):
            raise batch
        self._open -= len(batch)
        return batch

    def stop_sending(self) -> None:
        """Stop waiting: the batches keep running at the provider (a rerun collects them);
        what was not submitted yet is handed back."""
        self._left = self.status_note()
        self.cancel()

    def cancel(self) -> None:
        for task in self._tasks:
            task.cancel()

    async def close(self) -> None:
        self.cancel()
        if self._tasks:
            await asyncio.gather(*self._tasks, return_exceptions=True)
        self.journal.close()
        await self.client.aclose()

    # submitting and following
    def _spawn(self, coroutine) -> None:
        task = asyncio.create_task(coroutine)
        self._tasks.add(task)
        task.add_done_callback(self._tasks.discard)

    def _follow_later(self, batch_id: str, indexes: list[int], books: dict | None) -> None:
        self._spawn(self._guarded(indexes, self._follow(batch_id, indexes, books)))

    async def _guarded(self, indexes: list[int], coroutine) -> None:
        """Run `coroutine`; hand its items back as cancelled if it is cancelled, and any
        error to the run loop."""
        try:
            await coroutine
        except asyncio.CancelledError:
            self._results.put_nowait([Finished(index, Kind.CANCELLED) for index in indexes])
        except Exception as exc:
            self._results.put_nowait(exc)

    async def _submit(self, indexes: list[int]) -> None:
        await self._guarded(indexes, self._submitted_and_followed(indexes))

    async def _submitted_and_followed(self, indexes: list[int]) -> None:
        params = self.asker.resolved.recipe.teacher
        lines = {
            index: request_line(build_item(self.asker.resolved, index), self.fingerprint, params)
            for index in indexes
        }
        books, unsent = await self._reserve(lines)
        if unsent:
            self._results.put_nowait(unsent)
            indexes[:] = [index for index in indexes if index in books]  # _guarded's too
        if indexes:
            await self._upload_and_follow(indexes, {i: lines[i] for i in indexes}, books)

    async def _upload_and_follow(
        self, indexes: list[int], lines: dict[int, str], books: dict[int, Book]
    ) -> None:
        """Upload the lines of `indexes` as one file (two halves, each its own batch, if
        it would pass MAX_FILE_BYTES), create its batch and follow it."""
        size = sum(len(lines[index].encode()) + 1 for index in indexes)
        if len(indexes) > 1 and size > MAX_FILE_BYTES:
            half = len(indexes) // 2
            for part in (indexes[:half], indexes[half:]):
                self._spawn(self._guarded(part, self._upload_and_follow(part, lines, books)))
            return
        self.journal.write({"event": "submitting", "first": indexes[0], "lines": len(indexes)})
        file_id = await self.client.upload(
            [lines[index] for index in indexes], f"tinygen-{self.fingerprint[:12]}.jsonl"
        )
        metadata = {RUN_KEY: self.fingerprint, "tinygen_items": f"{indexes[0]}+{len(indexes)}"}
        batch = await self.client.create(file_id, metadata)
        self.journal.write({"event": "created", "batch": batch.id, "indexes": indexes})
        await self._follow(batch.id, indexes, books)

    async def _reserve(self, lines: dict[int, str]) -> tuple[dict[int, Book], list[Finished]]:
        """Pass every line through the gate (budgets reserve its worst case: the whole
        line's length counts as prompt); the lines a budget refuses come back unsent."""
        books: dict[int, Book] = {}
        unsent: list[Finished] = []
        max_tokens = self.asker.resolved.recipe.teacher.max_tokens
        for index, line in lines.items():
            try:
                books[index] = await self.asker.gate.admit(len(line) // 4 + 8, max_tokens)
            except BudgetReached as reached:
                unsent.append(Finished(index, Kind.UNSENT, reason=str(reached)))
        return books, unsent

    async def _follow(self, batch_id: str, indexes: list[int], books: dict | None) -> None:
        followed = self._followed[batch_id] = Followed(batch_id, indexes)
        try:
            batch = await self.client.retrieve(batch_id)
            while self._observe(followed, batch) not in TERMINAL:
                await asyncio.sleep(self.poll_s)
                batch = await self.client.retrieve(batch_id)
            if batch.status == "failed":
                raise TinygenError(
                    f"batch {batch_id} failed: {validation_errors(batch)}",
                    "fix what the provider names, then rerun the same command",
                )
            results = await self._results_of(batch)
            self._results.put_nowait(await self._finish(batch_id, indexes, results, books))
        finally:
            self._followed.pop(batch_id, None)

    def _observe(self, followed: Followed, batch) -> str:
        counts = batch.request_counts
        text = f"{counts.completed}/{counts.total}" if counts is not None else ""
        if (batch.status, text) != (followed.state, followed.counts):
            if batch.status != followed.state:
                followed.changed = time.monotonic()
            followed.state, followed.counts = batch.status, text
        return batch.status

    async def _results_of(self, batch) -> dict[int, Result]:
        results: dict[int, Result] = {}
        for file_id in (batch.error_file_id, batch.output_file_id):  # output wins
            if file_id:
                for line in (await self.client.content(file_id)).splitlines():
                    result = read_result(line, self.fingerprint)
                    if result is not None:
                        results[result.index] = result
        return results

    async def _finish(
        self, batch_id: str, indexes: list[int], results: dict[int, Result], books: dict | None
    ) -> list[Finished]:
        finished = []
        for index in indexes:
            result = results.get(index) or Result(index, unfinished="batch_expired")
            finished.append(await self._judged(batch_id, result, books))
        return finished

    async def _judged(self, batch_id: str, result: Result, books: dict | None) -> Finished:
        index, gate = result.index, self.asker.gate
        book = (books or {}).get(index)
        if result.unfinished:
            if book is not None:
                book(0, 0)
            self._expired[index] = self._expired.get(index, 0) + 1
            if self._expired[index] < EXPIRY_TRIES:
                return Finished(index, Kind.UNSENT, reason=result.unfinished)
            result = Result(index, error=expired_error(result.unfinished))
        asked = Asked(build_item(self.asker.resolved, index), batch=batch_id)
        kinds = [result.error.kind] if result.error else []
        asked.call = CallOutcome(result.completion, result.error, 1, kinds)
        finished = await self.asker.judge(asked)
        prompt, completion = _usage(result)
        if book is not None:
            book(prompt, completion)
        else:
            gate.tally(0, prompt, completion)  # a batch an earlier session made
        return finished


def _usage(result: Result) -> tuple[int, int]:
    completion = result.completion
    if completion is None:
        return 0, 0
    return completion.prompt_tokens or 0, completion.completion_tokens or 0


def expired_error(code: str) -> TeacherCallError:
    return TeacherCallError(
        code,
        f"the line was not run ({code}) in {EXPIRY_TRIES} batches in a row",
        retryable=False,
    )


def validation_errors(batch) -> str:
    """The provider's reasons for failing a batch, with their line numbers."""
    errors = getattr(batch.errors, "data", None) or []
    parts = [
        f"line {error.line}: {error.message}" if error.line else str(error.message)
        for error in errors[:5]
    ]
    return "; ".join(parts) or "no reason given"


async def cancel_batches(fingerprint: str, client: BatchClient, out_dir: Path) -> list[str]:
    """Cancel every batch of this run that is still running (journal and metadata); the
    ids cancelled. A later run collects what they finished and asks the rest again."""
    known = list(BatchJournal(out_dir).created())
    known += [batch.id for batch in await client.find(fingerprint) if batch.id not in known]
    cancelled = []
    try:
        for batch_id in known:
            if (await client.retrieve(batch_id)).status not in TERMINAL | {"cancelling"}:
                await client.cancel(batch_id)
                cancelled.append(batch_id)
    finally:
        await client.aclose()
    return cancelled
