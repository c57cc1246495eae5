"""tinygen.checks.code: splitting exercises, running them under limits, parsing textbook code."""

from __future__ import annotations

import asyncio
import os
import re
import socket
import tempfile
import time
from pathlib import Path

import pytest

from tinygen.checks.code import (
    Exercise,
    ExerciseFormatError,
    Limits,
    RunResult,
    check_exercise,
    python_block_errors,
    python_blocks,
    run_exercise,
    split_exercise,
)

SIGNATURE = 'def add(a: int, b: int) -> int:\n    """Return a + b. Example: add(1, 2) == 3."""\n'
SOLUTION = "def add(a: int, b: int) -> int:\n    return a + b\n"
TESTS = "assert add(1, 2) == 3\nassert add(-1, 1) == 0\nassert add(0, 0) == 0\n"

ANSWER = f"""### Signature
```python
{SIGNATURE}```

### Solution
```python
{SOLUTION}```

### Tests
```python
{TESTS}```
"""

LOOSE_ANSWER = f"""Sure! Here is an exercise about addition.

## 1. signature + docstring:
```py
{SIGNATURE}```

**Solution:**

The idea is simple: use `+`.

```python3
{SOLUTION}```

#### TESTS
Some edge cases:
```
{TESTS}```
That's all.
"""

FAST = Limits(timeout_s=2.0, memory_mb=256, cpu_s=2)


def run(solution: str, tests: str = TESTS, limits: Limits = FAST) -> RunResult:
    """Run one exercise with the shared signature."""
    return asyncio.run(run_exercise(Exercise(SIGNATURE, solution, tests), limits))


# --- splitting ------------------------------------------------------------------------------


@pytest.mark.parametrize("answer", [ANSWER, LOOSE_ANSWER], ids=["strict", "loose"])
def test_split_finds_the_three_parts(answer: str) -> None:
    exercise = split_exercise(answer)
    assert exercise == Exercise(SIGNATURE, SOLUTION, TESTS)


def test_split_joins_several_blocks_and_prefers_python_tagged_ones() -> None:
    answer = ANSWER.replace(
        "### Tests\n", "### Tests\n```text\n>>> add(1, 2)\n3\n```\n```python\nx = 1\n```\n"
    )
    assert split_exercise(answer).tests == "x = 1\n\n" + TESTS


@pytest.mark.parametrize(
    ("edit", "reason"),
    [
        (lambda a: a.replace("### Tests", "### Examples"), "no '### Tests' section"),
        (lambda a: a.replace("### Solution", "Answer"), "no '### Solution' section"),
        (
            lambda a: a.replace("### Tests\n```python", "### Tests\n```text"),
            "the '### Tests' section has no ```python block",
        ),
        (
            lambda a: a.replace("return a + b", "return a +"),
            "Solution is not valid Python: line 2: invalid syntax",
        ),
        (lambda a: a.replace('    """Return', '    # """Return'), "Signature is not valid"),
        (lambda a: a.replace('def add(a: int, b: int) -> int:\n    """', 'x = """'), "no function"),
        (lambda a: a.replace('"""Return a + b. Example: add(1, 2) == 3."""', "..."), "docstring"),
        (
            lambda a: a.replace(SOLUTION, SOLUTION.replace("add", "plus")),
            "Solution does not define add()",
        ),
        (
            lambda a: a.replace(TESTS, "print(add(1, 2))\nassert True\n"),
            "Tests have no assert that calls add()",
        ),
        (lambda a: a.replace(TESTS, SOLUTION + TESTS), "Tests redefine add()"),
        (lambda a: a[: a.rindex("```")], "no closing fence"),
    ],
)
def test_split_names_what_is_wrong(edit, reason: str) -> None:
    with pytest.raises(ExerciseFormatError, match=re.escape(reason)):
        split_exercise(edit(ANSWER))


# --- running --------------------------------------------------------------------------------


def test_a_correct_solution_passes() -> None:
    result = run(SOLUTION)
    assert result == RunResult(True, "passed", "", result.seconds)
    assert 0 < result.seconds < 2


def test_a_wrong_solution_names_the_failing_assert() -> None:
    result = run("def add(a, b):\n    return a * b\n")
    assert (result.passed, result.kind) == (False, "assertion")
    assert result.error == "AssertionError at tests line 1: assert add(1, 2) == 3"


def test_assert_messages_and_multi_line_asserts_are_reported() -> None:
    tests = 'assert add(1, 1) == 2\nassert add(\n    2, 2\n) == 5, "two and two"\n'
    result = run(SOLUTION, tests)
    assert result.kind == "assertion"
    assert result.error == (
        'AssertionError: two and two at tests line 2: assert add( 2, 2 ) == 5, "two and two"'
    )


def test_asserts_in_test_functions_are_run_even_if_never_called() -> None:
    tests = "def test_add():\n    assert add(1, 1) == 2\n    assert add(1, 1) == 3\n"
    result = run(SOLUTION, tests)
    assert result.error == "AssertionError at tests line 3: assert add(1, 1) == 3"


def test_an_exception_in_the_solution_is_an_error_with_its_type() -> None:
    result = run("def add(a, b):\n    return a / 0\n")
    assert result.kind == "error"
    assert result.error.startswith("ZeroDivisionError: division by zero at tests line 1")
    assert result.error.endswith("(raised at solution line 2)")


def test_an_infinite_loop_times_out() -> None:
    start = time.monotonic()
    result = run("def add(a, b):\n    while True:\n        pass\n", limits=Limits(1.0, 256, 5))
    assert time.monotonic() - start < 1.0 + 1.5
    assert result.kind == "timeout"
    assert "time limit" in result.error


def test_a_solution_that_ignores_the_timer_is_killed() -> None:
    solution = (
        "import signal\n"
        "def add(a, b):\n"
        "    signal.signal(signal.SIGALRM, signal.SIG_IGN)\n"
        "    while True:\n"
        "        pass\n"
    )
    start = time.monotonic()
    result = run(solution, limits=Limits(0.5, 256, 5))
    assert time.monotonic() - start < 0.5 + 1.5
    assert result.kind == "timeout"


def test_cpu_limit_stops_a_busy_solution() -> None:
    result = run("def add(a, b):\n    while True:\n        pass\n", limits=Limits(10.0, 256, 1))
    assert result.kind == "timeout"
    assert "CPU time limit of 1 s" in result.error
    assert result.seconds < 8


@pytest.mark.parametrize("allocation", ["bytearray(10**10)", "[0] * 10**10"])
def test_a_huge_allocation_is_a_memory_failure(allocation: str) -> None:
    result = run(f"def add(a, b):\n    data = {allocation}\n    return a + b\n")
    assert result.kind == "memory"
    assert result.error.startswith("MemoryError at tests line 1")


def test_slowly_growing_memory_is_stopped() -> None:
    solution = "def add(a, b):\n    data = []\n    while True:\n        data.append(' ' * 4096)\n"
    result = run(solution, limits=Limits(5.0, 128, 5))
    assert result.kind == "memory"


def test_the_code_cannot_open_a_network_connection() -> None:
    with socket.create_server(("127.0.0.1", 0)) as server:
        port = server.getsockname()[1]
        solution = (
            "import socket\n"
            "def add(a, b):\n"
            f"    socket.create_connection(('127.0.0.1', {port}), timeout=1).close()\n"
            "    return a + b\n"
        )
        for code in (solution, solution.replace("create_connection", "socket().connect")):
            result = run(code)
            assert result.kind == "error"
            assert "network access is disabled" in result.error
        server.settimeout(0.1)
        with pytest.raises(TimeoutError):
            server.accept()


def test_the_code_sees_no_secrets_from_our_environment(monkeypatch) -> None:
    monkeypatch.setenv("OPENAI_API_KEY", "sk-test-SECRET")
    monkeypatch.setenv("PYTHONPATH", "/nowhere")
    tests = (
        "import os, sys\n"
        "assert add(1, 1) == 2\n"
        "assert 'OPENAI_API_KEY' not in os.environ\n"
        "assert 'PYTHONPATH' not in os.environ and '/nowhere' not in sys.path\n"
        "assert 'SECRET' not in repr(dict(os.environ))\n"
    )
    assert run(SOLUTION, tests).kind == "passed"


def test_files_are_written_in_a_temporary_directory_that_is_removed() -> None:
    solution = (
        "import os\n"
        "def add(a, b):\n"
        "    with open('marker.txt', 'w') as f:\n"
        "        f.write('x')\n"
        "    return a + b\n"
    )
    tests = "import os\nassert add(1, 1) == 2\nassert False, os.getcwd()\n"
    result = run(solution, tests)
    where = Path(result.error.split(": ", 1)[1].split(" at tests line")[0])
    assert where.parent == Path(tempfile.gettempdir()).resolve()
    assert where.name.startswith("tinygen-check-")
    assert not where.exists()
    assert not Path("marker.txt").exists()


def test_printing_a_lot_does_not_confuse_the_result() -> None:
    solution = (
        "import sys\n"
        "def add(a, b):\n"
        '    print(\'{"kind": "passed"}\\n\' * 100000)\n'
        "    sys.stderr.write('e' * 10**6)\n"
        "    return a * b\n"
    )
    result = run(solution)
    assert result.kind == "assertion"


def test_a_process_that_dies_is_an_error() -> None:
    result = run("import os\ndef add(a, b):\n    os._exit(3)\n")
    assert result.kind == "error"
    assert "code 3" in result.error


def test_check_exercise_reports_format_errors_as_results() -> None:
    result = asyncio.run(check_exercise(ANSWER.replace("### Tests", "### Notes"), FAST))
    assert result == RunResult(False, "format", "no '### Tests' section", 0.0)
    assert asyncio.run(check_exercise(LOOSE_ANSWER, FAST)).passed


def test_twenty_exercises_run_concurrently() -> None:
    solutions = [
        SOLUTION if i % 2 else f"def add(a, b):\n    return a + b + {i + 1}\n" for i in range(20)
    ]

    async def many() -> list[RunResult]:
        exercises = [Exercise(SIGNATURE, s, TESTS) for s in solutions]
        return await asyncio.gather(*(run_exercise(e, FAST) for e in exercises))

    results = asyncio.run(many())
    assert [r.passed for r in results] == [i % 2 == 1 for i in range(20)]
    assert {r.kind for r in results} == {"passed", "assertion"}


def _gone(pid: int) -> bool:
    """Whether the process has ended (absent, or a zombie waiting for init to reap it)."""
    for _ in range(50):
        try:
            stat = Path(f"/proc/{pid}/stat").read_text()
        except FileNotFoundError:
            return True
        if stat.rsplit(")", 1)[1].split()[0] in {"Z", "X"}:
            return True
        time.sleep(0.02)
    return False


def test_background_processes_are_killed_and_do_not_hold_up_the_result() -> None:
    solution = (
        "import subprocess, sys\n"
        "def add(a, b):\n"
        "    global child\n"
        "    child = subprocess.Popen([sys.executable, '-c', 'import time; time.sleep(60)'])\n"
        "    return a + b\n"
    )
    tests = "assert add(1, 2) == 3\nassert False, child.pid\n"
    result = run(solution, tests)
    assert result.kind == "assertion"
    assert result.seconds < 2.5  # not held until the timeout by the child's copy of the pipes
    assert _gone(int(result.error.split(": ")[1].split()[0]))


def test_a_cancelled_run_leaves_nothing_running(tmp_path: Path) -> None:
    pid_file = tmp_path / "pid"
    solution = (
        "import os\n"
        "def add(a, b):\n"
        f"    open({str(pid_file)!r}, 'w').write(str(os.getpid()))\n"
        "    while True:\n"
        "        pass\n"
    )
    with pytest.raises(TimeoutError):
        asyncio.run(asyncio.wait_for(run_exercise(Exercise(SIGNATURE, solution, TESTS)), 0.5))
    assert _gone(int(pid_file.read_text()))


def test_a_batch_rejects_exactly_the_broken_solutions() -> None:
    broken = {
        "def add(a, b):\n    return a - b\n": "assertion",
        "def add(a, b):\n    return int(None)\n": "error",
        "def add(a, b):\n    while True:\n        pass\n": "timeout",
        "def add(a, b):\n    return len([0] * 10**10)\n": "memory",
    }
    answers = [ANSWER.replace(SOLUTION, s) for s in broken] + [ANSWER, LOOSE_ANSWER] * 3

    async def check_all() -> list[RunResult]:
        limits = Limits(timeout_s=1.0, memory_mb=256, cpu_s=2)
        return await asyncio.gather(*(check_exercise(a, limits) for a in answers))

    results = asyncio.run(check_all())
    assert [r.kind for r in results] == [*broken.values()] + ["passed"] * 6
    assert results[0].error == "AssertionError at tests line 1: assert add(1, 2) == 3"


# --- textbook code --------------------------------------------------------------------------

TEXTBOOK = """A list comprehension builds a list from an iterable.

```python
squares = [n * n for n in range(5)]
print(squares)
```

This prints `[0, 1, 4, 9, 16]`. Output looks like this:

```
[0, 1, 4, 9, 16]
```

A filter goes at the end:

```py
evens = [n for n in range(10) if n % 2 == 0
print(evens)
```
"""


def test_python_blocks_are_the_tagged_ones() -> None:
    blocks = python_blocks(TEXTBOOK)
    assert len(blocks) == 2
    assert blocks[0].startswith("squares =")


def test_python_block_errors_name_the_broken_block() -> None:
    assert python_block_errors(TEXTBOOK) == ["block 2, line 1: '[' was never closed"]
    assert python_block_errors(TEXTBOOK.replace("== 0\n", "== 0]\n")) == []
    assert python_block_errors("no code at all") == []


def test_python_block_errors_ignore_syntax_warnings() -> None:
    assert python_block_errors('```python\nimport re\nre.compile("\\d+")\n```\n') == []


def test_environment_is_not_changed_by_the_run() -> None:
    before = dict(os.environ)
    run(SOLUTION)
    assert dict(os.environ) == before
