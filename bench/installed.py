"""Timed commands run as an installed tinygen runs: from bytecode caches.

pip writes a package's bytecode (`__pycache__/*.pyc`) when it installs it, and an
editable install writes it on the first run. A shell that sets PYTHONDONTWRITEBYTECODE
(some containers do) never gets caches for a source tree, so every timed command would
compile tinygen's modules from source first (about 0.04 s for `tinygen presets`, by
cProfile), a cost no installed command pays.
"""

from __future__ import annotations

import compileall
import os
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent


def as_installed() -> None:
    """Write the bytecode caches of tinygen and the test servers, and let the commands
    this process starts write any others (say so if the shell had turned that off)."""
    if os.environ.pop("PYTHONDONTWRITEBYTECODE", None):
        print("(PYTHONDONTWRITEBYTECODE was set: commands run from bytecode caches, as installed)")
    for folder in ("tinygen", "tests"):
        compileall.compile_dir(ROOT / folder, quiet=1)
