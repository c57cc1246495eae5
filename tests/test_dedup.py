"""`dedup_files`: one clean corpus and a report from several runs' output directories."""

from __future__ import annotations

import json
import random
from pathlib import Path

import pytest

from tests.conftest import cli, gen_args
from tinygen.dedup import REPORT, SUMMARY, dedup_files
from tinygen.errors import UsageError
from tinygen.neardup import NearDupConfig

WORDS = [f"word{i}" for i in range(3000)]


def story(rng: random.Random) -> str:
    return " ".join(rng.choice(WORDS) for _ in range(120)) + "."


def near_copy(rng: random.Random, text: str) -> str:
    words = text.split()
    words[rng.randrange(len(words))] = "changed"
    return " ".join(words)


def write_run(run_dir: Path, records: list[dict], shard_size: int = 4) -> None:
    """A run directory: records in data/part-NNNNN.jsonl, plus a manifest."""
    (run_dir / "data").mkdir(parents=True)
    for n in range(0, len(records), shard_size):
        lines = [json.dumps(r) + "\n" for r in records[n : n + shard_size]]
        (run_dir / "data" / f"part-{n // shard_size:05d}.jsonl").write_text("".join(lines))
    (run_dir / "manifest.json").write_text("{}")


def record(run: str, index: int, text: str) -> dict:
    return {"id": f"{run}-{index:08d}", "index": index, "text": text, "extra": {"run": run}}


@pytest.fixture
def two_runs(tmp_path: Path) -> tuple[Path, Path, list[str]]:
    """Run a: 6 stories. Run b: an exact copy (other case), a near copy, 2 new stories."""
    rng = random.Random(0)
    texts = [story(rng) for _ in range(8)]
    a = [record("a", i, t) for i, t in enumerate(texts[:6])]
    b = [
        record("b", 0, texts[1].upper()),
        record("b", 1, near_copy(rng, texts[2])),
        record("b", 2, texts[6]),
        record("b", 3, texts[7]),
        record("b", 4, texts[7]),
    ]
    write_run(tmp_path / "run-a", a)
    write_run(tmp_path / "run-b", b)
    return tmp_path / "run-a", tmp_path / "run-b", texts


def read_jsonl(path: Path) -> list[dict]:
    return [json.loads(line) for line in path.read_text().splitlines()]


def test_two_runs_give_one_clean_corpus_and_a_report(two_runs, tmp_path: Path) -> None:
    run_a, run_b, _texts = two_runs
    out = tmp_path / "clean"
    report = dedup_files([run_a, run_b], out, shard_size=3, progress=False)
    assert (report.read, report.kept, report.exact, report.near) == (11, 8, 2, 1)
    shards = sorted(p.name for p in (out / "data").iterdir())
    assert shards == ["part-00000.jsonl", "part-00001.jsonl", "part-00002.jsonl"]
    kept = [r for s in shards for r in read_jsonl(out / "data" / s)]
    assert [r["id"] for r in kept] == [f"a-{i:08d}" for i in range(6)] + [
        "b-00000002",
        "b-00000003",
    ]
    assert kept[0] == read_jsonl(run_a / "data" / "part-00000.jsonl")[0]  # whole, untouched
    removed = {r["id"]: r for r in read_jsonl(out / REPORT)}
    assert removed["b-00000000"] == {
        "id": "b-00000000",
        "kind": "exact",
        "kept": "a-00000001",
        "jaccard": 1.0,
        "cluster": "a-00000001",
    }
    assert removed["b-00000001"]["kind"] == "near"
    assert removed["b-00000001"]["kept"] == removed["b-00000001"]["cluster"] == "a-00000002"
    assert 0.8 <= removed["b-00000001"]["jaccard"] < 1.0
    assert removed["b-00000004"]["kind"] == "exact"
    summary = json.loads((out / SUMMARY).read_text())
    assert summary["read"] == 11 and summary["kept"] == 8 and summary["threshold"] == 0.8
    assert summary["near_params"] == NearDupConfig().params()


def test_near_dedup_can_be_switched_off(two_runs, tmp_path: Path) -> None:
    run_a, run_b, _texts = two_runs
    report = dedup_files([run_a, run_b], tmp_path / "out", near=None, progress=False)
    assert (report.kept, report.exact, report.near) == (9, 2, 0)


def test_plain_jsonl_with_another_text_field(tmp_path: Path) -> None:
    rng = random.Random(1)
    text = story(rng)
    rows = [{"body": text}, {"body": near_copy(rng, text)}, {"body": story(rng)}]
    source = tmp_path / "in" / "x.jsonl"
    source.parent.mkdir()
    source.write_text("".join(json.dumps(r) + "\n" for r in rows) + "\n")
    report = dedup_files([tmp_path / "in"], tmp_path / "out", text_field="body", progress=False)
    assert (report.read, report.kept, report.near) == (3, 2, 1)
    (removed,) = read_jsonl(tmp_path / "out" / REPORT)
    assert removed["id"] == f"{source}:2" and removed["kept"] == f"{source}:1"


def test_output_directory_with_data_is_refused(two_runs) -> None:
    run_a, run_b, _texts = two_runs
    with pytest.raises(UsageError, match="already holds data"):
        dedup_files([run_b], run_a, progress=False)


def test_invalid_json_names_file_and_line(tmp_path: Path) -> None:
    source = tmp_path / "bad.jsonl"
    source.write_text('{"text": "fine"}\n{"text": oops}\n')
    with pytest.raises(UsageError, match=r"bad.jsonl line 2 is not valid JSON"):
        dedup_files([source], tmp_path / "out", progress=False)
    assert not list((tmp_path / "out" / "data").glob("*.jsonl"))  # nothing half-written
    source.write_text('{"text": "fine"}\n')
    assert dedup_files([source], tmp_path / "out", progress=False).kept == 1  # retry works


def test_missing_text_field_names_file_and_line(tmp_path: Path) -> None:
    source = tmp_path / "nofield.jsonl"
    source.write_text('{"text": "fine"}\n{"body": "no text"}\n')
    with pytest.raises(UsageError, match=r"nofield.jsonl line 2 has no string field 'text'"):
        dedup_files([source], tmp_path / "out", progress=False)


def test_missing_input_is_refused(tmp_path: Path) -> None:
    with pytest.raises(UsageError, match="does not exist"):
        dedup_files([tmp_path / "nope"], tmp_path / "out", progress=False)


def test_duplicate_ids_across_inputs_stay_distinct(tmp_path: Path) -> None:
    rng = random.Random(2)
    first, second = tmp_path / "1.jsonl", tmp_path / "2.jsonl"
    first.write_text(json.dumps({"id": "x", "text": story(rng)}) + "\n")
    second.write_text(json.dumps({"id": "x", "text": story(rng)}) + "\n")
    config = NearDupConfig(threshold=0.9)
    report = dedup_files([first, second], tmp_path / "out", near=config, progress=False)
    assert report.kept == 2


def test_a_folder_of_runs_gives_their_shards_only(two_runs, tmp_path: Path) -> None:
    run_a, _run_b, _texts = two_runs
    (run_a / "failed.jsonl").write_text('{"index": 9, "error": {"kind": "timeout"}}\n')
    report = dedup_files([tmp_path], tmp_path / "clean", progress=False)
    assert (report.read, report.kept, report.files) == (11, 8, 4)


def test_a_run_directory_as_output_is_refused(two_runs, tmp_path: Path) -> None:
    run_a, _run_b, _texts = two_runs
    (tmp_path / "fresh").mkdir()
    (tmp_path / "fresh" / "manifest.json").write_text("{}")
    with pytest.raises(UsageError, match="already holds data"):
        dedup_files([run_a], tmp_path / "fresh", progress=False)


def test_dedup_command_on_two_run_directories(server, tmp_path: Path) -> None:
    srv = server("--responder", "echo")
    runs = []
    for seed in ("1", "2"):
        run = tmp_path / f"run{seed}"
        code, _, err = cli(*gen_args(srv.base_url, run, 30, "--seed", seed, "--max-items", "300"))
        assert code == 0, err
        runs.append(run)
    code, out, err = cli(
        "dedup", str(runs[0]), str(runs[1]), "--out", str(tmp_path / "clean"), "--json"
    )
    assert code == 0, err
    summary = json.loads(out)
    assert summary["read"] == 60 and summary["kept"] + summary["exact"] + summary["near"] == 60
    assert summary["exact"] > 0  # echo answers repeat across seeds: same prompts
    clean = tmp_path / "clean"
    kept = [
        json.loads(line)
        for p in sorted((clean / "data").glob("*.jsonl"))
        for line in p.read_text().splitlines()
    ]
    assert len(kept) == summary["kept"] and len({r["id"] for r in kept}) == len(kept)
    report = [json.loads(line) for line in (clean / REPORT).read_text().splitlines()]
    assert len(report) == summary["exact"] + summary["near"]
    assert {r["kind"] for r in report} <= {"exact", "near"}
