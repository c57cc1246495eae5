"""A generation run: draw items, ask the teacher, check, dedup, write; resumable."""

from __future__ import annotations

import asyncio
import contextlib
import gc
import signal
from collections.abc import Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import IO

from tinygen import __version__
from tinygen.checks.base import Rejection
from tinygen.checks.build import missing_benchmarks
from tinygen.dedup.seen import SeenTexts
from tinygen.engine.asker import Asker, Finished, Kind, duplicate_line
from tinygen.engine.asks import Asks, InProcessAsks
from tinygen.engine.breaker import HOPELESS_REJECTIONS, Breaker
from tinygen.engine.caps import CorpusCaps, caps_on
from tinygen.engine.counters import RunStats
from tinygen.engine.parts import Part
from tinygen.engine.pool import PoolSpec, WorkerPool, worker_setups
from tinygen.engine.progress import LimitNotes, ProgressDisplay
from tinygen.engine.records import Provenance
from tinygen.errors import ExitCode, QuotaExhausted, TeacherStopped, TinygenError
from tinygen.recipe.model import ResolvedRecipe
from tinygen.report.card import write_card
from tinygen.report.corpus import SampleTexts, corpus_stats
from tinygen.report.outcomes import RunTally
from tinygen.rundir.jsonl import JsonlAppender
from tinygen.rundir.layout import ACCEPTED_KIND, FAILED, FAILED_KIND, REJECTED, REJECTED_KIND
from tinygen.rundir.manifest import ManifestWriter
from tinygen.rundir.outdir import lock_out_dir, prepare_out_dir, refuse_foreign_dir
from tinygen.rundir.runlog import RunLog
from tinygen.rundir.store import ScanResult, ShardWriter
from tinygen.teachers.backpressure import AdaptiveConcurrency
from tinygen.teachers.base import Teacher, TeacherCallError
from tinygen.teachers.factory import DEFAULT_CONCURRENCY, TeacherOptions
from tinygen.teachers.limits import Gate
from tinygen.teachers.retry import RetryPolicy
from tinygen.text.redact import redact

CARD_SAMPLE = 500  # records whose text the end-of-run card reads (`tinygen stats` reads all)
SIGNAL_EXIT = {  # a closed terminal (SIGHUP) stops a run like SIGTERM
    signal.SIGINT: ExitCode.INTERRUPTED,
    signal.SIGTERM: ExitCode.TERMINATED,
    signal.SIGHUP: ExitCode.HANGUP,
}


@dataclass(frozen=True)
class BatchSpec:
    """Asking through a Batch API: where, how many lines a batch, how often to poll."""

    teacher: TeacherOptions
    size: int = 50_000
    poll_s: float = 30.0


@dataclass(frozen=True)
class RunConfig:
    """How to run: where to write, how much, how fast, how patiently."""

    out_dir: Path
    target: int
    max_items: int | None = None
    concurrency: int = DEFAULT_CONCURRENCY
    overwrite: bool = False
    retry: RetryPolicy = field(default_factory=RetryPolicy)
    gate: Gate | None = None
    progress: bool = True
    grace_s: float = 30.0
    pool: PoolSpec | None = None
    batch: BatchSpec | None = None  # ask through the endpoint's Batch API
    import_results: Path | None = None  # take the answers of a batch runner's results file
    part: Part | None = None  # this invocation takes only this part's items (`target` is its share)

    @property
    def in_workers(self) -> bool:
        """Whether worker processes ask (not this process, a Batch API or a file)."""
        workers = self.pool.workers if self.pool is not None else 1
        return workers > 1 and self.batch is None and self.import_results is None

    @property
    def item_cap(self) -> int:
        """Items a run may draw in all (by default 3 x the target)."""
        return self.max_items if self.max_items is not None else 3 * self.target


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


def generate(
    resolved: ResolvedRecipe,
    teacher: Teacher,
    config: RunConfig,
    judge_teacher: Teacher | None = None,
) -> RunResult:
    """Run a generation to its end (or to a cap, budget or signal) and say how it ended;
    the judge (`checks.judge`) asks `judge_teacher`, else the teacher."""
    return asyncio.run(Generation(resolved, teacher, config, judge_teacher).run())


class Generation:
    """One run's state: the pipeline loop, the writers and the counters."""

    def __init__(
        self,
        resolved: ResolvedRecipe,
        teacher: Teacher,
        config: RunConfig,
        judge_teacher: Teacher | None = None,
    ) -> None:
        self.resolved = resolved
        self.teacher = teacher
        self.judge_teacher = judge_teacher
        self.config = config
        self.gate = config.gate or Gate.unlimited()
        self.stats = RunStats(target=config.target, gate=self.gate)
        self.provenance = Provenance.of(resolved, teacher)  # the one for this process
        self.manifest = ManifestWriter(
            config.out_dir, resolved, self.provenance.teacher, self.stats
        )
        if config.part is not None:
            self.manifest.extra["part"] = config.part.describe()
        texts = SampleTexts(self.manifest.recipe_section(), CARD_SAMPLE)
        self.tally = RunTally(texts)  # what the card counts, as the run goes
        self.stop_code: ExitCode | None = None
        self.asks: Asks | None = None
        self._returned: list[int] = []  # indexes a budget sent back unasked
        self.log = RunLog(None)
        self._lock: IO[str] | None = None
        self._starting: asyncio.Task[Asks] | None = None
        self._pool: WorkerPool | None = None  # spawned before the output is scanned
        self.breaker = Breaker()
        self.display: ProgressDisplay | None = None
        self._limit_notes = LimitNotes()
        self.batches_left = ""  # batches still running when the run stopped

    async def run(self) -> RunResult:
        """Run to the end; however it ends short of SIGKILL, the manifest says how."""
        try:
            with self._signals():  # from the start: a signal during start-up ends cleanly
                return await self._run()
        except TeacherCallError as fatal:
            stopped = QuotaExhausted if fatal.kind == "quota" else TeacherStopped
            self._ended(stopped.exit_code.status, f"stopped: {fatal.message}")
            raise stopped(fatal.message, _fatal_hint(fatal)) from None
        except OSError as exc:
            self._ended("error", f"stopped: {exc!r}")
            raise TinygenError(
                f"cannot write to {self.config.out_dir}: {exc.strerror or exc}",
                "free space or fix permissions, then rerun the same command: it resumes",
            ) from None
        except TinygenError as exc:
            self._ended("error", f"stopped: {exc.message}")
            raise
        except (asyncio.CancelledError, KeyboardInterrupt):
            self._ended((self.stop_code or ExitCode.INTERRUPTED).status, "stopped by a signal")
            raise
        except Exception as exc:
            self._ended("error", f"stopped by an unexpected error: {exc!r}")
            raise
        finally:
            self.log.close()
            if self._lock is not None:
                self._lock.close()
            await self.teacher.aclose()
            if self.judge_teacher is not None:
                await self.judge_teacher.aclose()

    async def _run(self) -> RunResult:
        self._pool = await self._spawn_pool()  # workers load while this process scans
        try:
            scan = self._prepare()
        except BaseException:
            if self._pool is not None:
                await self._pool.close()
            raise
        try:
            asks = None
            if self.stop_code is None:
                self._starting = asyncio.ensure_future(self._start_asks(scan))
                self.asks = asks = await self._starting
            if asks is not None and self.stop_code is None:
                self.stats.concurrency = asks
                gc.freeze()  # what is loaded by now lives to the end: keep it out of GC
                with ProgressDisplay(
                    self.stats, enabled=self.config.progress, title=self.resolved.name
                ) as self.display:
                    for name in missing_benchmarks(self.resolved):
                        self.notice(
                            f"checks.decontaminate names {name}, whose package is not "
                            "installed: answers are not checked against it (pip install "
                            "'tinygen[decontam]')"
                        )
                    await self._loop(asks, self.display, self._pending(scan))
        except asyncio.CancelledError:
            if self.asks is not None or self.stop_code is None:
                raise  # not a start cut short by a signal
        finally:
            # nothing writes after the loop: the files sync while the workers exit
            closing = asyncio.ensure_future(asyncio.to_thread(self._close_writers))
            try:
                if self.asks is not None:
                    self.batches_left = self.asks.status_note()
                    await self.asks.close()  # workers exit before the card is made
                elif self._pool is not None:  # spawned, never started
                    await self._pool.close()
            finally:
                await closing
        return self._finish()

    def _ended(self, status: str, message: str) -> None:
        """A run that ends by an error or a signal: say so in the manifest and the log
        (if the run got as far as writing them; a second failure here is not raised)."""
        if self.manifest.started and not self.manifest.finished:
            with contextlib.suppress(OSError):
                self.manifest.write(status)
        with contextlib.suppress(OSError):
            self.log.info(redact(message))

    async def _start_asks(self, scan: ScanResult) -> Asks:
        """Ask in this process, in worker processes when the config has a pool, or in
        batches."""
        config = self.config
        if config.import_results is not None:
            return await self._start_import(config.import_results, scan)
        if config.batch is not None:
            return await self._start_batches(config.batch, scan)
        if (pool := self._pool) is not None:
            await pool.ready()
            self.log.info(f"asking in {len(pool.setups)} worker processes ({pool.how_started})")
            return pool
        asker = self._asker(config.concurrency)
        asks = InProcessAsks(asker, asker.concurrency)
        await asks.start()
        return asks

    async def _spawn_pool(self) -> WorkerPool | None:
        """The run's worker processes, started (None when this process asks, or batches
        or an imported file answer)."""
        config = self.config
        if not config.in_workers or config.pool is None:
            return None
        setups = worker_setups(config.pool, self.resolved, config.retry.max_attempts, self.gate)
        pool = WorkerPool(setups, self.gate)
        await pool.spawn()
        return pool

    def _asker(self, concurrency: int) -> Asker:
        """The asker of this process, under the run's gate and retries."""
        limit = AdaptiveConcurrency(concurrency)
        return Asker(
            self.resolved,
            self.teacher,
            self.gate,
            self.config.retry,
            limit,
            self.provenance,
            self.judge_teacher,
        )

    async def _start_import(self, path: Path, scan: ScanResult) -> Asks:
        from tinygen.engine.batchfiles import ImportAsks

        asks = ImportAsks(self._asker(1), path, scan.done)
        await asks.start()
        self.log.info(f"importing {asks.in_flight} answers from {path}")
        return asks

    async def _start_batches(self, spec: BatchSpec, scan: ScanResult) -> Asks:
        from tinygen.engine.batches import BatchAsks
        from tinygen.teachers.batch_api import BatchClient

        client = BatchClient(spec.teacher, self.config.retry)
        asks = BatchAsks(
            self._asker(spec.size), client, self.config.out_dir, spec.size, spec.poll_s, scan.done
        )
        try:
            await asks.start()
        except BaseException:
            await asks.close()
            raise
        if asks.adopted:
            self.log.info(f"following {len(asks.adopted)} items in batches made before")
        return asks

    def _prepare(self) -> ScanResult:
        """Lock and ready the output directory, rebuild what it holds, open the writers."""
        out = self.config.out_dir
        refuse_foreign_dir(out, self.config.overwrite)  # before anything is created there
        self._lock = lock_out_dir(out)
        checks = self.resolved.recipe.checks
        self.caps = CorpusCaps(checks, self.config.target)
        counted = caps_on(checks)

        def seen(kind: str, record: dict) -> None:  # each record the resume scan reads
            self.tally.add(kind, record)
            if counted and kind == ACCEPTED_KIND:
                self.caps.count_text(record["text"])

        scan = prepare_out_dir(out, self.resolved, self.config.overwrite, seen)
        self.dedup = SeenTexts.resume(self.config.out_dir, self.resolved, scan)
        self._count_resumed(scan)
        self._open_writers(scan)
        self.manifest.start(self.config.item_cap, scan.manifest)
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
        """Indices still to ask, in order, up to the item cap (this part's only, and not
        those an earlier session's batches still hold)."""
        held = self.asks.adopted if self.asks is not None else frozenset()
        cap, part = self.config.item_cap, self.config.part
        indexes = part.indexes(cap) if part is not None else range(cap)
        return (i for i in indexes if i not in scan.done and i not in held)

    async def _loop(self, asks: Asks, display: ProgressDisplay, pending: Iterator[int]) -> None:
        """Keep items in flight; handle each as it finishes (O(1) per item, however many
        are in flight)."""
        self._launch(asks, pending)
        while asks.in_flight:
            for finished in await asks.next_finished():
                self._handle(finished)
            self._launch(asks, pending)
            self.stats.in_flight = min(asks.in_flight, asks.current)  # not workers' queues
            self._log_limit(asks)
            display.refresh()
            self.manifest.maybe_write()

    def _log_limit(self, asks: Asks) -> None:
        """Say in run.log when the concurrency limit changes its reason (`LimitNotes`)."""
        if self._limit_notes.due(asks.limit_reason):
            why = asks.limit_reason or "back at the maximum"
            self.log.info(f"concurrency {asks.current}/{asks.maximum}: {why}")

    def _may_launch(self, asks: Asks) -> bool:
        stats = self.stats
        return (
            self.stop_code is None
            and self.gate.reached is None
            and asks.has_room()
            and stats.accepted + asks.in_flight < stats.target
        )

    def _launch(self, asks: Asks, pending: Iterator[int]) -> None:
        """Start items while the limits allow and more could still be needed."""
        while self._may_launch(asks):
            index = self._returned.pop() if self._returned else next(pending, None)
            if index is None:
                break
            asks.submit(index)
        asks.flush()

    def _handle(self, finished: Finished) -> None:
        """Write one finished item to exactly one file and count it; stop the run if
        items keep ending the same hopeless way."""
        stats = self.stats
        stats.retries.update(finished.retried)
        stats.prompt_tokens += finished.prompt_tokens  # an unsent item's judge may have spent
        stats.completion_tokens += finished.completion_tokens
        stats.reasoning_tokens += finished.reasoning_tokens
        for notice in finished.notices:
            self.notice(notice)
        if finished.kind in (Kind.UNSENT, Kind.CANCELLED):
            self._unasked(finished)
            return
        self._write(finished)
        tripped = self.breaker.record(*hopeless_outcome(finished))
        if tripped is not None:
            raise TeacherStopped(f"stopped: {tripped.message}", tripped.hint)

    def _write(self, finished: Finished) -> None:
        stats, outcome = self.stats, finished.outcome or {}
        if finished.kind == Kind.FAILED:
            self.failed.write_line(finished.line)
            stats.failed[finished.reason] += 1
            self.tally.add(FAILED_KIND, outcome)
            return
        if finished.kind == Kind.REJECTED:
            self.rejected.write_line(finished.line)
            stats.rejected[finished.reason] += 1
            self.tally.add(REJECTED_KIND, outcome)
            return
        assert finished.key is not None
        if finished.traits is not None and (overused := self.caps.check(finished.traits)):
            self._refuse(finished, overused)
            return
        rejection = self.dedup.check_and_add(
            finished.index, finished.key, finished.text, finished.signature, finished.bands
        )
        if rejection is not None:
            self._refuse(finished, rejection)
            return
        self.shards.write_line(finished.line)
        self.tally.add(ACCEPTED_KIND, outcome, finished.line)
        self.dedup.accepted()
        if finished.traits is not None:
            self.caps.add(finished.traits)
        stats.accepted += 1

    def _refuse(self, finished: Finished, rejection: Rejection) -> None:
        """A checked answer the corpus caps or dedup refuse, written as rejected."""
        self.rejected.write_line(duplicate_line(finished, rejection))
        self.stats.rejected[rejection.reason] += 1
        self.tally.add(REJECTED_KIND, {**(finished.outcome or {}), "reason": rejection.reason})

    def notice(self, text: str) -> None:
        """Say once, on stderr and in run.log, what changed in the requests."""
        if text in self.stats.notices:
            return
        self.stats.notices.append(text)
        self.log.info(f"note: {text}")
        if self.display is not None:
            self.display.note(text)

    def _unasked(self, finished: Finished) -> None:
        """An item a budget refused (asked again by another worker or the next run) or
        a signal cancelled (asked by the next run)."""
        if finished.kind == Kind.UNSENT:
            self._returned.append(finished.index)
            if self.asks is not None and self.asks.budgets_spent():
                self.gate.reached = finished.reason

    def _signals(self) -> _SignalHandlers:
        return _SignalHandlers(self)

    def on_signal(self, signum: int) -> None:
        """First signal: stop sending and let in-flight items finish (up to the grace
        period); second: cancel them at once. Written lines stay whole either way."""
        loop = asyncio.get_running_loop()
        if self.stop_code is None:
            self.stop_code = SIGNAL_EXIT[signal.Signals(signum)]
            if self.asks is not None:
                self.asks.stop_sending()
            elif self._starting is not None:
                self._starting.cancel()  # workers starting: nothing was asked yet
            loop.call_later(self.config.grace_s, self._cancel_in_flight)
        else:
            self._cancel_in_flight()

    def _cancel_in_flight(self) -> None:
        if self.asks is not None:
            self.asks.cancel()

    def _finish(self) -> RunResult:
        stats, out = self.stats, self.config.out_dir
        if stats.accepted >= stats.target:
            code, message = ExitCode.OK, f"{stats.target} records in {out / 'data'}"
        elif self.stop_code is not None:
            code = self.stop_code
            message = f"stopped by a signal with {stats.accepted} of {stats.target} records; "
            message += "rerun the same command to continue"
            if self.batches_left:
                message += f" (batches keep running at the provider: {self.batches_left})"
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
        corpus = corpus_stats(out, sample=CARD_SAMPLE, tally=self.tally)
        if write_card(out, corpus) is None:
            self.log.info("README.md is not tinygen's card: left as it is, no card written")
        self.log.info(f"{code.status}: {message}")
        self.log.info(f"counts: {stats.summary()}")
        return RunResult(code, message, stats, out, corpus)


class _SignalHandlers:
    """Route SIGINT, SIGTERM and SIGHUP to the run while it is inside the event loop."""

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


def hopeless_outcome(finished: Finished) -> tuple[str | None, str]:
    """What the breaker counts of an item: a failure no retry fixes (a 400, 422, ...)
    or a rejection no other item escapes (a reasoning budget spent), with its hint;
    (None, "") for anything that may go better next time."""
    if finished.kind == Kind.FAILED and finished.reason == "client_error":
        return finished.error or finished.reason, (
            "the endpoint refuses the requests as tinygen sends them: fix what its message "
            "names (the model, a parameter, the prompt); failed.jsonl holds each refused item"
        )
    if finished.kind == Kind.REJECTED and finished.reason in HOPELESS_REJECTIONS:
        return finished.reason, HOPELESS_REJECTIONS[finished.reason]
    return None, ""


def _fatal_hint(error: TeacherCallError) -> str:
    if error.kind == "quota":
        return (
            "add credit or raise the quota of this key (the provider's billing page), then "
            "rerun the same command: it resumes"
        )
    if error.kind == "endpoints_down":
        return (
            "start the servers again (or fix --base-url), then rerun the same command: it "
            "resumes; --endpoint-patience sets how long tinygen waits for them"
        )
    if error.kind == "auth":
        return "check the API key (OPENAI_API_KEY or --api-key) and --base-url"
    return "check --base-url (it usually ends in /v1) and --model"
