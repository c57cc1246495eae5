"""How many CPU cores this process may use, and whether it may fork helpers for them."""

from __future__ import annotations

import os
import sys
import threading


def available_cores() -> int:
    """CPU cores this process may run on (its affinity on Linux, else all of them)."""
    try:
        return max(1, len(os.sched_getaffinity(0)))
    except AttributeError:  # not on Linux
        return max(1, os.cpu_count() or 1)


def fork_is_safe() -> bool:
    """Whether a child may be forked from this process rather than started fresh: on
    Linux, while this process runs one thread (a fork copies no other thread, so a lock
    another one held would stay held in the child forever; macOS's system libraries are
    not fork-safe at all). TINYGEN_NO_FORK=1 turns it off."""
    return (
        sys.platform == "linux"
        and threading.active_count() == 1
        and os.environ.get("TINYGEN_NO_FORK") != "1"
    )
