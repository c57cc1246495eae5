"""A generation run: draw items, ask the teacher, check, dedup, write; resumable."""

from __future__ import annotations

import asyncio
import logging
import time
from collections.abc import Iterator
from dataclasses import dataclass, field
from pathlib import Path

from tinygen import SCHEMA_VERSION, __version__
from tinygen.canonical import text_key
from tinygen.checks import Answer, Rejection, first_rejection
from tinygen.errors import ExitCode, TinygenError
from tinygen.items import Item, build_item
from tinygen.outdir import prepare_out_dir
from tinygen.progress import ProgressDisplay
from tinygen.quality import build_checks
from tinygen.recipe import ResolvedRecipe
from tinygen.records import Provenance, accepted_record, failed_record, rejected_record, utc_now
from tinygen.retry import CallOutcome, RetryPolicy, call_with_retries
from tinygen.stats import RunStats
from tinygen.store import (
    FAILED,
    REJECTED,
    JsonlAppender,
    ScanResult,
    ShardWriter,
    shard_summaries,
    write_manifest,
)
from tinygen.teachers.base import Teacher, TeacherCallError

log = logging.getLogger("tinygen.run")
MANIFEST_EVERY_S = 5.0


@dataclass(frozen=True)
class RunConfig:
    """How to run: where to write, how much, how fast, how patiently."""

    out_dir: Path
    target: int
    max_items: int | None = None
    concurrency: int = 64
    overwrite: bool = False
    retry: RetryPolicy = field(default_factory=RetryPolicy)
    progress: bool = True

    @property
    def item_cap(self) -> int:
        """Items a run may draw in all (by default 3 x the target)."""
        return self.max_items if self.max_items is not None else 3 * self.target


@dataclass
class Outcome:
    """One finished item: the call, and for an answer, the checks' verdict."""

    item: Item
    call: CallOutcome
    latency: float
    answer: Answer | None = None
    rejection: Rejection | None = None


@dataclass
class RunResult:
    """How a run ended."""

    exit_code: ExitCode
    message: str
    stats: RunStats
    out_dir: Path

    def summary(self) -> dict[str, object]:
        return {
            "status": self.exit_code.name.lower(),
            "exit_code": int(self.exit_code),
            "message": self.message,
            "out_dir": str(self.out_dir),
            **self.stats.summary(),
        }


def generate(resolved: ResolvedRecipe, teacher: Teacher, config: RunConfig) -> RunResult:
    """Run a generation to its end (or to the item cap) and return how it ended."""
    return asyncio.run(Generation(resolved, teacher, config).run())


class Generation:
    """One run's state: the pipeline loop, the writers and the counters."""

    def __init__(self, resolved: ResolvedRecipe, teacher: Teacher, config: RunConfig) -> None:
        self.resolved = resolved
        self.teacher = teacher
        self.config = config
        self.stats = RunStats(target=config.target)
        self.provenance = Provenance(
            resolved, {**teacher.describe(), "model": resolved.recipe.teacher.model}
        )
        self.started_at = utc_now()
        self.checks = build_checks(resolved)
        self._scan = ScanResult()
        self._last_manifest = 0.0

    async def run(self) -> RunResult:
        self._scan = prepare_out_dir(self.config.out_dir, self.resolved, self.config.overwrite)
        self._count_resumed()
        out = self.config.out_dir
        shards = ShardWriter(
            out,
            self.resolved.recipe.shard_size,
            self._scan.last_shard,
            self._scan.last_shard_records,
        )
        rejected, failed = JsonlAppender(out / REJECTED), JsonlAppender(out / FAILED)
        self._writers = (shards, rejected, failed)
        self._write_manifest("running")
        try:
            with ProgressDisplay(
                self.stats, enabled=self.config.progress, title=self.resolved.name
            ) as display:
                await self._loop(display)
        except TeacherCallError as fatal:
            self._close_writers()
            self._write_manifest("error")
            raise TinygenError(fatal.message, _fatal_hint(fatal)) from None
        finally:
            await self.teacher.aclose()
        self._close_writers()
        return self._finish()

    def _count_resumed(self) -> None:
        scan, stats = self._scan, self.stats
        stats.accepted = stats.resumed_accepted = scan.accepted
        stats.rejected.update(scan.rejected)
        stats.failed.update(scan.failed)
        for path in scan.repaired:
            log.warning("repaired a torn last line in %s", path)

    def _pending(self) -> Iterator[int]:
        """Indices still to ask, in order, up to the item cap."""
        return (i for i in range(self.config.item_cap) if i not in self._scan.done)

    async def _loop(self, display: ProgressDisplay) -> None:
        pending = self._pending()
        in_flight: set[asyncio.Task] = set()
        done: set[asyncio.Task] = set()
        try:
            while True:
                self._launch(pending, in_flight)
                if not in_flight:
                    return
                done, in_flight = await asyncio.wait(in_flight, return_when=asyncio.FIRST_COMPLETED)
                for task in done:
                    self._handle(task.result())
                self.stats.in_flight = len(in_flight)
                display.refresh()
                self._maybe_write_manifest()
        finally:
            await _cancel(in_flight | done)

    def _launch(self, pending: Iterator[int], in_flight: set[asyncio.Task]) -> None:
        """Start items while below the concurrency and the items that could still be needed."""
        while (
            len(in_flight) < self.config.concurrency
            and self.stats.accepted + len(in_flight) < self.config.target
        ):
            index = next(pending, None)
            if index is None:
                return
            in_flight.add(asyncio.create_task(self._ask(index)))

    async def _ask(self, index: int) -> Outcome:
        """Build item `index`, ask the teacher (with retries), and check the answer."""
        item = build_item(self.resolved, index)
        params = self.resolved.recipe.teacher
        started = time.monotonic()

        async def one_call():
            nonlocal started
            started = time.monotonic()
            return await self.teacher.complete(item.messages, params)

        call = await call_with_retries(one_call, self.config.retry, self._on_retry)
        outcome = Outcome(item, call, time.monotonic() - started)
        if call.completion is not None:
            outcome.answer = Answer(
                call.completion.text, call.completion.finish_reason, item.variables
            )
            outcome.rejection = first_rejection(outcome.answer, self.checks)
        return outcome

    def _on_retry(self, error: TeacherCallError) -> None:
        self.stats.retries[error.kind] += 1

    def _handle(self, outcome: Outcome) -> None:
        """Write one finished item to exactly one file and count it."""
        shards, rejected, failed = self._writers
        stats, call = self.stats, outcome.call
        stats.requests += call.attempts
        if call.completion is None or outcome.answer is None:
            failed.write(failed_record(self.provenance, outcome.item, call))
            stats.failed[call.error.kind if call.error else "unknown"] += 1
            return
        stats.prompt_tokens += call.completion.prompt_tokens or 0
        stats.completion_tokens += call.completion.completion_tokens or 0
        record = accepted_record(self.provenance, outcome.item, call, outcome.latency)
        record["checks"] = outcome.answer.figures
        rejection = outcome.rejection or self._duplicate(record)
        if rejection is not None:
            rejected.write(rejected_record(record, rejection))
            stats.rejected[rejection.reason] += 1
            return
        shards.write(record)
        stats.accepted += 1

    def _duplicate(self, record: dict) -> Rejection | None:
        """Exact duplicate of an accepted text? Otherwise remember this one."""
        key = text_key(record["text"])
        first = self._scan.text_keys.setdefault(key, record["index"])
        if first != record["index"]:
            return Rejection("duplicate", f"same normalized text as item {first}")
        return None

    def _close_writers(self) -> None:
        for writer in self._writers:
            writer.close()

    def _maybe_write_manifest(self) -> None:
        now = time.monotonic()
        if now - self._last_manifest >= MANIFEST_EVERY_S:
            self._write_manifest("running")

    def _write_manifest(self, status: str, shards: bool = False) -> None:
        self._last_manifest = time.monotonic()
        recipe = self.resolved.recipe
        manifest = {
            "tinygen_version": __version__,
            "schema_version": SCHEMA_VERSION,
            "status": status,
            "recipe": {
                "name": recipe.name,
                "source": self.resolved.source,
                "fingerprint": self.resolved.fingerprint,
                "template_hash": self.resolved.template_hash,
                "resolved": recipe.model_dump(mode="json"),
            },
            "seed": recipe.seed,
            "teacher": self.provenance.teacher,
            "counts": self.stats.summary(),
            "item_cap": self.config.item_cap,
            "started_at": self.started_at,
            "updated_at": utc_now(),
        }
        if shards:
            manifest["shards"] = shard_summaries(self.config.out_dir)
        write_manifest(self.config.out_dir, manifest)

    def _finish(self) -> RunResult:
        stats, out = self.stats, self.config.out_dir
        if stats.accepted >= stats.target:
            code = ExitCode.OK
            message = f"{stats.target} records in {out / 'data'}"
        else:
            code = ExitCode.TARGET_NOT_REACHED
            message = (
                f"only {stats.accepted} of {stats.target} records were accepted after "
                f"drawing the cap of {self.config.item_cap} items; see "
                f"{out / REJECTED} and {out / FAILED} for why"
            )
        self._write_manifest("done" if code == ExitCode.OK else "target_not_reached", shards=True)
        log.info("run ended: %s", message)
        return RunResult(code, message, stats, out)


async def _cancel(tasks: set[asyncio.Task]) -> None:
    for task in tasks:
        task.cancel()
    if tasks:
        await asyncio.gather(*tasks, return_exceptions=True)


def _fatal_hint(error: TeacherCallError) -> str:
    if error.kind == "auth":
        return "check the API key (OPENAI_API_KEY or --api-key) and --base-url"
    return "check --base-url (it usually ends in /v1) and --model"
