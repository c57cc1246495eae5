"""Starting a worker process of engine/pool.py: forked from this process when that is
safe, else a fresh interpreter running `python -m tinygen.engine.worker`.

A forked worker has every module this process imported (the recipe model, the checks,
numpy...), so it is ready in a few milliseconds and uses no CPU importing them again
(about 0.6 s of CPU a worker, on the cores the requests need). Either way the worker reads
its stdin and writes its stdout and stderr, and is awaited and killed the same way.
"""

from __future__ import annotations

import asyncio
import os
import signal
import sys
import traceback
from typing import Protocol

from tinygen.text.cores import fork_is_safe

WAIT_POLL = 0.005  # seconds between looks at whether a forked worker has exited
WORKER_SIGNALS = (signal.SIGINT, signal.SIGTERM, signal.SIGHUP)  # the main process decides


class WorkerProcess(Protocol):
    """What the pool uses of a worker process (asyncio's subprocess has it all)."""

    pid: int
    stdin: asyncio.StreamWriter | None
    stdout: asyncio.StreamReader | None
    stderr: asyncio.StreamReader | None

    @property
    def returncode(self) -> int | None: ...

    async def wait(self) -> int: ...

    def kill(self) -> None: ...


async def start_worker() -> WorkerProcess:
    """A worker process with pipes on its stdin, stdout and stderr, not yet set up."""
    if fork_is_safe():
        return await ForkedWorker.start()
    return await asyncio.create_subprocess_exec(
        sys.executable,
        "-m",
        "tinygen.engine.worker",
        stdin=asyncio.subprocess.PIPE,
        stdout=asyncio.subprocess.PIPE,
        stderr=asyncio.subprocess.PIPE,
    )


class ForkedWorker:
    """A worker forked from this process, with asyncio streams on its three pipes."""

    def __init__(
        self,
        pid: int,
        stdin: asyncio.StreamWriter,
        stdout: asyncio.StreamReader,
        stderr: asyncio.StreamReader,
    ) -> None:
        self.pid = pid
        self.stdin: asyncio.StreamWriter | None = stdin
        self.stdout: asyncio.StreamReader | None = stdout
        self.stderr: asyncio.StreamReader | None = stderr
        self._returncode: int | None = None

    @classmethod
    async def start(cls) -> ForkedWorker:
        stdin, stdout, stderr = os.pipe(), os.pipe(), os.pipe()  # (read end, write end)
        for stream in (sys.stdout, sys.stderr):
            stream.flush()  # or the worker would write this process's buffered text again
        pid = os.fork()
        if pid == 0:
            _become_worker(stdin[0], stdout[1], stderr[1])
        for fd in (stdin[0], stdout[1], stderr[1]):
            os.close(fd)
        loop = asyncio.get_running_loop()
        return cls(
            pid,
            await _writer(loop, stdin[1]),
            await _reader(loop, stdout[0]),
            await _reader(loop, stderr[0]),
        )

    @property
    def returncode(self) -> int | None:
        """The exit code (minus the signal that killed it), once it has exited."""
        if self._returncode is None:
            pid, status = os.waitpid(self.pid, os.WNOHANG)
            if pid:
                self._returncode = os.waitstatus_to_exitcode(status)
        return self._returncode

    async def wait(self) -> int:
        """Wait until it exits; its exit code."""
        while (code := self.returncode) is None:
            await asyncio.sleep(WAIT_POLL)
        return code

    def kill(self) -> None:
        if self.returncode is None:
            os.kill(self.pid, signal.SIGKILL)


def _become_worker(stdin: int, stdout: int, stderr: int) -> None:
    """In the forked child: the pipes become fds 0-2, every other fd of the main process
    is closed (its output files, its event loop's), and the worker runs; never returns."""
    try:
        signal.set_wakeup_fd(-1)  # the main process's event loop was woken through it
        for signum in WORKER_SIGNALS:
            signal.signal(signum, signal.SIG_IGN)
        for fd, target in ((stdin, 0), (stdout, 1), (stderr, 2)):
            os.dup2(fd, target)
        os.closerange(3, os.sysconf("SC_OPEN_MAX"))
        sys.stdin = open(0, closefd=False)  # noqa: SIM115  (the streams of this process)
        sys.stdout = open(1, "w", closefd=False)  # noqa: SIM115
        sys.stderr = open(2, "w", closefd=False)  # noqa: SIM115
        from tinygen.engine import worker

        worker.main()  # exits
    except BaseException:
        traceback.print_exc()
        sys.stderr.flush()
    os._exit(1)


async def _writer(loop: asyncio.AbstractEventLoop, fd: int) -> asyncio.StreamWriter:
    pipe = os.fdopen(fd, "wb", buffering=0)
    transport, protocol = await loop.connect_write_pipe(asyncio.streams.FlowControlMixin, pipe)
    return asyncio.StreamWriter(transport, protocol, None, loop)


async def _reader(loop: asyncio.AbstractEventLoop, fd: int) -> asyncio.StreamReader:
    reader = asyncio.StreamReader()
    pipe = os.fdopen(fd, "rb", buffering=0)
    await loop.connect_read_pipe(lambda: asyncio.StreamReaderProtocol(reader), pipe)
    return reader
