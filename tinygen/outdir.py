"""Choosing an output directory: start afresh, resume the same run, or refuse."""

from __future__ import annotations

import fcntl
import shutil
from pathlib import Path
from typing import IO

from tinygen.errors import TinygenError, UsageError
from tinygen.recipe import ResolvedRecipe
from tinygen.store import DATA_DIR, FAILED, MANIFEST, REJECTED, ScanResult, read_manifest, scan

LOCK = ".lock"
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


def lock_out_dir(out_dir: Path) -> IO[str]:
    """Hold `out_dir/.lock` for this process: two runs must never write one directory.

    The lock is released when the returned file is closed (or the process ends, however).
    """
    try:
        out_dir.mkdir(parents=True, exist_ok=True)
        handle = (out_dir / LOCK).open("a+", encoding="utf-8")
    except OSError as exc:
        raise TinygenError(
            f"cannot create {out_dir}: {exc.strerror}", "choose a writable --out directory"
        ) from None
    try:
        fcntl.flock(handle, fcntl.LOCK_EX | fcntl.LOCK_NB)
    except BlockingIOError:
        handle.close()
        raise TinygenError(
            f"another tinygen process is writing to {out_dir}",
            "wait for it to end or stop it; runs must not share --out",
        ) from None
    return handle


def prepare_out_dir(out_dir: Path, resolved: ResolvedRecipe, overwrite: bool) -> ScanResult:
    """Make `out_dir` ready and return what it already holds of this run (call it while
    holding `lock_out_dir`).

    A directory holding another recipe's or seed's run is refused unless `overwrite`,
    which removes tinygen's own files there (and nothing else).
    """
    if overwrite:
        _remove_run_files(out_dir)
    _refuse_foreign_dir(out_dir)
    try:
        (out_dir / DATA_DIR).mkdir(parents=True, exist_ok=True)
    except OSError as exc:
        raise TinygenError(
            f"cannot create {out_dir / DATA_DIR}: {exc.strerror}",
            "choose a writable --out directory",
        ) from None
    manifest = read_manifest(out_dir)
    if manifest is not None:  # checked before the scan repairs anything
        _check_fingerprint(
            out_dir, manifest["recipe"]["fingerprint"], manifest["recipe"]["name"], resolved
        )
    result = scan(out_dir)
    if manifest is None:
        _check_fingerprint(out_dir, result.fingerprint, "another recipe", resolved)
    return result


def _refuse_foreign_dir(out_dir: Path) -> None:
    """A non-empty directory with neither a manifest nor shards is not ours to write in."""
    if not out_dir.is_dir() or not any(p.name != LOCK for p in out_dir.iterdir()):
        return
    if not (out_dir / MANIFEST).exists() and not (out_dir / DATA_DIR).is_dir():
        raise UsageError(
            f"--out {out_dir} is not empty and holds no tinygen run",
            "choose an empty or new directory, or pass --overwrite",
        )


def _check_fingerprint(
    out_dir: Path, found: str | None, name: str, resolved: ResolvedRecipe
) -> None:
    if found is not None and found != resolved.fingerprint:
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
