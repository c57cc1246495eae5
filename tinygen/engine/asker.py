"""Asking one item: build its prompt, call the teacher with retries, check the answer.

The result is a `Finished`: the item's record already encoded as one JSON line, plus the
few figures the main loop needs to count, deduplicate and write it. The same code runs
in the main process and in worker processes (engine/worker.py).
"""

from __future__ import annotations

import asyncio
import contextlib
import gc
import json
from dataclasses import dataclass, field, replace

import numpy as np

from tinygen.checks.base import Answer, Rejection, first_rejection
from tinygen.checks.build import build_checks, build_code_check
from tinygen.checks.judge import Judge
from tinygen.engine.caps import Traits, caps_on, traits_of
from tinygen.engine.records import (
    REJECTED_TEXT_CHARS,
    Provenance,
    accepted_record,
    failed_record,
    rejected_record,
    rejection_fields,
)
from tinygen.recipe.items import Item, build_item, prompt_estimate
from tinygen.recipe.model import ResolvedRecipe
from tinygen.report.outcomes import outcome_fields
from tinygen.rundir.jsonl import dump_line
from tinygen.teachers.backpressure import AdaptiveConcurrency
from tinygen.teachers.base import Completion, Teacher, TeacherCallError
from tinygen.teachers.limits import BudgetReached, Gate, gated_complete
from tinygen.teachers.retry import CallOutcome, RetryPolicy, call_with_retries
from tinygen.text.canonical import text_key
from tinygen.text.redact import redact

THROTTLE_STATUS = frozenset({429, 503, 529})  # the endpoint is over its rate or overloaded


class Kind:
    """How an item ended (`Finished.kind`)."""

    CANDIDATE = "candidate"  # passed the checks; dedup in the main process decides
    REJECTED = "rejected"  # a check refused the answer
    FAILED = "failed"  # the calls failed for good
    UNSENT = "unsent"  # a budget refused to send it: still pending
    CANCELLED = "cancelled"  # a signal cancelled it: still pending


@dataclass(slots=True)
class Finished:
    """How one item ended (`kind`, see Kind), with its encoded record line."""

    index: int
    kind: str
    line: str = ""
    reason: str = ""
    attempts: int = 0  # requests it made (the judge's included)
    retried: tuple[str, ...] = ()
    prompt_tokens: int = 0
    completion_tokens: int = 0
    reasoning_tokens: int = 0
    error: str = ""  # a failure's status and message, for the breaker
    notices: tuple[str, ...] = ()  # what the teacher changed in its requests
    text: str | None = None
    key: bytes | None = None
    traits: Traits | None = None  # what the corpus caps count (when the recipe has caps)
    signature: np.ndarray | None = None
    bands: list[int] | None = None  # the signature's LSH band keys
    outcome: dict | None = None  # the record's fields the run's tally counts


@dataclass(slots=True)
class Asked:
    """An item and how asking the teacher went (`call` is None if a budget refused)."""

    item: Item
    call: CallOutcome | None = None
    latency: float = 0.0
    retried: list[str] = field(default_factory=list)
    unsent: str = ""
    notices: tuple[str, ...] = ()
    waiting: bool = False  # sleeping before a retry (it holds no slot meanwhile)
    batch: str | None = None  # the batch that answered it, if one did


class Asker:
    """Turns an item index into a `Finished`, under a gate and a retry policy."""

    def __init__(
        self,
        resolved: ResolvedRecipe,
        teacher: Teacher,
        gate: Gate,
        policy: RetryPolicy,
        concurrency: AdaptiveConcurrency,
        provenance: Provenance | None = None,
        judge_teacher: Teacher | None = None,
    ) -> None:
        self.resolved = resolved
        self.teacher = teacher
        self.gate = gate
        self.policy = policy
        self.concurrency = concurrency
        self.provenance = provenance or Provenance.of(resolved, teacher)
        self.checks = build_checks(resolved)
        self.code_check = build_code_check(resolved)
        self.capped = caps_on(resolved.recipe.checks)
        self.judge_teacher = judge_teacher
        self._warming: asyncio.Future[None] | None = None
        self.grader = None
        if resolved.recipe.checks.judge is not None:
            self.grader = Judge(resolved, judge_teacher or teacher, gate, policy)

    async def aclose(self) -> None:
        """Close the teacher, and the judge's if it has its own."""
        await self.teacher.aclose()
        if self.judge_teacher is not None:
            await self.judge_teacher.aclose()

    def warm_up(self) -> None:
        """Run every text check once (on item 0's prompt), so the word tables they load
        lazily are in memory before the first answer arrives."""
        item = build_item(self.resolved, 0)
        text = " ".join(message["content"] for message in item.messages)
        for check in self.checks:
            with contextlib.suppress(Exception):  # a check that raises fails items later
                check(Answer(text, "stop", item.variables))

    def warm_up_soon(self) -> None:
        """Warm up in a thread while the first requests are out (the first answer's checks
        wait for it); what it loads is then kept out of GC passes."""

        def warm() -> None:
            self.warm_up()
            gc.freeze()

        self._warming = asyncio.ensure_future(asyncio.to_thread(warm))

    async def ask(self, index: int) -> Finished:
        """Ask item `index` and check the answer (fatal teacher errors are raised)."""
        return await self.judge(await self.call(index))

    async def call(self, index: int) -> Asked:
        """Build item `index` and ask the teacher, retrying what may be retried.

        Fatal teacher errors (bad key, wrong URL) are raised."""
        asked = Asked(build_item(self.resolved, index))

        def on_retry(error: TeacherCallError) -> None:
            asked.retried.append(error.kind)
            if error.status in THROTTLE_STATUS:
                self.concurrency.on_throttled(str(error.status))
            asked.waiting = True
            self.concurrency.wait_started()

        try:
            asked.call = await call_with_retries(
                lambda: self._one_call(asked), self.policy, on_retry
            )
        except BudgetReached as reached:
            asked.unsent = str(reached)
        finally:
            self._end_wait(asked)
        asked.notices = tuple(self.teacher.take_notices())
        return asked

    async def judge(self, asked: Asked) -> Finished:
        """Check the answer and encode the item's record. An answer too large to read is
        rejected; a check that raises fails the item, never the run."""
        finished = await self._judged(asked)
        finished.notices = asked.notices
        return finished

    async def _judged(self, asked: Asked) -> Finished:
        item, call, retried = asked.item, asked.call, tuple(asked.retried)
        if call is None:
            return Finished(
                item.index, Kind.UNSENT, reason=asked.unsent, attempts=len(retried), retried=retried
            )
        completion = call.completion
        if completion is None and call.error is not None and call.error.kind == "too_large":
            completion = _oversized(call.error)
        if completion is None:
            return self._failed(item, call, retried)
        if item.prefill:  # the teacher (or batch) continued the answer's start
            completion = replace(completion, text=item.prefill + completion.text)
        self.concurrency.on_answer(asked.latency)
        if self._warming is not None:
            await self._warming  # the word tables are loaded (at once after the first time)
        answer = Answer(
            completion.text, completion.finish_reason, item.variables, completion.reasoning_tokens
        )
        try:
            rejection = await self._first_rejection(answer, call)
        except Exception as exc:
            error = {"kind": "check_error", "message": redact(f"{exc!r}")[:500], "status": None}
            return self._failed(item, call, retried, error)
        finished = Finished(
            item.index,
            Kind.CANDIDATE,
            attempts=call.attempts,
            retried=retried,
            prompt_tokens=completion.prompt_tokens or 0,
            completion_tokens=completion.completion_tokens or 0,
            reasoning_tokens=completion.reasoning_tokens or 0,
        )
        if rejection is None and self.grader is not None and self.grader.wants(item.index):
            rejection = await self._graded(finished, item, answer)
            if finished.kind == Kind.UNSENT:
                return finished
        record = accepted_record(
            self.provenance, item, completion, call.attempts, asked.latency, asked.batch
        )
        record["checks"] = answer.figures
        if rejection is not None:
            finished.kind, finished.reason = Kind.REJECTED, rejection.reason
            rejected = rejected_record(record, rejection)
            finished.line, finished.outcome = dump_line(rejected), outcome_fields(rejected)
            return finished
        finished.line, finished.outcome = dump_line(record), outcome_fields(record)
        finished.text, finished.key = completion.text, text_key(completion.text)
        if self.capped:
            finished.traits = traits_of(completion.text, self.resolved.recipe.checks, answer.tokens)
        return finished

    async def _graded(self, finished: Finished, item: Item, answer: Answer) -> Rejection | None:
        """Ask the judge; its scores go into the answer's figures, its traffic into
        `finished` (which a budget that refused the judge leaves UNSENT)."""
        assert self.grader is not None
        verdict = await self.grader.grade(item, answer.text)
        finished.attempts += verdict.requests
        finished.prompt_tokens += verdict.prompt_tokens
        finished.completion_tokens += verdict.completion_tokens
        if verdict.unsent:
            finished.kind, finished.reason = Kind.UNSENT, verdict.unsent
        if verdict.figures:
            answer.figures["judge"] = verdict.figures
        return verdict.rejection

    async def _first_rejection(self, answer: Answer, call: CallOutcome) -> Rejection | None:
        if call.error is not None:  # an answer read only in part
            return Rejection("too_large", call.error.message)
        rejection = first_rejection(answer, self.checks)
        if rejection is None and self.code_check is not None:
            rejection = await self.code_check(answer)
        return rejection

    def _failed(
        self, item: Item, call: CallOutcome, retried: tuple[str, ...], error: dict | None = None
    ) -> Finished:
        kind = error["kind"] if error else call.error.kind if call.error else "unknown"
        record = failed_record(self.provenance, item, call, error)
        return Finished(
            item.index,
            Kind.FAILED,
            line=dump_line(record),
            outcome=outcome_fields(record),
            reason=kind,
            attempts=call.attempts,
            retried=retried,
            error=call.error.message if call.error and not error else "",
        )

    def _end_wait(self, asked: Asked) -> None:
        if asked.waiting:
            asked.waiting = False
            self.concurrency.wait_ended()

    async def _one_call(self, asked: Asked) -> Completion:
        self._end_wait(asked)  # the retry's sleep is over: it asks again
        params, item = self.resolved.recipe.teacher, asked.item
        completion, asked.latency = await gated_complete(
            self.gate, self.teacher, item.messages, params, prompt_estimate(item.messages)
        )
        return completion


def _oversized(error: TeacherCallError) -> Completion:
    """What is known of an answer whose body passed the bound: its start."""
    return Completion(text=error.body_prefix, finish_reason=None)


def duplicate_line(finished: Finished, rejection: Rejection) -> str:
    """The rejected-file line of a candidate that dedup refused: its line with the
    rejection's fields appended (decoded again only if its text may need cutting)."""
    if len(finished.line) > REJECTED_TEXT_CHARS:
        return dump_line(rejected_record(json.loads(finished.line), rejection))
    return finished.line[:-1] + "," + dump_line(rejection_fields(rejection))[1:]
