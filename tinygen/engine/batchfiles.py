"""Batch files for other runners: write a run's request lines, import their results.

`export_requests` writes the request lines of the items a run still needs, in OpenAI's
batch format, for `vllm run_batch` on a GPU machine or any other batch runner; the file
is replaced whole, never left half written. `ImportAsks` is the `Asks` seam over a
results file in the same format: the run loop takes its answers through the same checks,
dedup, writers and resume rules as online answers. Items already on disk are skipped, so
importing a file twice doubles nothing; lines the runner did not answer stay pending
(the next export asks them again).
"""

from __future__ import annotations

from collections.abc import Iterator
from itertools import islice
from pathlib import Path

from tinygen.engine.asker import Asked, Asker, Finished
from tinygen.errors import UsageError
from tinygen.recipe.items import build_item
from tinygen.recipe.model import ResolvedRecipe
from tinygen.rundir.layout import atomic_write
from tinygen.rundir.manifest import read_manifest
from tinygen.rundir.store import scan
from tinygen.teachers.batch_lines import Result, read_result, request_line
from tinygen.teachers.retry import CallOutcome
from tinygen.teachers.router import EndpointCounts

IMPORT_CHUNK = 256  # results judged per hand-back to the run loop


def done_items(resolved: ResolvedRecipe, out_dir: Path) -> tuple[set[int], int]:
    """The items of this run already on disk in `out_dir` and how many were accepted
    (none if there is no run there yet)."""
    if not out_dir.is_dir():
        return set(), 0
    manifest = read_manifest(out_dir)
    found = scan(out_dir)
    fingerprint = manifest["recipe"]["fingerprint"] if manifest else found.fingerprint
    if fingerprint is not None and fingerprint != resolved.fingerprint:
        raise UsageError(
            f"--out {out_dir} holds a run with another recipe, model or seed",
            "export with the same recipe, options and seed as the run, or another --out",
        )
    return found.done, found.accepted


def export_requests(
    resolved: ResolvedRecipe, out_dir: Path, path: Path, target: int, item_cap: int
) -> int:
    """Write the request lines of the next items the run in `out_dir` needs to reach
    `target` records to `path`; return how many lines."""
    done, accepted = done_items(resolved, out_dir)
    wanted = max(0, target - accepted)
    pending = (index for index in range(item_cap) if index not in done)
    params = resolved.recipe.teacher
    lines = [
        request_line(build_item(resolved, index), resolved.fingerprint, params)
        for index in islice(pending, wanted)
    ]
    try:
        atomic_write(path, "".join(line + "\n" for line in lines))
    except OSError as exc:
        raise UsageError(f"cannot write {path}: {exc.strerror}", "choose a writable path") from None
    return len(lines)


def read_results(path: Path, fingerprint: str) -> dict[int, Result]:
    """This run's results in a results file (the last line for an item wins); lines of
    other runs or that are not JSON are skipped."""
    try:
        text = path.read_text(encoding="utf-8", errors="replace")
    except OSError as exc:
        raise UsageError(
            f"cannot read {path}: {exc.strerror}", "give the batch runner's output file"
        ) from None
    results: dict[int, Result] = {}
    for line in text.splitlines():
        result = read_result(line, fingerprint)
        if result is not None:
            results[result.index] = result
    return results


class ImportAsks:
    """Hands a results file's answers to the run loop, a chunk at a time."""

    def __init__(self, asker: Asker, path: Path, done: set[int]) -> None:
        self.asker = asker
        self.path = path
        self._done_before = done
        self._results: Iterator[Result] = iter(())
        self._left = 0

    @property
    def in_flight(self) -> int:
        return self._left

    @property
    def current(self) -> int:
        return IMPORT_CHUNK

    @property
    def maximum(self) -> int:
        return IMPORT_CHUNK

    @property
    def limit_reason(self) -> str:
        return ""

    @property
    def adopted(self) -> frozenset[int]:
        return frozenset()

    def endpoints(self) -> list[EndpointCounts]:
        return []

    def status_note(self) -> str:
        return ""

    def has_room(self) -> bool:
        return False  # nothing is asked: the answers are in the file

    def budgets_spent(self) -> bool:
        return False

    async def start(self) -> None:
        self.asker.warm_up()
        results = read_results(self.path, self.asker.resolved.fingerprint)
        fresh = [r for r in results.values() if r.index not in self._done_before]
        answered = [r for r in fresh if not r.unfinished]
        self._results, self._left = iter(sorted(answered, key=lambda r: r.index)), len(answered)

    def submit(self, index: int) -> None:
        raise AssertionError("an import asks nothing")

    def flush(self) -> None:
        """Nothing to send."""

    async def next_finished(self) -> list[Finished]:
        finished = []
        for result in islice(self._results, IMPORT_CHUNK):
            asked = Asked(build_item(self.asker.resolved, result.index))
            kinds = [result.error.kind] if result.error else []
            asked.call = CallOutcome(result.completion, result.error, 1, kinds)
            finished.append(await self.asker.judge(asked))
        self._left -= len(finished)
        return finished

    def stop_sending(self) -> None:
        self._left = 0  # what is not handed back stays in the file for the next import

    def cancel(self) -> None:
        self.stop_sending()

    async def close(self) -> None:
        self.stop_sending()
