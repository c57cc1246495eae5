"""`tinygen export`: one typed Parquet file holding every accepted record."""

from __future__ import annotations

import builtins
import json

import pytest

from tests.conftest import TINY, cli, shard_records
from tests.helpers import Waits
from tinygen.engine.generation import RunConfig, generate
from tinygen.recipe.load import load_recipe
from tinygen.rundir.fields import RECORD_FIELDS
from tinygen.teachers.fake import FakeTeacher, story_responder

pa = pytest.importorskip("pyarrow")
pq = pytest.importorskip("pyarrow.parquet")

SCORES = {"grammar": 8, "creativity": 7, "consistency": 9, "plot": 6, "age_fit": 10}


def judged_run(out, target=30):
    """tiny.toml with a judge on half the items, on the fake teacher."""
    stories = story_responder()

    def respond(messages, params):
        return json.dumps(SCORES) if params.response_format else stories(messages, params)

    resolved = load_recipe(TINY, {"checks.judge.rubric": "tinystories", "checks.judge.sample": 0.5})
    config = RunConfig(out, target, progress=False, retry=Waits().policy())
    generate(resolved, FakeTeacher(responder=respond), config)


def test_the_file_holds_every_record_typed(tmp_path):
    judged_run(tmp_path / "run")
    code, _, err = cli("export", str(tmp_path / "run"), "--out", str(tmp_path / "c.parquet"))
    assert code == 0, err
    assert "wrote 30 records" in err
    table = pq.read_table(tmp_path / "c.parquet")
    assert table.column_names == [field.name for field in RECORD_FIELDS]
    schema = table.schema
    assert schema.field("index").type == pa.int64() and schema.field("text").type == pa.string()
    assert schema.field("latency_s").type == pa.float64()
    assert schema.field("messages").type == pa.list_(
        pa.struct([("role", pa.string()), ("content", pa.string())])
    )
    judge = schema.field("checks").type.field("judge").type
    assert judge.field("scores").type.field("plot").type == pa.int64()
    rows, records = table.to_pylist(), shard_records(tmp_path / "run")
    assert [row["id"] for row in rows] == [record["id"] for record in records]
    assert [row["text"] for row in rows] == [record["text"] for record in records]
    judged = [row["checks"]["judge"] for row in rows]
    assert 0 < sum(j is not None for j in judged) < 30  # a column all the same, null elsewhere
    assert {j["scores"]["age_fit"] for j in judged if j} == {10}
    assert rows[0]["variables"]["noun"] == records[0]["variables"]["noun"]


def test_an_existing_file_is_kept_unless_overwrite(tmp_path):
    judged_run(tmp_path / "run", 3)
    target = tmp_path / "c.parquet"
    target.write_bytes(b"mine")
    code, _, err = cli("export", str(tmp_path / "run"), "--out", str(target))
    assert code == 2 and "exists" in err and "--overwrite" in err
    assert target.read_bytes() == b"mine"
    code, _, err = cli("export", str(tmp_path / "run"), "--out", str(target), "--overwrite")
    assert code == 0, err
    assert pq.read_table(target).num_rows == 3
    assert sorted(p.name for p in tmp_path.iterdir()) == ["c.parquet", "run"]  # no staging


def test_no_run_and_no_pyarrow_are_clear_errors(tmp_path, monkeypatch):
    code, _, err = cli("export", str(tmp_path), "--out", str(tmp_path / "c.parquet"))
    assert code == 2 and "holds no records" in err
    judged_run(tmp_path / "run", 2)
    real_import = builtins.__import__

    def no_pyarrow(name, *args, **kwargs):
        if name.startswith("pyarrow"):
            raise ImportError(name)
        return real_import(name, *args, **kwargs)

    monkeypatch.setattr(builtins, "__import__", no_pyarrow)
    code, _, err = cli("export", str(tmp_path / "run"), "--out", str(tmp_path / "c.parquet"))
    assert code == 1 and "pip install 'tinygen[parquet]'" in err
    assert not (tmp_path / "c.parquet").exists()
