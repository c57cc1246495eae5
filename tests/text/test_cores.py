"""Whether children may be forked: one thread only, native ones counted."""

from __future__ import annotations

import subprocess
import sys
import threading

import pytest

from tinygen.text import cores
from tinygen.text.cores import fork_is_safe

pytestmark = pytest.mark.skipif(sys.platform != "linux", reason="forks only on Linux")

COMMAND_PROCESS = """
from tinygen.text.cores import fork_is_safe, no_blas_threads
no_blas_threads()
import tinygen.cli, tinygen.dedup.files, tinygen.engine.generation, tinygen.engine.worker
print(fork_is_safe())
"""


def test_fork_is_safe_only_with_one_thread_and_not_when_turned_off(monkeypatch):
    release = threading.Event()
    thread = threading.Thread(target=release.wait)
    thread.start()
    try:
        assert not fork_is_safe()  # another thread runs
    finally:
        release.set()
        thread.join()
    monkeypatch.setattr(cores, "_threads", lambda: 1)
    assert fork_is_safe()
    monkeypatch.setenv("TINYGEN_NO_FORK", "1")
    assert not fork_is_safe()


def test_the_commands_process_may_fork_once_it_imported_the_library(monkeypatch):
    monkeypatch.delenv("OPENBLAS_NUM_THREADS", raising=False)
    done = subprocess.run([sys.executable, "-c", COMMAND_PROCESS], capture_output=True, text=True)
    assert done.stdout == "True\n", done.stderr


def test_numpys_thread_pool_makes_a_fork_unsafe(monkeypatch):
    monkeypatch.setenv("OPENBLAS_NUM_THREADS", "2")
    script = "import numpy; from tinygen.text.cores import fork_is_safe; print(fork_is_safe())"
    done = subprocess.run([sys.executable, "-c", script], capture_output=True, text=True)
    assert done.stdout == "False\n", done.stderr
