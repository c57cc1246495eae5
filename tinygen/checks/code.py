"""Check generated code by parsing it and, for exercises, by running its tests.

`codeexercises` answers have three parts, each a heading and a fenced Python
block: the signature with a docstring, the solution, and `assert` tests.
`split_exercise` finds and validates the parts (with `ast`, nothing is run);
`run_exercise` runs the tests against the solution in a child interpreter and
returns a `RunResult` naming the first failing statement. `codetextbook`
answers only need every fenced Python block to parse: `python_block_errors`.

The child is `python -I -S` (no site-packages, no user site, no PYTHON* env
vars) started in a fresh temporary directory with an almost empty environment,
its own session (the whole process group is killed at the end), rlimits on
address space, CPU time, file size and core size, a wall-clock timer, and a
guard that makes `socket` refuse to open internet sockets. This is a
best-effort guard against mistakes in model-written code, not a security
sandbox: code that sets out to escape (via `_socket`, `ctypes`, `os.fork`,
`os.setsid`, ...) can. Run untrusted code in a container or VM instead.
"""

from __future__ import annotations

import ast
import asyncio
import contextlib
import json
import os
import re
import shutil
import signal
import subprocess
import sys
import tempfile
import time
import warnings
from dataclasses import asdict, dataclass
from pathlib import Path

# --- the parts of an exercise ---------------------------------------------------------------


class ExerciseFormatError(ValueError):
    """The answer is not a well-formed exercise; the message says why, briefly."""


@dataclass(frozen=True)
class Exercise:
    """The three code blocks of a `codeexercises` answer."""

    signature: str
    solution: str
    tests: str


@dataclass(frozen=True)
class Limits:
    """Resource limits for one exercise run."""

    timeout_s: float = 5.0
    memory_mb: int = 256
    cpu_s: int = 5


@dataclass(frozen=True)
class RunResult:
    """The outcome of running an exercise's tests against its solution."""

    passed: bool
    kind: str  # "passed", "assertion", "error", "timeout", "memory", "format"
    error: str  # e.g. "AssertionError at tests line 3: assert add(2, 2) == 5"
    seconds: float


# --- fenced blocks and headings -------------------------------------------------------------

PYTHON_TAGS = frozenset({"python", "py", "python3", "py3"})
SECTIONS = {"signature": "Signature", "solution": "Solution", "tests": "Tests"}

_FENCE = re.compile(r"^ {0,3}(`{3,}|~{3,})\s*([^\s`{]*)")
_HEADING = re.compile(
    r"^\s{0,3}(?:#{1,6}\s*)?(?:\*\*|__)?\s*(?:(?:part|step)\s*)?(?:\d+\s*[.):]\s*)?"
    r"(function\s+signature|signature|solution|unit\s+tests?|test\s+cases?|tests?)"
    r"(?:\s*(?:and|with|\+|&)\s*(?:a\s+)?docstring)?"
    r"\s*:?\s*(?:\*\*|__)?\s*:?\s*$",
    re.IGNORECASE,
)


@dataclass(frozen=True)
class _Block:
    """One fenced block: its info-string tag (lowercased), code, and whether it was closed."""

    tag: str
    code: str
    closed: bool


def _section_of(heading: str) -> str:
    """Map a heading's matched name ("Unit tests", "Function signature", ...) to a section."""
    name = heading.lower()
    if "signature" in name:
        return "signature"
    return "solution" if name == "solution" else "tests"


def _read_block(lines: list[str], start: int, fence: str, tag: str) -> tuple[_Block, int]:
    """Read a fenced block whose opening fence is lines[start]; return it and the next index."""
    closing = re.compile(rf"^ {{0,3}}{re.escape(fence[0])}{{{len(fence)},}}\s*$")
    for end in range(start + 1, len(lines)):
        if closing.match(lines[end]):
            return _Block(tag, "\n".join(lines[start + 1 : end]), True), end + 1
    return _Block(tag, "\n".join(lines[start + 1 :]), False), len(lines)


def _events(text: str) -> list[_Block | str]:
    """The answer as a sequence of section headings (str) and fenced blocks, in order."""
    lines = text.splitlines()
    events: list[_Block | str] = []
    i = 0
    while i < len(lines):
        if fence := _FENCE.match(lines[i]):
            block, i = _read_block(lines, i, fence.group(1), fence.group(2).lower())
            events.append(block)
            continue
        if heading := _HEADING.match(lines[i]):
            events.append(_section_of(heading.group(1)))
        i += 1
    return events


def python_blocks(text: str) -> list[str]:
    """The code of every fenced block tagged python, py, python3 or py3, in order."""
    return [e.code for e in _events(text) if isinstance(e, _Block) and e.tag in PYTHON_TAGS]


def _parse(code: str) -> ast.Module:
    """`ast.parse` without letting SyntaxWarnings (invalid escapes, ...) reach our stderr."""
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        return ast.parse(code)


def _syntax_error(code: str) -> str | None:
    """None if `code` parses, else "line 3: invalid syntax"."""
    try:
        _parse(code)
    except SyntaxError as e:
        return f"line {e.lineno}: {e.msg}"
    except (ValueError, RecursionError, MemoryError) as e:  # null bytes, absurd nesting
        return f"{type(e).__name__}: {e}"
    return None


def python_block_errors(text: str) -> list[str]:
    """Parse every fenced Python block; one "block 2, line 3: invalid syntax" per failure."""
    errors = []
    blocks = [e for e in _events(text) if isinstance(e, _Block) and e.tag in PYTHON_TAGS]
    for number, block in enumerate(blocks, start=1):
        if not block.closed:
            errors.append(f"block {number}: no closing fence (answer cut off?)")
        elif (error := _syntax_error(block.code)) is not None:
            errors.append(f"block {number}, {error}")
    return errors


# --- splitting and validating an exercise ---------------------------------------------------


def _sections(text: str) -> dict[str, list[_Block]]:
    """Fenced blocks under each section heading (text and blocks before any heading dropped)."""
    sections: dict[str, list[_Block]] = {}
    current: str | None = None
    for event in _events(text):
        if isinstance(event, str):
            current = event
            sections.setdefault(current, [])
        elif current is not None:
            sections[current].append(event)
    return sections


def _section_code(sections: dict[str, list[_Block]], name: str) -> str:
    """The section's Python code: its python-tagged blocks, else its untagged ones, joined."""
    title = SECTIONS[name]
    if name not in sections:
        raise ExerciseFormatError(f"no '### {title}' section")
    blocks = [b for b in sections[name] if b.tag in PYTHON_TAGS]
    blocks = blocks or [b for b in sections[name] if not b.tag]
    if not blocks:
        raise ExerciseFormatError(f"the '### {title}' section has no ```python block")
    if not all(b.closed for b in blocks):
        raise ExerciseFormatError(f"the {title} block has no closing fence (answer cut off?)")
    return "\n\n".join(b.code.strip("\n") for b in blocks) + "\n"


def _parsed(code: str, title: str) -> ast.Module:
    """Parse one part or raise "Solution is not valid Python: line 3: invalid syntax"."""
    error = _syntax_error(code)
    if error is not None:
        raise ExerciseFormatError(f"{title} is not valid Python: {error}")
    return _parse(code)


def _top_functions(tree: ast.Module) -> list[ast.FunctionDef | ast.AsyncFunctionDef]:
    """The functions defined at the top level of a module."""
    return [n for n in tree.body if isinstance(n, ast.FunctionDef | ast.AsyncFunctionDef)]


def _signature_name(tree: ast.Module) -> str:
    """The name of the signature's documented function (the first def with a docstring)."""
    functions = _top_functions(tree)
    if not functions:
        raise ExerciseFormatError("Signature defines no function")
    for function in functions:
        if ast.get_docstring(function):
            return function.name
    raise ExerciseFormatError(f"Signature function {functions[0].name}() has no docstring")


def _calls(node: ast.AST, name: str) -> bool:
    """Whether `node` contains a call of the plain name `name`."""
    return any(
        isinstance(n, ast.Call) and isinstance(n.func, ast.Name) and n.func.id == name
        for n in ast.walk(node)
    )


def _check_parts(signature: ast.Module, solution: ast.Module, tests: ast.Module) -> None:
    """The solution defines the signature's function; the tests assert on calls of it."""
    name = _signature_name(signature)
    if name not in {f.name for f in _top_functions(solution)}:
        raise ExerciseFormatError(f"Solution does not define {name}()")
    if name in {f.name for f in _top_functions(tests)}:
        raise ExerciseFormatError(f"Tests redefine {name}()")
    if not any(isinstance(n, ast.Assert) and _calls(n, name) for n in ast.walk(tests)):
        raise ExerciseFormatError(f"Tests have no assert that calls {name}()")


def split_exercise(text: str) -> Exercise:
    """Split a `codeexercises` answer into its three parts and check they fit together.

    Raises ExerciseFormatError with a short reason when a part is missing, does not
    parse, or the parts do not agree (function name, docstring, an assert calling it).
    """
    sections = _sections(text)
    codes = {name: _section_code(sections, name) for name in SECTIONS}
    trees = {name: _parsed(code, SECTIONS[name]) for name, code in codes.items()}
    _check_parts(trees["signature"], trees["solution"], trees["tests"])
    return Exercise(codes["signature"], codes["solution"], codes["tests"])


# --- running an exercise --------------------------------------------------------------------

RUNNER = Path(__file__).with_name("runner.py")  # the child's script (see its doc)

_GRACE_S = 1.0  # the child stops itself at timeout_s; it is killed at timeout_s + grace
_TAIL_BYTES = 64 * 1024  # keep only the end of the child's stdout / stderr


def _child_env(directory: str) -> dict[str, str]:
    """A minimal environment: nothing of ours (no API keys, proxies, PYTHONPATH)."""
    return {
        "PATH": os.defpath,
        "HOME": directory,
        "TMPDIR": directory,
        "LANG": "C.UTF-8",
        "LC_ALL": "C.UTF-8",
    }


def _write_files(directory: str, exercise: Exercise) -> None:
    """The solution, tests and runner script, as files in the run's directory."""
    for name, text in (("solution.py", exercise.solution), ("tests.py", exercise.tests)):
        Path(directory, name).write_text(text, encoding="utf-8")
    shutil.copyfile(RUNNER, Path(directory, "_runner.py"))


class _ChildProtocol(asyncio.SubprocessProtocol):
    """Keeps the tail of the child's stdout and stderr; tells when it exited, when pipes closed.

    Process exit and pipe closing are separate events: something the code started in the
    background can hold the pipes open after the runner has exited.
    """

    def __init__(self, loop: asyncio.AbstractEventLoop) -> None:
        self.output = {1: bytearray(), 2: bytearray()}
        self.exited: asyncio.Future[None] = loop.create_future()
        self.closed: asyncio.Future[None] = loop.create_future()

    def pipe_data_received(self, fd: int, data: bytes) -> None:
        buffer = self.output[fd]
        buffer += data
        del buffer[:-_TAIL_BYTES]

    def process_exited(self) -> None:
        if not self.exited.done():
            self.exited.set_result(None)

    def connection_lost(self, exc: Exception | None) -> None:
        if not self.closed.done():
            self.closed.set_result(None)


def _kill_group(pid: int | None) -> None:
    """SIGKILL the child's process group (the child and anything it started)."""
    with contextlib.suppress(ProcessLookupError, PermissionError, TypeError):
        os.killpg(pid, signal.SIGKILL)  # type: ignore[arg-type]


async def _run_child(directory: str, limits: Limits) -> tuple[int | None, bytes, bytes, bool]:
    """Run the runner; return its exit code, stdout and stderr tails, and if it was killed."""
    loop = asyncio.get_running_loop()
    transport, protocol = await loop.subprocess_exec(
        lambda: _ChildProtocol(loop),
        *(sys.executable, "-I", "-S", "-X", "utf8", "_runner.py", json.dumps(asdict(limits))),
        cwd=directory,
        env=_child_env(directory),
        stdin=subprocess.DEVNULL,
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        start_new_session=True,
    )
    try:
        try:
            await asyncio.wait_for(protocol.exited, limits.timeout_s + _GRACE_S)
            killed = False
        except TimeoutError:
            killed = True
        _kill_group(transport.get_pid())  # also whatever the code left running
        await asyncio.wait([protocol.closed], timeout=1.0)
    finally:  # also when cancelled: leave nothing running, and reap the child
        _kill_group(transport.get_pid())
        await asyncio.wait([protocol.closed], timeout=1.0)
        transport.close()
    out, err = (bytes(protocol.output[fd]) for fd in (1, 2))
    return transport.get_returncode(), out, err, killed


def _reported(out: bytes) -> tuple[str, str] | None:
    """The runner's (kind, error) from the last line of its stdout, if there is one."""
    lines = out.decode("utf-8", "replace").strip().splitlines()
    try:
        report = json.loads(lines[-1])
        return str(report["kind"]), str(report["error"])
    except (IndexError, ValueError, KeyError, TypeError):
        return None


def _classify(returncode: int | None, out: bytes, err: bytes, limits: Limits) -> tuple[str, str]:
    """(kind, error) from how the child ended when it reported no result itself."""
    if (reported := _reported(out)) is not None:
        return reported
    stderr = err.decode("utf-8", "replace").strip()
    if returncode is not None and returncode < 0:
        name = signal.Signals(-returncode).name
        if name in {"SIGXCPU", "SIGKILL"}:
            return "timeout", f"killed by {name} (CPU limit {limits.cpu_s} s)"
        return "error", f"killed by {name}"
    if "MemoryError" in stderr:
        return "memory", f"MemoryError (limit {limits.memory_mb} MB)"
    last = stderr.splitlines()[-1][:300] if stderr else "no output"
    return "error", f"the runner exited with code {returncode} and no result: {last}"


async def run_exercise(exercise: Exercise, limits: Limits = Limits()) -> RunResult:
    """Run the exercise's tests against its solution in a limited child process.

    Never blocks the event loop for long and never imports the code here; run many
    concurrently with asyncio.gather (bound concurrency in the caller).
    """
    start = time.monotonic()
    with tempfile.TemporaryDirectory(prefix="tinygen-check-", ignore_cleanup_errors=True) as tmp:
        _write_files(tmp, exercise)
        returncode, out, err, killed = await _run_child(tmp, limits)
    if killed:
        kind, error = "timeout", f"no result within {limits.timeout_s:g} s: killed"
    else:
        kind, error = _classify(returncode, out, err, limits)
    return RunResult(kind == "passed", kind, error, round(time.monotonic() - start, 3))


async def check_exercise(text: str, limits: Limits = Limits()) -> RunResult:
    """Split and run a `codeexercises` answer; a malformed answer gives kind "format"."""
    try:
        exercise = split_exercise(text)
    except ExerciseFormatError as e:
        return RunResult(False, "format", str(e), 0.0)
    return await run_exercise(exercise, limits)
