"""The dataset card: its YAML header parses, and `datasets` loads a run directory as is."""

from __future__ import annotations

import json
import shutil
from pathlib import Path

import pytest

from tests.conftest import ROOT, cli, gen_args, shard_records
from tests.helpers import make_run, story_run
from tinygen.report.card import front_matter, size_category, write_card
from tinygen.report.corpus import corpus_stats
from tinygen.rundir.fields import RECORD_FIELDS

yaml = pytest.importorskip("yaml")


def card_header(path: Path) -> dict:
    text = path.read_text(encoding="utf-8")
    assert text.startswith("---\n")
    return yaml.safe_load(text.split("---\n")[1])


def test_card_header_has_the_hub_fields(tmp_path):
    path = write_card(story_run(tmp_path))
    assert path == tmp_path / "README.md"
    assert not list(tmp_path.glob("*.tmp"))
    header = card_header(path)
    assert header["license"] == "other"
    assert header["language"] == ["en"]
    assert header["size_categories"] == ["n<1K"]
    assert header["task_categories"] == ["text-generation"]
    assert {"synthetic", "tinygen"} <= set(header["tags"])
    assert header["configs"] == [
        {"config_name": "default", "data_files": [{"split": "train", "path": "data/*.jsonl"}]}
    ]
    names = [f["name"] for f in header["dataset_info"]["features"]]
    assert names == ["id", "index", "text", "variables", "usage", "finish_reason"]
    body = path.read_text(encoding="utf-8")
    for part in ("## How it was made", "## Record schema", "## Counts", "once upon a", "75.0%"):
        assert part in body, part


def test_card_is_rewritten_and_takes_a_license(tmp_path):
    run = story_run(tmp_path)
    write_card(run)
    write_card(run, corpus_stats(run), license="cc-by-4.0")
    header = card_header(run / "README.md")
    assert header["license"] == "cc-by-4.0" and "license_name" not in header


def test_yaml_quoting_survives_odd_names(tmp_path):
    run = make_run(tmp_path, ['He said: "yes" | no # not a comment'], name="x:y")
    stats = corpus_stats(run)
    record = json.loads((run / "data" / "part-00000.jsonl").read_text())
    header = yaml.safe_load(front_matter({}, stats, record=record).split("---\n")[1])
    assert header["pretty_name"].startswith("x:y")


def test_size_categories_follow_the_hub_convention():
    assert [size_category(n) for n in (0, 999, 1000, 9_999, 10_000, 999_999, 1_000_000)] == [
        "n<1K",
        "n<1K",
        "1K<n<10K",
        "1K<n<10K",
        "10K<n<100K",
        "100K<n<1M",
        "1M<n<10M",
    ]


def _awkward_run(path: Path, source: Path) -> int:
    """A copy of a real run whose first shard starts with empty and null fields."""
    shutil.copytree(source, path)
    records = shard_records(path)
    for record in records[:7]:  # the whole first shard
        record["variables"]["features"] = []
        record["finish_reason"] = None
        record["usage"] = {"prompt_tokens": None, "completion_tokens": None}
    for shard in (path / "data").glob("*.jsonl"):
        shard.unlink()
    for number, start in enumerate(range(0, len(records), 7)):
        lines = "".join(json.dumps(r) + "\n" for r in records[start : start + 7])
        (path / "data" / f"part-{number:05d}.jsonl").write_text(lines)
    return len(records)


def test_datasets_loads_a_run_directory_as_is(server, tmp_path, monkeypatch):
    datasets = pytest.importorskip("datasets")
    monkeypatch.setenv("HF_DATASETS_OFFLINE", "1")
    monkeypatch.setenv("HF_HUB_OFFLINE", "1")
    monkeypatch.setenv("HF_HOME", str(tmp_path / "hf"))
    srv = server()
    run = tmp_path / "run"
    code, _, err = cli(*gen_args(srv.base_url, run, 25, "--shard-size", "10"))
    assert code == 0, err
    write_card(run)
    awkward = tmp_path / "awkward"
    rows = _awkward_run(awkward, run)
    write_card(awkward)
    for directory, expected in ((run, 25), (awkward, rows)):
        ds = datasets.load_dataset(str(directory), split="train", cache_dir=str(tmp_path / "c"))
        assert ds.num_rows == expected
        assert set(ds.column_names) == set(shard_records(run)[0])
        assert sorted(ds["index"]) == sorted(r["index"] for r in shard_records(directory))
        assert isinstance(ds[0]["variables"]["features"], list)
        assert ds[0]["messages"][0]["role"] in ("system", "user")
        assert isinstance(ds[0]["checks"], dict), "checks must load as a struct, not JSON text"
        loaded = {row["index"]: row["checks"] for row in ds}
        for record in shard_records(directory):
            assert loaded[record["index"]] == record["checks"]


def test_readme_record_table_is_the_field_table():
    readme = (ROOT / "README.md").read_text(encoding="utf-8")
    section = readme.split("### Record fields", 1)[1].split("\n\n", 2)[1]
    rows = [line.split(" | ", 1) for line in section.splitlines()[2:]]
    table = [(name.strip("| `"), meaning.rstrip(" |")) for name, meaning in rows]
    assert table == [(field.name, field.meaning) for field in RECORD_FIELDS]


def test_records_have_the_fields_of_the_table(server, tmp_path):
    srv = server()
    assert cli(*gen_args(srv.base_url, tmp_path / "run", 3))[0] == 0
    for record in shard_records(tmp_path / "run"):
        assert list(record) == [field.name for field in RECORD_FIELDS]
