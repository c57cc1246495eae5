"""`tinygen dedup`'s output directory: checked before any input is read, made, and
cleaned up when a pass fails, so a refused or failed pass leaves `--out` as it found it.
A user's folder is never written into: `--out` must be new or hold only empty folders."""

from __future__ import annotations

import itertools
import os
from contextlib import suppress
from pathlib import Path

from tinygen.errors import TinygenError, UsageError
from tinygen.rundir.layout import (
    DATA_DIR,
    DEDUP_REPORT,
    DEDUP_SUMMARY,
    MANIFEST,
    shard_paths,
    temporary,
)
from tinygen.rundir.outdir import foreign_listing


def check_out_dir(out_dir: Path) -> None:
    """Refuse an --out that is a file, cannot be made, or holds anything (call it before any
    input is read): a user's folder is never written into."""
    if not out_dir.exists():
        _check_creatable(out_dir)
    elif not out_dir.is_dir():
        raise UsageError(
            f"--out {out_dir} is a file", "give --out a directory path (it is made if missing)"
        )
    else:
        _check_empty(out_dir)


def _check_creatable(out_dir: Path) -> None:
    """The nearest existing folder above `out_dir` is a folder we may write in."""
    parent = next((p for p in out_dir.parents if p.exists()), None)
    if parent is None:
        return  # mkdir will say why
    if not parent.is_dir():
        raise UsageError(
            f"--out {out_dir} is under {parent}, which is a file",
            "choose a place for --out that is not inside a file",
        )
    if not os.access(parent, os.W_OK | os.X_OK):
        raise UsageError(
            f"--out {out_dir} cannot be created: {parent} is not writable",
            "choose a writable place for --out",
        )


def _check_empty(out_dir: Path) -> None:
    """An existing --out may hold nothing but empty folders."""
    if not os.access(out_dir, os.R_OK | os.W_OK | os.X_OK):
        raise UsageError(f"--out {out_dir} is not writable", "choose a writable place for --out")
    shards = list((out_dir / DATA_DIR).glob("*.jsonl")) if (out_dir / DATA_DIR).is_dir() else []
    ours = [out_dir / DEDUP_REPORT, out_dir / DEDUP_SUMMARY, out_dir / MANIFEST]
    if shards or any(path.exists() for path in ours):
        raise UsageError(
            f"--out {out_dir} already holds data", "choose an empty or new directory for --out"
        )
    shown = foreign_listing(out_dir)
    if shown:
        raise UsageError(
            f"--out {out_dir} is not empty and holds no tinygen output ({shown})",
            "choose a new or empty directory for --out: dedup writes only into folders it makes",
        )


def make_out_dir(out_dir: Path) -> list[Path]:
    """Make `out_dir/data` and the folders missing above it; return those made, innermost
    first. A folder the system refuses is a TinygenError naming it and why."""
    target = out_dir / DATA_DIR
    missing = list(itertools.takewhile(lambda p: not p.exists(), [target, *target.parents]))
    made: list[Path] = []
    for path in reversed(missing):
        try:
            path.mkdir()
        except OSError as exc:
            _remove_dirs(made)
            where = f"--out {out_dir}" if path == out_dir else f"{path} (for --out {out_dir})"
            raise TinygenError(
                f"cannot create {where}: {exc.strerror or exc}", "choose a writable place for --out"
            ) from exc
        made.insert(0, path)
    return made


def _remove_dirs(folders: list[Path]) -> None:
    """Remove `folders` (innermost first) that are empty."""
    for folder in folders:
        with suppress(OSError):
            folder.rmdir()


def remove_outputs(out_dir: Path, made: list[Path]) -> None:
    """Delete what a failed pass wrote and the folders it made (the directory held no data
    before it started)."""
    staging = temporary(out_dir / DEDUP_SUMMARY)
    for path in [*shard_paths(out_dir), out_dir / DEDUP_REPORT, staging]:
        with suppress(OSError):
            path.unlink(missing_ok=True)
    _remove_dirs(made)
