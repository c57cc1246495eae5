"""Parts of a run for array jobs: `--part K/N` takes the items i with i mod N = K.

Item i's prompt depends only on the seed and i, so N invocations that each take their
part make exactly the records one run would (same fingerprint, same ids), with no
coordination between them. Each part writes its own folder under --out
(`part-0002-of-0008`) and aims for its share of -n; `tinygen merge` joins them.
`--part auto` reads the rank and count from the scheduler: a Slurm job array, a
Kubernetes Indexed Job (`auto/N`: the count is not in its environment) or RANK and
WORLD_SIZE (torchrun and most launchers).
"""

from __future__ import annotations

import re
from collections.abc import Iterator, Mapping
from dataclasses import dataclass
from itertools import count, islice

from tinygen.errors import UsageError

_GIVEN = re.compile(r"^(\d+)/(\d+)$")
_AUTO = re.compile(r"^auto(?:/(\d+))?$")
HINT = (
    "give --part K/N (0 <= K < N), or --part auto inside a Slurm array, an Indexed Job or torchrun"
)


@dataclass(frozen=True)
class Part:
    """Part `index` of `count`."""

    index: int
    count: int

    @property
    def folder(self) -> str:
        return f"part-{self.index:04d}-of-{self.count:04d}"

    def share(self, total: int) -> int:
        """This part's share of `total` (the shares of all parts add up to it)."""
        return total // self.count + (1 if self.index < total % self.count else 0)

    def indexes(self, cap: int) -> Iterator[int]:
        """The first `cap` item indexes of this part."""
        return islice(count(self.index, self.count), cap)

    def describe(self) -> dict[str, int]:
        return {"index": self.index, "count": self.count}


def parse_part(text: str, environ: Mapping[str, str]) -> tuple[Part, str]:
    """The part `--part` names, and where it was found (for the header)."""
    given = _GIVEN.match(text.strip())
    if given:
        return checked(int(given[1]), int(given[2]), "--part"), "--part"
    auto = _AUTO.match(text.strip())
    if not auto:
        raise UsageError(f"--part {text!r} is not K/N or auto", HINT)
    return from_environment(environ, int(auto[1]) if auto[1] else None)


def from_environment(environ: Mapping[str, str], given_count: int | None) -> tuple[Part, str]:
    """The part a scheduler's variables name."""
    env = {key: value for key, value in environ.items() if value.strip()}
    if "SLURM_ARRAY_TASK_ID" in env:
        first = _int(env, "SLURM_ARRAY_TASK_MIN", 0)
        index = _int(env, "SLURM_ARRAY_TASK_ID") - first
        total = given_count or _int(env, "SLURM_ARRAY_TASK_COUNT")
        where = f"SLURM_ARRAY_TASK_ID={env['SLURM_ARRAY_TASK_ID']} (min {first}, count {total})"
        return checked(index, total, where), where
    if "JOB_COMPLETION_INDEX" in env:
        if given_count is None:
            raise UsageError(
                "a Kubernetes Indexed Job does not say how many parts there are",
                "give --part auto/N, N being the Job's completions",
            )
        index = _int(env, "JOB_COMPLETION_INDEX")
        where = f"JOB_COMPLETION_INDEX={index} of {given_count}"
        return checked(index, given_count, where), where
    if "RANK" in env:
        total = given_count or _int(env, "WORLD_SIZE")
        where = f"RANK={env['RANK']}, WORLD_SIZE={total}"
        return checked(_int(env, "RANK"), total, where), where
    raise UsageError("--part auto found no SLURM_ARRAY_TASK_ID, JOB_COMPLETION_INDEX or RANK", HINT)


def _int(env: Mapping[str, str], name: str, default: int | None = None) -> int:
    value = env.get(name)
    if value is None and default is not None:
        return default
    try:
        return int(value)  # type: ignore[arg-type]
    except (TypeError, ValueError):
        raise UsageError(f"{name}={value!r} is not a whole number", HINT) from None


def checked(index: int, total: int, where: str) -> Part:
    if total < 1 or not 0 <= index < total:
        raise UsageError(f"part {index} of {total} (from {where}) is not a part", HINT)
    return Part(index, total)
