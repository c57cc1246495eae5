"""A generation run: draw items, ask the teacher, check, dedup, write; resumable."""

from __future__ import annotations

import asyncio
import contextlib
import signal
import time
from collections.abc import Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import IO

from tinygen import __version__
from tinygen.card import write_card
from tinygen.checks import Answer, Rejection, first_rejection
from tinygen.errors import ExitCode, TinygenError, UsageError
from tinygen.items import Item, build_item
from tinygen.limits import AdaptiveConcurrency, BudgetReached, Gate
from tinygen.manifest import ManifestWriter
from tinygen.outdir import lock_out_dir, prepare_out_dir
from tinygen.progress import ProgressDisplay
from tinygen.quality import build_checks, build_code_check
from tinygen.recipe import ResolvedRecipe
from tinygen.records import Provenance, accepted_record, failed_record, rejected_record
from tinygen.report import corpus_stats
from tinygen.retry import CallOutcome, RetryPolicy, call_with_retries
from tinygen.runlog import RunLog
from tinygen.seen import SeenTexts
from tinygen.stats import RunStats
from tinygen.store import FAILED, REJECTED, JsonlAppender, ScanResult, ShardWriter
from tinygen.teachers.base import Completion, Teacher, TeacherCallError

CARD_SAMPLE = 2_000  # records whose text the end-of-run card reads (`tinygen stats` reads all)
SIGNAL_EXIT = {signal.SIGINT: ExitCode.INTERRUPTED, signal.SIGTERM: ExitCode.TERMINATED}


@dataclass(frozen=True)
class RunConfig:
    """How to run: where to write, how much, how fast, how patiently."""

    out_dir: Path
    target: int
    max_items: int | None = None
    concurrency: int = 64
    overwrite: bool = False
    retry: RetryPolicy = field(default_factory=RetryPolicy)
    gate: Gate | None = None
    progress: bool = True
    grace_s: float = 30.0

    @property
    def item_cap(self) -> int:
        """Items a run may draw in all (by default 3 x the target)."""
        return self.max_items if self.max_items is not None else 3 * self.target


@dataclass
class Outcome:
    """One finished item: the call, and for an answer, the checks' verdict."""

    item: Item
    call: CallOutcome | None
    latency: float = 0.0
    answer: Answer | None = None
    rejection: Rejection | None = None


@dataclass
class RunResult:
    """How a run ended."""

    exit_code: ExitCode
    message: str
    stats: RunStats
    out_dir: Path
    corpus: dict | None = None

    def summary(self) -> dict[str, object]:
        return {
            "status": self.exit_code.status,
            "exit_code": int(self.exit_code),
            "message": self.message,
            "out_dir": str(self.out_dir),
            **self.stats.summary(),
        }


def run_header(resolved: ResolvedRecipe, teacher: Teacher, config: RunConfig) -> str:
    """One line saying what is about to run: recipe, teacher, target, where."""
    described = teacher.describe()
    where = described.get("host") or described.get("model_file") or ""
    return (
        f"tinygen {__version__} · {resolved.name} ({resolved.fingerprint[:12]}, seed "
        f"{resolved.recipe.seed}) · teacher {described['kind']} {resolved.recipe.teacher.model}"
        f"{f' @ {where}' if where else ''} · {config.target} records → {config.out_dir}"
    )


def generate(resolved: ResolvedRecipe, teacher: Teacher, config: RunConfig) -> RunResult:
    """Run a generation to its end (or to a cap, budget or signal) and say how it ended."""
    return asyncio.run(Generation(resolved, teacher, config).run())


class Generation:
    """One run's state: the pipeline loop, the writers and the counters."""

    def __init__(self, resolved: ResolvedRecipe, teacher: Teacher, config: RunConfig) -> None:
        self.resolved = resolved
        self.teacher = teacher
        self.config = config
        self.gate = config.gate or Gate.unlimited()
        self.stats = RunStats(target=config.target, gate=self.gate)
        self.concurrency = AdaptiveConcurrency(config.concurrency)
        self.stats.concurrency = self.concurrency
        model = resolved.recipe.teacher.model
        self.provenance = Provenance(resolved, {**teacher.describe(), "model": model})
        self.checks = build_checks(resolved)
        self.code_check = build_code_check(resolved)
        self.manifest = ManifestWriter(config.out_dir, resolved, self.provenance, self.stats)
        self.stop_code: ExitCode | None = None
        self._in_flight: set[asyncio.Task] = set()
        self._finished: asyncio.Queue[Outcome | BaseException | None] = asyncio.Queue()
        self.log = RunLog(None)
        self._lock: IO[str] | None = None

    async def run(self) -> RunResult:
        try:
            scan = self._prepare()
            try:
                with (
                    self._signals(),
                    ProgressDisplay(
                        self.stats, enabled=self.config.progress, title=self.resolved.name
                    ) as display,
                ):
                    await self._loop(display, self._pending(scan))
            finally:
                self._close_writers()
            return self._finish()
        except TeacherCallError as fatal:
            self.manifest.write("error")
            self.log.info(f"stopped: {fatal.message}")
            raise TinygenError(fatal.message, _fatal_hint(fatal)) from None
        except OSError as exc:
            raise TinygenError(
                f"cannot write to {self.config.out_dir}: {exc.strerror or exc}",
                "free space or fix permissions, then rerun the same command: it resumes",
            ) from None
        finally:
            self.log.close()
            if self._lock is not None:
                self._lock.close()
            await self.teacher.aclose()

    def _prepare(self) -> ScanResult:
        """Lock and ready the output directory, rebuild what it holds, open the writers."""
        out = self.config.out_dir
        if out.exists() and not out.is_dir():
            raise UsageError(f"--out {out} is a file", "give a directory path")
        self._lock = lock_out_dir(out)
        scan = prepare_out_dir(out, self.resolved, self.config.overwrite)
        self.dedup = SeenTexts.resume(self.config.out_dir, self.resolved, scan)
        self._count_resumed(scan)
        self._open_writers(scan)
        self.manifest.start(self.config.item_cap)
        self.log = RunLog(self.config.out_dir)
        self.log.info(run_header(self.resolved, self.teacher, self.config))
        self.log.info(f"resumed: {scan.accepted} accepted, {len(scan.done)} items done")
        for path in scan.repaired:
            self.log.info(f"cut a torn last line off {path}")
        return scan

    def _count_resumed(self, scan: ScanResult) -> None:
        stats = self.stats
        stats.accepted = stats.resumed_accepted = scan.accepted
        stats.rejected.update(scan.rejected)
        stats.failed.update(scan.failed)

    def _open_writers(self, scan: ScanResult) -> None:
        out = self.config.out_dir
        self.shards = ShardWriter(
            out, self.resolved.recipe.shard_size, scan.last_shard, scan.last_shard_records
        )
        self.rejected = JsonlAppender(out / REJECTED)
        self.failed = JsonlAppender(out / FAILED)

    def _close_writers(self) -> None:
        """Flush and close every file; on a full disk keep closing the others."""
        for writer in (self.shards, self.rejected, self.failed, self.dedup):
            with contextlib.suppress(OSError):
                writer.close()

    def _pending(self, scan: ScanResult) -> Iterator[int]:
        """Indices still to ask, in order, up to the item cap."""
        return (i for i in range(self.config.item_cap) if i not in scan.done)

    async def _loop(self, display: ProgressDisplay, pending: Iterator[int]) -> None:
        """Keep items in flight; handle each as it finishes (O(1) per item, however many
        are in flight: finished items arrive on a queue)."""
        try:
            self._launch(pending)
            while self._in_flight:
                self._handle_finished(await self._finished.get())
                while not self._finished.empty():
                    self._handle_finished(self._finished.get_nowait())
                self._launch(pending)
                self.stats.in_flight = len(self._in_flight)
                display.refresh()
                self.manifest.maybe_write()
        finally:
            await _cancel(self._in_flight)

    def _handle_finished(self, result: Outcome | BaseException | None) -> None:
        if isinstance(result, BaseException):
            raise result  # a fatal error (bad key, wrong URL) ends the run
        if result is not None:  # None: cancelled by a signal
            self._handle(result)

    async def _run_item(self, index: int) -> None:
        """Ask item `index` and post how it ended to the loop's queue."""
        result: Outcome | BaseException | None
        try:
            result = await self._ask(index)
        except asyncio.CancelledError:
            result = None
        except Exception as exc:
            result = exc
        self._in_flight.discard(asyncio.current_task())  # type: ignore[arg-type]
        self._finished.put_nowait(result)

    def _may_launch(self) -> bool:
        stats = self.stats
        return (
            self.stop_code is None
            and self.gate.reached is None
            and len(self._in_flight) < self.concurrency.current
            and stats.accepted + len(self._in_flight) < stats.target
        )

    def _launch(self, pending: Iterator[int]) -> None:
        """Start items while the limits allow and more could still be needed."""
        while self._may_launch():
            index = next(pending, None)
            if index is None:
                return
            self._in_flight.add(asyncio.create_task(self._run_item(index)))

    async def _ask(self, index: int) -> Outcome:
        """Build item `index`, ask the teacher (with retries), and check the answer."""
        item = build_item(self.resolved, index)
        outcome = Outcome(item, None)
        try:
            outcome.call = await call_with_retries(
                lambda: self._one_call(item, outcome), self.config.retry, self._on_retry
            )
        except BudgetReached:
            return outcome  # not sent: the item stays pending for the next run
        completion = outcome.call.completion
        if completion is not None:
            self.concurrency.on_success()
            outcome.answer = Answer(completion.text, completion.finish_reason, item.variables)
            outcome.rejection = first_rejection(outcome.answer, self.checks)
            if outcome.rejection is None and self.code_check is not None:
                outcome.rejection = await self.code_check(outcome.answer)
        return outcome

    async def _one_call(self, item: Item, outcome: Outcome) -> Completion:
        params = self.resolved.recipe.teacher
        book = await self.gate.admit(_prompt_tokens(item), params.max_tokens)
        started = time.monotonic()
        try:
            completion = await self.teacher.complete(item.messages, params)
        except TeacherCallError:
            book(0, 0)
            raise
        outcome.latency = time.monotonic() - started
        book(completion.prompt_tokens or 0, completion.completion_tokens or 0)
        return completion

    def _on_retry(self, error: TeacherCallError) -> None:
        self.stats.retries[error.kind] += 1
        if error.kind == "rate_limit":
            self.concurrency.on_rate_limited()

    def _handle(self, outcome: Outcome) -> None:
        """Write one finished item to exactly one file and count it."""
        call, stats = outcome.call, self.stats
        if call is None:
            return
        stats.requests += call.attempts
        if call.completion is None or outcome.answer is None:
            self.failed.write(failed_record(self.provenance, outcome.item, call))
            stats.failed[call.error.kind if call.error else "unknown"] += 1
            return
        stats.prompt_tokens += call.completion.prompt_tokens or 0
        stats.completion_tokens += call.completion.completion_tokens or 0
        record = accepted_record(self.provenance, outcome.item, call, outcome.latency)
        record["checks"] = outcome.answer.figures
        rejection = outcome.rejection or self.dedup.check_and_add(record)
        if rejection is not None:
            self.rejected.write(rejected_record(record, rejection))
            stats.rejected[rejection.reason] += 1
            return
        self.shards.write(record)
        self.dedup.accepted(record)
        stats.accepted += 1

    def _signals(self) -> _SignalHandlers:
        return _SignalHandlers(self)

    def on_signal(self, signum: int) -> None:
        """First signal: stop sending and let in-flight items finish (up to the grace
        period); second: cancel them at once. Written lines stay whole either way."""
        loop = asyncio.get_running_loop()
        if self.stop_code is None:
            self.stop_code = SIGNAL_EXIT[signal.Signals(signum)]
            loop.call_later(self.config.grace_s, self._cancel_in_flight)
        else:
            self._cancel_in_flight()

    def _cancel_in_flight(self) -> None:
        for task in self._in_flight:
            task.cancel()

    def _finish(self) -> RunResult:
        stats, out = self.stats, self.config.out_dir
        if stats.accepted >= stats.target:
            code, message = ExitCode.OK, f"{stats.target} records in {out / 'data'}"
        elif self.stop_code is not None:
            code = self.stop_code
            message = f"stopped by a signal with {stats.accepted} of {stats.target} records; "
            message += "rerun the same command to continue"
        elif self.gate.reached is not None:
            code = ExitCode.BUDGET_REACHED
            message = (
                f"budget {self.gate.reached} reached with {stats.accepted} of {stats.target} "
                "records; rerun the same command (with a new budget) to continue"
            )
        else:
            code = ExitCode.TARGET_NOT_REACHED
            message = (
                f"only {stats.accepted} of {stats.target} records were accepted after "
                f"drawing the cap of {self.config.item_cap} items; see {out / REJECTED} "
                f"and {out / FAILED} for why, or raise --max-items"
            )
        self.manifest.finish(code.status)
        corpus = corpus_stats(out, sample=CARD_SAMPLE)
        write_card(out, corpus)
        self.log.info(f"{code.status}: {message}")
        self.log.info(f"counts: {stats.summary()}")
        return RunResult(code, message, stats, out, corpus)


class _SignalHandlers:
    """Route SIGINT and SIGTERM to the run while it is inside the event loop."""

    def __init__(self, generation: Generation) -> None:
        self._generation = generation

    def __enter__(self) -> _SignalHandlers:
        loop = asyncio.get_running_loop()
        for signum in SIGNAL_EXIT:
            loop.add_signal_handler(signum, self._generation.on_signal, signum)
        return self

    def __exit__(self, *exc_info: object) -> None:
        loop = asyncio.get_running_loop()
        for signum in SIGNAL_EXIT:
            loop.remove_signal_handler(signum)


def _prompt_tokens(item: Item) -> int:
    """A rough prompt size in tokens (4 characters a token), for the limits."""
    return sum(len(message["content"]) for message in item.messages) // 4 + 8


async def _cancel(tasks: set[asyncio.Task]) -> None:
    for task in tasks:
        task.cancel()
    if tasks:
        await asyncio.gather(*tasks, return_exceptions=True)


def _fatal_hint(error: TeacherCallError) -> str:
    if error.kind == "auth":
        return "check the API key (OPENAI_API_KEY or --api-key) and --base-url"
    return "check --base-url (it usually ends in /v1) and --model"
