"""Choosing an output directory: start afresh, resume the same run, or refuse."""

from __future__ import annotations

import shutil
from pathlib import Path

from tinygen.errors import TinygenError, UsageError
from tinygen.recipe import ResolvedRecipe
from tinygen.store import DATA_DIR, FAILED, MANIFEST, REJECTED, ScanResult, read_manifest, scan

RUN_FILES = (
    MANIFEST,
    REJECTED,
    FAILED,
    "manifest.json.tmp",
    "run.log",
    "README.md",
    "README.md.tmp",
)
RUN_DIRS = (DATA_DIR, "plots", ".tinygen")


def prepare_out_dir(out_dir: Path, resolved: ResolvedRecipe, overwrite: bool) -> ScanResult:
    """Make `out_dir` ready and return what it already holds of this run.

    A directory holding another recipe's or seed's run is refused unless `overwrite`,
    which removes tinygen's own files there (and nothing else).
    """
    if out_dir.exists() and not out_dir.is_dir():
        raise UsageError(f"--out {out_dir} is a file", "give a directory path")
    if overwrite:
        _remove_run_files(out_dir)
    _check_same_run(out_dir, resolved)
    try:
        (out_dir / DATA_DIR).mkdir(parents=True, exist_ok=True)
    except OSError as exc:
        raise TinygenError(
            f"cannot create {out_dir / DATA_DIR}: {exc.strerror}",
            "choose a writable --out directory",
        ) from None
    return scan(out_dir)


def _check_same_run(out_dir: Path, resolved: ResolvedRecipe) -> None:
    if not out_dir.is_dir() or not any(out_dir.iterdir()):
        return
    manifest = read_manifest(out_dir)
    found = manifest["recipe"]["fingerprint"] if manifest else scan(out_dir).fingerprint
    if manifest is None and found is None and not (out_dir / DATA_DIR).is_dir():
        raise UsageError(
            f"--out {out_dir} is not empty and holds no tinygen run",
            "choose an empty or new directory, or pass --overwrite",
        )
    if found is not None and found != resolved.fingerprint:
        name = manifest["recipe"]["name"] if manifest else "another recipe"
        raise UsageError(
            f"--out {out_dir} holds a run of {name} with a different recipe, model or seed "
            f"(fingerprint {found[:12]}, this command's is {resolved.fingerprint[:12]})",
            "rerun with the same recipe, options and seed to resume, choose another --out, "
            "or pass --overwrite to replace it",
        )


def _remove_run_files(out_dir: Path) -> None:
    if not out_dir.is_dir():
        return
    for name in RUN_DIRS:
        shutil.rmtree(out_dir / name, ignore_errors=True)
    for name in RUN_FILES:
        (out_dir / name).unlink(missing_ok=True)
