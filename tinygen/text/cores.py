"""How many CPU cores this process may use, and whether it may fork helpers for them."""

from __future__ import annotations

import os
import sys


def available_cores() -> int:
    """CPU cores this process may run on (its affinity on Linux, else all of them)."""
    try:
        return max(1, len(os.sched_getaffinity(0)))
    except AttributeError:  # not on Linux
        return max(1, os.cpu_count() or 1)


def fork_is_safe() -> bool:
    """Whether a child may be forked from this process rather than started fresh: on
    Linux, while this process runs one thread, native ones included (a fork copies no
    other thread, so a lock another one held stays held in the child forever, and a
    thread pool such as rensa's is gone: its first batch in the child never ends);
    macOS's system libraries are not fork-safe at all. TINYGEN_NO_FORK=1 turns it off."""
    return sys.platform == "linux" and os.environ.get("TINYGEN_NO_FORK") != "1" and _threads() == 1


def no_blas_threads() -> None:
    """Let numpy's BLAS start no thread pool when it loads (tinygen does no linear
    algebra), so that the command's process runs one thread and may fork its children;
    a user's own OPENBLAS_NUM_THREADS wins."""
    os.environ.setdefault("OPENBLAS_NUM_THREADS", "1")


def _threads() -> int:
    """Threads this process runs, as the kernel counts them (0 if it cannot tell)."""
    try:
        return len(os.listdir("/proc/self/task"))
    except OSError:
        return 0
