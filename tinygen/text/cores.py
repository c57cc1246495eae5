"""How many CPU cores this process may use."""

from __future__ import annotations

import os


def available_cores() -> int:
    """CPU cores this process may run on (its affinity on Linux, else all of them)."""
    try:
        return max(1, len(os.sched_getaffinity(0)))
    except AttributeError:  # not on Linux
        return max(1, os.cpu_count() or 1)
