"""Choosing an output directory: start afresh, resume the same run, or refuse."""

from __future__ import annotations

import fcntl
import json
from pathlib import Path
from typing import IO

from tinygen.errors import TinygenError, UsageError
from tinygen.recipe.model import ResolvedRecipe
from tinygen.rundir.jsonl import SHARD_LINE
from tinygen.rundir.layout import (
    CARD,
    DATA_DIR,
    LOCK,
    PLOTS_DIR,
    STATE_DIR,
    is_own_card,
    own_files,
    shard_paths,
)
from tinygen.rundir.manifest import read_manifest
from tinygen.rundir.store import RecordSeen, ScanResult, scan

SHOWN_ENTRIES = 3  # entries of a foreign --out named in the error


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


def refuse_foreign_dir(out_dir: Path, overwrite: bool) -> None:
    """Refuse to write into a directory that holds anything but a tinygen run (call it
    before creating anything there): a user's folder is never written into. A damaged
    or foreign manifest.json is refused here too, before anything is written."""
    if not out_dir.exists():
        return
    if not out_dir.is_dir():
        raise UsageError(f"--out {out_dir} is a file", "give a directory path")
    if read_manifest(out_dir) is not None:
        return
    if holds_shards(out_dir):
        if overwrite:
            raise UsageError(
                f"--overwrite: {out_dir} has no manifest.json, so tinygen cannot tell "
                "which files there are its own",
                "delete the directory yourself, rerun without --overwrite to resume it, "
                "or choose another --out",
            )
        return
    shown = foreign_listing(out_dir)
    if shown:
        raise UsageError(
            f"--out {out_dir} is not empty and holds no tinygen run ({shown})",
            "choose an empty or new directory: tinygen writes only into folders it made",
        )


def holds_shards(out_dir: Path) -> bool:
    """tinygen shards are here (a run whose manifest.json was deleted)."""
    shards = shard_paths(out_dir)
    return bool(shards) and _is_record_line(shards[0])


def _is_record_line(shard: Path) -> bool:
    """The shard's first line is a tinygen record (a user's own JSONL is not)."""
    with shard.open("rb") as handle:
        line = handle.readline(1 << 20)
    try:
        return SHARD_LINE.problem(json.loads(line)) is None
    except ValueError:
        return False


def foreign_entries(out_dir: Path) -> list[str]:
    """What the directory holds that is not an empty folder or tinygen's lock, sorted
    (folders with a trailing slash)."""
    found = []
    for path in sorted(out_dir.iterdir()):
        if path.name == LOCK or (path.is_dir() and not path.is_symlink() and _empty(path)):
            continue
        found.append(path.name + ("/" if path.is_dir() else ""))
    return found


def foreign_listing(directory: Path) -> str:
    """`foreign_entries` for an error message: the first few, and how many more ("" if
    there are none)."""
    entries = foreign_entries(directory)
    more = f" and {len(entries) - SHOWN_ENTRIES} more" if len(entries) > SHOWN_ENTRIES else ""
    return ", ".join(entries[:SHOWN_ENTRIES]) + more


def _empty(directory: Path) -> bool:
    return next(directory.iterdir(), None) is None


def prepare_out_dir(
    out_dir: Path,
    resolved: ResolvedRecipe,
    overwrite: bool,
    on_record: RecordSeen | None = None,
) -> ScanResult:
    """Make `out_dir` ready and return what it already holds of this run (call it while
    holding `lock_out_dir`, after `refuse_foreign_dir`); `on_record` sees each record
    (accepted, rejected, failed) as the scan reads it.

    A directory holding another recipe's or seed's run is refused unless `overwrite`,
    which removes the files tinygen's layout names there, and nothing else.
    """
    if overwrite:
        remove_run_files(out_dir)
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
    result = scan(out_dir, on_record)
    if manifest is None:
        _check_fingerprint(out_dir, result.fingerprint, "another recipe", resolved)
    result.manifest = manifest
    return result


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


def remove_run_files(out_dir: Path) -> None:
    """Delete the files tinygen's layout names in a run directory (the card only if
    tinygen wrote it), then the folders it made if they are left empty. Anything else
    stays where it is."""
    if not out_dir.is_dir():
        return
    for path in own_files(out_dir):
        path.unlink()
    if is_own_card(out_dir / CARD):
        (out_dir / CARD).unlink()
    for folder in (DATA_DIR, STATE_DIR, PLOTS_DIR):
        if (out_dir / folder).is_dir() and _empty(out_dir / folder):
            (out_dir / folder).rmdir()
