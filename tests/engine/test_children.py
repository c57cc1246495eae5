"""Worker processes forked from the main process: ready fast, holding none of its files,
awaited and killed like started ones; forked only where that is safe."""

from __future__ import annotations

import asyncio
import os
import signal
import sys
from pathlib import Path

import pytest

from tests.engine.test_messages import setup
from tinygen.engine import messages
from tinygen.engine.children import ForkedWorker
from tinygen.engine.messages import Ready

pytestmark = pytest.mark.skipif(sys.platform != "linux", reason="forks only on Linux")


def _open_files(pid: int) -> list[str]:
    """What each of a process's file descriptors points at."""
    found = []
    for fd in os.listdir(f"/proc/{pid}/fd"):
        try:
            found.append(os.readlink(f"/proc/{pid}/fd/{fd}"))
        except OSError:
            continue
    return found


def test_a_forked_worker_holds_none_of_the_main_process_files(tmp_path: Path):
    async def run() -> tuple[list[str], int]:
        with (tmp_path / "part-00000.jsonl").open("w") as output:
            output.write("{}\n")
            worker = await ForkedWorker.start()
            assert worker.stdin is not None and worker.stdout is not None
            worker.stdin.write(messages.encode(setup()))
            assert await asyncio.wait_for(messages.read(worker.stdout), 30) == Ready()
            files = _open_files(worker.pid)
            worker.stdin.close()
            return files, await asyncio.wait_for(worker.wait(), 30)

    files, code = asyncio.run(run())
    assert code == 0
    assert not [name for name in files if str(tmp_path) in name]
    assert sum(name.startswith("pipe:") for name in files) >= 3  # its stdin, stdout, stderr


def test_a_killed_forked_worker_reports_the_signal():
    async def run() -> tuple[int | None, int]:
        worker = await ForkedWorker.start()
        before = worker.returncode  # running, waiting for its setup
        worker.kill()
        return before, await asyncio.wait_for(worker.wait(), 30)

    assert asyncio.run(run()) == (None, -signal.SIGKILL)


def test_a_forked_worker_sees_end_of_input_when_the_pipe_closes_before_its_setup():
    async def run() -> tuple[bytes, int]:
        worker = await ForkedWorker.start()
        assert worker.stdin is not None and worker.stderr is not None
        worker.stdin.close()
        code = await asyncio.wait_for(worker.wait(), 30)
        return await asyncio.wait_for(worker.stderr.read(), 30), code

    stderr, code = asyncio.run(run())
    assert (stderr, code) == (b"", 0)
