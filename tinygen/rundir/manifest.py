"""The run manifest: what the run is and how far it got, rewritten atomically; and the
one reader that checks a manifest before a run trusts it."""

from __future__ import annotations

import json
import time
from pathlib import Path
from typing import TYPE_CHECKING, Protocol

from pydantic import BaseModel, ConfigDict, Field, ValidationError

from tinygen import SCHEMA_VERSION, __version__
from tinygen.errors import TinygenError
from tinygen.recipe.model import ResolvedRecipe
from tinygen.rundir.layout import MANIFEST, atomic_write
from tinygen.rundir.runlog import utc_now
from tinygen.rundir.store import shard_summaries

if TYPE_CHECKING:
    from tinygen.teachers.limits import Gate


class RunCounts(Protocol):
    """What the manifest reports of a run's counters (engine/counters.py's RunStats)."""

    gate: Gate | None  # its `prices` are the ones this session's cost is at

    def outcomes(self) -> dict[str, object]: ...

    def summary(self) -> dict[str, object]: ...


WRITE_EVERY_S = 5.0
TOTAL_KEYS = ("requests", "prompt_tokens", "completion_tokens", "cost_usd")
VARIED_PRICES = {"input": None, "output": None, "from": "varied", "as": None}


class ManifestWriter:
    """Builds and writes `manifest.json`; keeps spend totals across resumed sessions."""

    def __init__(
        self, out_dir: Path, resolved: ResolvedRecipe, teacher: dict[str, object], stats: RunCounts
    ) -> None:
        self.out_dir = out_dir
        self.resolved = resolved
        self.teacher = teacher
        self.stats = stats
        self.started_at = utc_now()
        self.item_cap = 0
        self._previous: dict[str, float | None] = {}
        self._resumed = False
        self._earlier_prices: dict[str, object] | None = None
        self._sessions = 1
        self._last_write = 0.0
        self.extra: dict[str, object] = {}  # fields of this kind of run (e.g. its `part`)
        self.started = False  # a manifest of this session is on disk
        self.finished = False  # and it has its final status

    def start(self, item_cap: int, earlier: dict | None = None) -> None:
        """Carry totals over from an earlier session's manifest (as `read_manifest` gave
        it: these fields are there, well typed), then write ours."""
        self.item_cap = item_cap
        if earlier is not None:
            self._previous = earlier["totals"]
            self._resumed, self._earlier_prices = True, _recorded_prices(earlier)
            self._sessions = earlier["sessions"] + 1
            self.started_at = earlier["started_at"] or self.started_at
        self.write("running")

    def maybe_write(self) -> None:
        """Write again if the last write is a few seconds old."""
        if time.monotonic() - self._last_write >= WRITE_EVERY_S:
            self.write("running")

    def finish(self, status: str) -> None:
        """The final manifest, with every shard's record count and sha256."""
        self.write(status, shards=True)
        self.finished = True

    def totals(self) -> dict[str, float | None]:
        """Requests, tokens and cost over every session of this run (a cost no session
        could price stays None, not 0)."""
        session = self.stats.summary()
        totals: dict[str, float | None] = {}
        for key in TOTAL_KEYS:
            parts = [
                value for value in (self._previous.get(key), session.get(key)) if value is not None
            ]
            totals[key] = round(sum(float(value) for value in parts), 6) if parts else None
        return totals

    def prices(self) -> dict[str, object] | None:
        """The prices `totals.cost_usd` is at (USD per million tokens, and `from` flags or
        the table `as` an entry): this session's, None if it had none, or `VARIED_PRICES`
        when sessions differed (each added its cost at its own prices, or nothing)."""
        gate = self.stats.gate
        mine = gate.prices.describe() if gate is not None and gate.prices is not None else None
        if not self._resumed or self._earlier_prices == mine:
            return mine
        return dict(VARIED_PRICES)

    def recipe_section(self) -> dict[str, object]:
        """The manifest's `recipe`: name, source, fingerprints, the resolved recipe."""
        recipe = self.resolved.recipe
        return {
            "name": recipe.name,
            "source": self.resolved.source,
            "fingerprint": self.resolved.fingerprint,
            "template_hash": self.resolved.template_hash,
            "resolved": recipe.model_dump(mode="json"),
        }

    def write(self, status: str, shards: bool = False) -> None:
        self._last_write = time.monotonic()
        self.started = True
        manifest = {
            "tinygen_version": __version__,
            "schema_version": SCHEMA_VERSION,
            "status": status,
            "recipe": self.recipe_section(),
            "seed": self.resolved.recipe.seed,
            "teacher": self.teacher,
            "counts": self.stats.outcomes(),
            "session": self.stats.summary(),
            "totals": self.totals(),
            "prices": self.prices(),
            "sessions": self._sessions,
            "item_cap": self.item_cap,
            "started_at": self.started_at,
            "updated_at": utc_now(),
            **self.extra,
        }
        if shards:
            manifest["shards"] = shard_summaries(self.out_dir)
        write_manifest(self.out_dir, manifest)


class _RecipeFields(BaseModel):
    model_config = ConfigDict(extra="allow", strict=True)

    fingerprint: str
    name: str


class ManifestFields(BaseModel):
    """The manifest fields tinygen reads back; the others are kept as they are."""

    model_config = ConfigDict(extra="allow", strict=True, allow_inf_nan=False)

    tinygen_version: str | None = None
    recipe: _RecipeFields
    totals: dict[str, float | None] = Field(default_factory=dict)
    sessions: int = Field(0, ge=0)
    started_at: str | None = None


def read_manifest(out_dir: Path) -> dict | None:
    """The manifest of a run directory as a plain dict holding (at least) every field of
    `ManifestFields`, or None if there is none."""
    path = out_dir / MANIFEST
    if not path.exists():
        return None
    try:
        value = json.loads(path.read_text(encoding="utf-8"))
    except (json.JSONDecodeError, UnicodeDecodeError, RecursionError):
        raise TinygenError(
            f"{path} is corrupt (not valid JSON)",
            "delete manifest.json: the next run rebuilds it from the records, which are intact",
        ) from None
    except OSError as exc:
        raise TinygenError(
            f"cannot read {path}: {exc.strerror}", "make it a readable file, or delete it"
        ) from None
    try:
        return ManifestFields.model_validate(value).model_dump()
    except ValidationError as exc:
        raise TinygenError(
            f"{path} is not a tinygen manifest ({_first_problem(exc)})",
            f"if {out_dir} holds a tinygen run, delete manifest.json: the next run rebuilds "
            "it from the records",
        ) from None


def _recorded_prices(earlier: dict) -> dict[str, object] | None:
    """The prices an earlier session's manifest gives; VARIED_PRICES for a cost recorded
    without them (an older tinygen) or with prices that are not a JSON object."""
    prices = earlier.get("prices")
    if isinstance(prices, dict) or (prices is None and earlier["totals"].get("cost_usd") is None):
        return prices
    return dict(VARIED_PRICES)


def _first_problem(exc: ValidationError) -> str:
    error = exc.errors()[0]
    if not error["loc"]:
        return "not a JSON object"
    return f"field {'.'.join(map(str, error['loc']))}: {error['msg']}"


def write_manifest(out_dir: Path, manifest: dict) -> None:
    """Replace the manifest atomically: readers see the old one or the new one, whole."""
    text = json.dumps(manifest, indent=2, ensure_ascii=False) + "\n"
    atomic_write(out_dir / MANIFEST, text)
