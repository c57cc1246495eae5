"""Code presets end to end: exercises are run, broken ones are rejected with the reason."""

from __future__ import annotations

import asyncio

from tests.conftest import cli, gen_args, read_jsonl, shard_records
from tinygen.checks.base import Answer
from tinygen.checks.build import textbook_check


def test_codeexercises_rejects_exactly_the_broken_solutions(server, tmp_path):
    srv = server(
        "--responder", "exercise", "--exercise-kinds", "ok,wrong,ok,loop,memory,ok,ok,ok,ok"
    )
    args = gen_args(srv.base_url, tmp_path, 6, "--concurrency", "6", recipe="codeexercises")
    code, _, err = cli(*args, "--max-items", "9")
    assert code == 0, err
    records = shard_records(tmp_path)
    assert len(records) == 6
    assert all(r["checks"]["code"]["passed"] for r in records)
    rejected = read_jsonl(tmp_path / "rejected.jsonl")
    by_reason = {r["reason"]: r for r in rejected}
    assert sorted(by_reason) == ["code_assertion", "code_memory", "code_timeout"]
    assert "assert add_" in by_reason["code_assertion"]["detail"]
    assert len(rejected) == 3
    served = [entry for entry in srv.requests() if entry["status"] == 200]
    assert len(served) == 9


def test_codetextbook_needs_parsing_python_blocks():
    good = "Lists hold items.\n\n```python\nitems = [1, 2]\nprint(items)\n```\nIt prints [1, 2]."
    broken = good.replace("[1, 2]\nprint", "[1, 2\nprint")
    answers = [Answer(text, "stop") for text in (good, broken, "No code at all.")]
    verdicts = [asyncio.run(textbook_check(answer)) for answer in answers]
    assert verdicts[0] is None
    assert verdicts[1].reason == "code_syntax" and "block 1" in verdicts[1].detail
    assert verdicts[2].reason == "code_missing"
