"""The run manifest: what the run is and how far it got, rewritten atomically."""

from __future__ import annotations

import time
from pathlib import Path

from tinygen import SCHEMA_VERSION, __version__
from tinygen.engine.counters import RunStats
from tinygen.engine.records import Provenance, utc_now
from tinygen.recipe.model import ResolvedRecipe
from tinygen.rundir.store import read_manifest, shard_summaries, write_manifest

WRITE_EVERY_S = 5.0
TOTAL_KEYS = ("requests", "prompt_tokens", "completion_tokens", "cost_usd")


class ManifestWriter:
    """Builds and writes `manifest.json`; keeps spend totals across resumed sessions."""

    def __init__(
        self, out_dir: Path, resolved: ResolvedRecipe, provenance: Provenance, stats: RunStats
    ) -> None:
        self.out_dir = out_dir
        self.resolved = resolved
        self.provenance = provenance
        self.stats = stats
        self.started_at = utc_now()
        self.item_cap = 0
        self._previous: dict[str, float] = {}
        self._sessions = 1
        self._last_write = 0.0
        self.started = False  # a manifest of this session is on disk
        self.finished = False  # and it has its final status

    def start(self, item_cap: int) -> None:
        """Carry totals over from an earlier session's manifest, then write ours."""
        self.item_cap = item_cap
        earlier = read_manifest(self.out_dir)  # checked: these fields are there, well typed
        if earlier is not None:
            self._previous = earlier["totals"]
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

    def totals(self) -> dict[str, float]:
        """Requests, tokens and cost over every session of this run."""
        session = self.stats.summary()
        return {
            key: round(float(self._previous.get(key, 0)) + float(session.get(key) or 0), 6)
            for key in TOTAL_KEYS
        }

    def write(self, status: str, shards: bool = False) -> None:
        self._last_write = time.monotonic()
        self.started = True
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
            "counts": self.stats.outcomes(),
            "session": self.stats.summary(),
            "totals": self.totals(),
            "sessions": self._sessions,
            "item_cap": self.item_cap,
            "started_at": self.started_at,
            "updated_at": utc_now(),
        }
        if shards:
            manifest["shards"] = shard_summaries(self.out_dir)
        write_manifest(self.out_dir, manifest)
