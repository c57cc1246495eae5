"""`tinygen merge`: join the parts of a run into one corpus.

The parts must be one run (same fingerprint; a mix is refused unless forced). Missing and
doubled parts are reported. Records are copied with exact and near dedup across all
parts (the `tinygen dedup` pass: its report lists the cross-part duplicates), and one
manifest sums the parts' counts, tokens and cost and lists every part with its status;
then the card. A merged corpus short of the target says how to get the rest: rerun the
parts with a larger -n (each resumes what it has).
"""

from __future__ import annotations

import math
from dataclasses import dataclass, field
from pathlib import Path

from tinygen.dedup.files import DedupReport, dedup_files
from tinygen.dedup.minhash import NearDupConfig
from tinygen.errors import UsageError
from tinygen.report.card import write_card
from tinygen.rundir.manifest import read_manifest, write_manifest
from tinygen.rundir.runlog import utc_now

SUMMED = ("requests", "prompt_tokens", "completion_tokens", "reasoning_tokens", "cost_usd")


@dataclass
class MergeReport:
    """What a merge found and wrote."""

    parts: list[dict] = field(default_factory=list)
    missing: list[int] = field(default_factory=list)
    doubled: list[int] = field(default_factory=list)
    dedup: DedupReport | None = None
    short_by: int = 0
    suggested_n: int | None = None


def part_manifests(dirs: list[Path], force: bool) -> list[dict]:
    """Each part's manifest, checked to be of one run."""
    manifests = []
    for run_dir in dirs:
        manifest = read_manifest(run_dir)
        if manifest is None:
            raise UsageError(
                f"{run_dir} holds no tinygen run (no manifest.json)", "give part folders"
            )
        manifests.append(manifest)
    fingerprints = {m["recipe"]["fingerprint"] for m in manifests}
    if len(fingerprints) > 1 and not force:
        listed = ", ".join(
            f"{d} ({m['recipe']['fingerprint'][:12]})" for d, m in zip(dirs, manifests, strict=True)
        )
        raise UsageError(
            f"the parts are not of one run: {listed}",
            "merge the parts of one recipe and seed, or pass --force to merge them anyway",
        )
    return manifests


def part_gaps(manifests: list[dict]) -> tuple[list[int], list[int]]:
    """Missing and doubled part indexes (none for runs that were not split)."""
    parts = [m["part"] for m in manifests if isinstance(m.get("part"), dict)]
    if not parts:
        return [], []
    count = max(int(part["count"]) for part in parts)
    seen = [int(part["index"]) for part in parts]
    missing = sorted(set(range(count)) - set(seen))
    doubled = sorted({index for index in seen if seen.count(index) > 1})
    return missing, doubled


def merge_parts(
    dirs: list[Path],
    out_dir: Path,
    *,
    target: int | None = None,
    force: bool = False,
    near: NearDupConfig | None = NearDupConfig(),  # noqa: B008  (frozen, so shared safely)
    progress: bool = True,
) -> MergeReport:
    """Merge the run directories `dirs` into `out_dir` (new or empty)."""
    manifests = part_manifests(dirs, force)
    report = MergeReport()
    report.missing, report.doubled = part_gaps(manifests)
    report.dedup = dedup_files(dirs, out_dir, near=near, progress=progress)
    report.parts = [_part_entry(d, m) for d, m in zip(dirs, manifests, strict=True)]
    write_manifest(out_dir, merged_manifest(manifests, report))
    write_card(out_dir)
    if target is not None and report.dedup.kept < target:
        report.short_by = target - report.dedup.kept
        per_kept = target / max(report.dedup.kept, 1)
        report.suggested_n = math.ceil(target * per_kept)
    return report


def _part_entry(run_dir: Path, manifest: dict) -> dict:
    return {
        "dir": str(run_dir),
        "part": manifest.get("part"),
        "status": manifest.get("status"),
        "accepted": (manifest.get("counts") or {}).get("accepted"),
    }


def merged_manifest(manifests: list[dict], report: MergeReport) -> dict:
    """The merged corpus's manifest: the first part's recipe, the parts' sums."""
    first, dedup = manifests[0], report.dedup
    assert dedup is not None
    totals = {}
    for key in SUMMED:
        values = [(m.get("totals") or {}).get(key) for m in manifests]
        known = [float(v) for v in values if isinstance(v, int | float)]
        totals[key] = round(sum(known), 6) if known else None
    return {
        "tinygen_version": first.get("tinygen_version"),
        "schema_version": first.get("schema_version"),
        "status": "merged",
        "recipe": first["recipe"],
        "seed": first.get("seed"),
        "teacher": first.get("teacher"),
        "counts": {"accepted": dedup.kept, "duplicates": dedup.exact + dedup.near},
        "totals": totals,
        "prices": first.get("prices"),
        "merged_from": report.parts,
        "missing_parts": report.missing,
        "doubled_parts": report.doubled,
        "started_at": min(m.get("started_at") or "" for m in manifests) or None,
        "updated_at": utc_now(),
    }
