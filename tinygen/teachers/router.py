"""One teacher over several endpoints: least outstanding first, ejection, failover.

Each request goes to the usable endpoint with the fewest requests outstanding for its
share (a fast endpoint frees its slots sooner, so it gets more). An endpoint that fails
EJECT_STREAK calls in a row (no connection, a timeout, a 5xx) is ejected for a cool-down;
then one request probes it (back on success; else a cool-down twice as long). A call
that fails on one endpoint is sent again at once to another, and a request whose
endpoint was ejected under it waits for one that answers: neither spends an attempt of
the retry policy. When every endpoint has been down for `patience` seconds the run stops
(a fatal error): rerunning the same command resumes it.
"""

from __future__ import annotations

import asyncio
import contextlib
import time
from collections.abc import Callable, Sequence
from dataclasses import dataclass, replace

from tinygen.recipe.model import TeacherParams
from tinygen.teachers.base import Completion, Teacher, TeacherCallError
from tinygen.teachers.factory import DEFAULT_PATIENCE

ENDPOINT_FAILURES = frozenset({"connection", "timeout", "server_error"})
EJECT_STREAK = 3  # failures in a row that eject an endpoint
FIRST_COOL_DOWN = 2.0  # seconds before the first probe; doubled after each failed probe
MAX_COOL_DOWN = 30.0
_WAKE_S = 1.0  # longest a waiting request sleeps before it looks again


@dataclass
class EndpointCounts:
    """What one endpoint did in this session (summed over worker processes)."""

    label: str
    answered: int = 0
    errors: int = 0  # calls that failed there
    resent: int = 0  # of those, sent again elsewhere (no attempt spent)
    ejected: int = 0  # times it was taken out
    latency_s: float = 0.0  # summed over answered calls
    down: bool = False  # taken out right now

    def add(self, other: EndpointCounts) -> None:
        """Add another process's counts for the same endpoint."""
        self.answered += other.answered
        self.errors += other.errors
        self.resent += other.resent
        self.ejected += other.ejected
        self.latency_s += other.latency_s
        self.down = self.down or other.down

    def describe(self) -> dict[str, object]:
        """For the manifest."""
        mean = self.latency_s / self.answered if self.answered else None
        return {
            "answered": self.answered,
            "errors": self.errors,
            "resent": self.resent,
            "ejected": self.ejected,
            "mean_latency_s": None if mean is None else round(mean, 4),
            "down": self.down,
        }


def summed(counts: Sequence[EndpointCounts]) -> list[EndpointCounts]:
    """Counts of the same endpoints from several processes, one entry per endpoint."""
    total: dict[str, EndpointCounts] = {}
    for count in counts:
        total.setdefault(count.label, EndpointCounts(count.label)).add(count)
    return list(total.values())


class Endpoint:
    """One endpoint's teacher and its health."""

    def __init__(
        self,
        label: str,
        teacher: Teacher,
        *,
        model: str | None = None,
        share: float = 1.0,
        concurrency: int | None = None,
    ) -> None:
        self.label = label
        self.teacher = teacher
        self.model = model
        self.share = share
        self.concurrency = concurrency
        self.counts = EndpointCounts(label)
        self.outstanding = 0
        self.streak = 0  # endpoint failures in a row
        self.cool_down = FIRST_COOL_DOWN
        self.back_at: float | None = None  # ejected until then (None: in service)
        self.probing = False
        self.last_error = ""
        self._params: tuple[TeacherParams, TeacherParams] | None = None

    def params(self, params: TeacherParams) -> TeacherParams:
        """The recipe's parameters, under this endpoint's model name if it has one."""
        if self.model is None:
            return params
        if self._params is None or self._params[0] is not params:
            self._params = (params, params.model_copy(update={"model": self.model}))
        return self._params[1]

    def usable(self, now: float) -> bool:
        """In service with room, or due for its probe."""
        if self.back_at is not None:
            return now >= self.back_at and not self.probing
        return self.concurrency is None or self.outstanding < self.concurrency

    def load(self) -> float:
        return (self.outstanding + 1) / self.share


class RoutedTeacher:
    """The Teacher seam over several endpoints (see the module docstring)."""

    def __init__(
        self,
        endpoints: list[Endpoint],
        patience: float = DEFAULT_PATIENCE,
        clock: Callable[[], float] = time.monotonic,
    ) -> None:
        self.endpoints = endpoints
        self.patience = patience
        self._clock = clock
        self._all_down_since: float | None = None
        self._changed = asyncio.Event()
        self._notices: list[str] = []

    def describe(self) -> dict[str, object]:
        hosts = ", ".join(endpoint.label for endpoint in self.endpoints)
        return {"kind": "openai-compatible", "host": hosts}

    def counts(self) -> list[EndpointCounts]:
        """Each endpoint's counts so far (copies, safe to send)."""
        return [replace(endpoint.counts) for endpoint in self.endpoints]

    def take_notices(self) -> list[str]:
        notices, self._notices = self._notices, []
        for endpoint in self.endpoints:
            notices += endpoint.teacher.take_notices()
        return notices

    async def complete(self, messages: list[dict[str, str]], params: TeacherParams) -> Completion:
        """Ask the least loaded endpoint; on an endpoint's failure ask another."""
        tried: set[Endpoint] = set()  # in service, and failed this request
        failure: TeacherCallError | None = None
        while True:
            endpoint = await self._choose(tried, failure)
            started = self._clock()
            try:
                completion = await self._send(endpoint, messages, params)
            except TeacherCallError as error:
                if error.fatal:
                    raise _named(error, endpoint.label) from None
                in_service = self._failed(endpoint, error)
                if in_service and not (
                    error.kind in ENDPOINT_FAILURES and self._elsewhere(tried | {endpoint})
                ):
                    raise
                if in_service:
                    tried.add(endpoint)
                else:
                    tried.discard(endpoint)  # taken out: its probe is a fresh look
                endpoint.counts.resent += 1
                failure = error
                continue
            self._answered(endpoint, self._clock() - started)
            return replace(completion, endpoint=endpoint.label)

    async def _send(
        self, endpoint: Endpoint, messages: list[dict[str, str]], params: TeacherParams
    ) -> Completion:
        endpoint.outstanding += 1
        endpoint.probing = endpoint.back_at is not None
        try:
            return await endpoint.teacher.complete(messages, endpoint.params(params))
        finally:
            endpoint.outstanding -= 1
            endpoint.probing = False
            self._wake()

    async def _choose(self, tried: set[Endpoint], failure: TeacherCallError | None) -> Endpoint:
        """The usable endpoint with the least load, not tried yet; wait while there is
        none. If every other is out but one that failed this request is in service, the
        request's `failure` goes to the retry policy."""
        while True:
            now = self._clock()
            usable = [e for e in self.endpoints if e not in tried and e.usable(now)]
            if usable:
                return min(usable, key=Endpoint.load)
            if failure is not None and any(e.back_at is None for e in tried):
                raise failure
            if self._all_down_since is not None and now - self._all_down_since >= self.patience:
                raise self._all_down()
            await self._wait(now)

    async def _wait(self, now: float) -> None:
        """Until a request ends, an endpoint's cool-down ends, or _WAKE_S passes."""
        dues = [e.back_at - now for e in self.endpoints if e.back_at is not None]
        with_patience = (
            [self._all_down_since + self.patience - now] if self._all_down_since is not None else []
        )
        timeout = max(0.0, min([_WAKE_S, *dues, *with_patience]))
        self._changed.clear()
        with contextlib.suppress(TimeoutError):
            await asyncio.wait_for(self._changed.wait(), timeout)

    def _wake(self) -> None:
        self._changed.set()

    def _elsewhere(self, tried: set[Endpoint]) -> bool:
        """Whether an endpoint not tried yet is in service (or due for its probe)."""
        now = self._clock()
        return any(
            e not in tried and (e.back_at is None or now >= e.back_at) for e in self.endpoints
        )

    def _answered(self, endpoint: Endpoint, latency: float) -> None:
        endpoint.counts.answered += 1
        endpoint.counts.latency_s += latency
        endpoint.streak = 0
        if endpoint.back_at is not None:
            endpoint.back_at, endpoint.cool_down = None, FIRST_COOL_DOWN
            endpoint.counts.down = False
            self._notices.append(f"endpoint {endpoint.label} answers again")
        self._all_down_since = None

    def _failed(self, endpoint: Endpoint, error: TeacherCallError) -> bool:
        """Count a failed call; False if the endpoint is (now) out of service."""
        endpoint.counts.errors += 1
        if error.kind not in ENDPOINT_FAILURES:
            return True  # it answered (a 429, a malformed body): the retry policy decides
        endpoint.streak += 1
        endpoint.last_error = error.message
        probe_failed = endpoint.back_at is not None
        if probe_failed:
            endpoint.cool_down = min(endpoint.cool_down * 2, MAX_COOL_DOWN)
        elif endpoint.streak >= EJECT_STREAK:
            self._eject(endpoint)
        else:
            return True
        endpoint.back_at = self._clock() + endpoint.cool_down
        if all(e.back_at is not None for e in self.endpoints) and self._all_down_since is None:
            self._all_down_since = self._clock()
        return False

    def _eject(self, endpoint: Endpoint) -> None:
        endpoint.counts.ejected += 1
        endpoint.counts.down = True
        self._notices.append(
            f"endpoint {endpoint.label} is out after {endpoint.streak} failures in a row "
            f"({endpoint.last_error}); its requests go to the others while it is probed"
        )

    def _all_down(self) -> TeacherCallError:
        why = "; ".join(f"{e.label}: {e.last_error or 'no answer'}" for e in self.endpoints)
        return TeacherCallError(
            "endpoints_down",
            f"every endpoint has been down for {self.patience:g} s ({why})",
            retryable=False,
            fatal=True,
        )

    async def aclose(self) -> None:
        for endpoint in self.endpoints:
            await endpoint.teacher.aclose()


def _named(error: TeacherCallError, label: str) -> TeacherCallError:
    """A fatal error, saying which endpoint refused."""
    return TeacherCallError(
        error.kind,
        f"{label}: {error.message}",
        retryable=error.retryable,
        fatal=True,
        status=error.status,
        retry_after=error.retry_after,
    )


def endpoint_counts(teacher: Teacher) -> list[EndpointCounts]:
    """The per-endpoint counts of a teacher over several endpoints ([] for any other)."""
    return teacher.counts() if isinstance(teacher, RoutedTeacher) else []
