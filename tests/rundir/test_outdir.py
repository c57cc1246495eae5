"""Choosing --out: refuse a user's folder, remove only tinygen's files, refuse another run."""

from __future__ import annotations

import json

import pytest

from tests.conftest import TINY, shard_records
from tests.helpers import run, tiny
from tinygen.errors import TinygenError, UsageError
from tinygen.recipe.load import load_recipe
from tinygen.rundir.outdir import (
    lock_out_dir,
    prepare_out_dir,
    refuse_foreign_dir,
    remove_run_files,
)
from tinygen.teachers.fake import FakeTeacher
from tinygen.text.canonical import text_key


def make_run(out, target: int = 3) -> None:
    run(out, FakeTeacher(), target, concurrency=1)


def test_new_empty_or_tinygen_dirs_are_accepted(tmp_path):
    refuse_foreign_dir(tmp_path / "new", overwrite=False)
    (tmp_path / "empty" / "sub").mkdir(parents=True)
    (tmp_path / "empty" / ".lock").touch()
    refuse_foreign_dir(tmp_path / "empty", overwrite=False)
    make_run(tmp_path / "run")
    refuse_foreign_dir(tmp_path / "run", overwrite=False)
    refuse_foreign_dir(tmp_path / "run", overwrite=True)


def test_a_foreign_dir_is_refused_naming_what_it_holds(tmp_path):
    for name in ("b.txt", "a.txt", "c.txt", "d.txt"):
        (tmp_path / name).write_text("mine", encoding="utf-8")
    (tmp_path / "src").mkdir()
    (tmp_path / "src" / "x.py").touch()
    for overwrite in (False, True):
        with pytest.raises(UsageError) as raised:
            refuse_foreign_dir(tmp_path, overwrite)
        assert raised.value.message == (
            f"--out {tmp_path} is not empty and holds no tinygen run (a.txt, b.txt, c.txt and "
            "2 more)"
        )
    assert sorted(p.name for p in tmp_path.iterdir()) == ["a.txt", "b.txt", "c.txt", "d.txt", "src"]


def test_a_file_is_refused(tmp_path):
    path = tmp_path / "file"
    path.write_text("x", encoding="utf-8")
    with pytest.raises(UsageError, match="is a file"):
        refuse_foreign_dir(path, overwrite=False)


def test_a_users_jsonl_in_data_is_not_a_run(tmp_path):
    (tmp_path / "data").mkdir()
    (tmp_path / "data" / "part-00000.jsonl").write_text('{"text": "mine"}\n', encoding="utf-8")
    with pytest.raises(UsageError, match="holds no tinygen run"):
        refuse_foreign_dir(tmp_path, overwrite=False)


def test_shards_without_a_manifest_resume_but_cannot_be_overwritten(tmp_path):
    make_run(tmp_path)
    (tmp_path / "manifest.json").unlink()
    refuse_foreign_dir(tmp_path, overwrite=False)
    with pytest.raises(UsageError, match=r"has no manifest\.json"):
        refuse_foreign_dir(tmp_path, overwrite=True)


def test_remove_run_files_keeps_foreign_files(tmp_path):
    make_run(tmp_path)
    assert (tmp_path / "README.md").exists() and (tmp_path / ".tinygen" / "neardup.sig").exists()
    (tmp_path / "notes.txt").write_text("mine", encoding="utf-8")
    (tmp_path / "data" / "mine.jsonl").write_text("{}\n", encoding="utf-8")
    (tmp_path / "data" / "part-1.jsonl").write_text("{}\n", encoding="utf-8")  # not NNNNN
    (tmp_path / "plots").mkdir()
    (tmp_path / "plots" / "mine.png").write_bytes(b"png")
    remove_run_files(tmp_path)
    left = sorted(str(p.relative_to(tmp_path)) for p in tmp_path.rglob("*"))
    assert left == [
        ".lock",
        "data",
        "data/mine.jsonl",
        "data/part-1.jsonl",
        "notes.txt",
        "plots",
        "plots/mine.png",
    ]


def test_remove_run_files_keeps_a_card_tinygen_did_not_write(tmp_path):
    tmp_path.mkdir(exist_ok=True)
    (tmp_path / "README.md").write_text("# My dataset\n", encoding="utf-8")
    (tmp_path / "manifest.json").write_text("{}", encoding="utf-8")
    remove_run_files(tmp_path)
    assert sorted(p.name for p in tmp_path.iterdir()) == ["README.md"]
    remove_run_files(tmp_path / "missing")  # nothing there: nothing to do


def test_prepare_resumes_the_same_run(tmp_path):
    make_run(tmp_path, 4)
    with lock_out_dir(tmp_path):
        scan = prepare_out_dir(tmp_path, tiny(), overwrite=False)
    records = shard_records(tmp_path)
    assert scan.accepted == 4
    assert scan.done == {r["index"] for r in records}
    assert scan.text_keys == {text_key(r["text"]): r["index"] for r in records}
    assert scan.fingerprint == tiny().fingerprint


@pytest.mark.parametrize("manifest", [True, False], ids=["manifest", "shards only"])
def test_prepare_refuses_another_runs_dir(tmp_path, manifest):
    make_run(tmp_path)
    if not manifest:
        (tmp_path / "manifest.json").unlink()
    other = load_recipe(TINY, {"seed": 5})
    assert other.fingerprint != tiny().fingerprint
    before = sorted(p.name for p in tmp_path.rglob("*"))
    with pytest.raises(UsageError) as raised:
        prepare_out_dir(tmp_path, other, overwrite=False)
    assert "holds a run of" in raised.value.message
    assert f"fingerprint {tiny().fingerprint[:12]}" in raised.value.message
    assert "--overwrite" in (raised.value.hint or "")
    assert sorted(p.name for p in tmp_path.rglob("*")) == before


def test_prepare_with_overwrite_starts_afresh(tmp_path):
    make_run(tmp_path)
    (tmp_path / "notes.txt").write_text("mine", encoding="utf-8")
    other = load_recipe(TINY, {"seed": 5})
    scan = prepare_out_dir(tmp_path, other, overwrite=True)
    assert (scan.accepted, scan.done, scan.fingerprint) == (0, set(), None)
    assert sorted(p.name for p in tmp_path.iterdir()) == [".lock", "data", "notes.txt"]


def test_a_locked_dir_is_refused(tmp_path):
    with lock_out_dir(tmp_path), pytest.raises(TinygenError, match="another tinygen process"):
        lock_out_dir(tmp_path)
    lock_out_dir(tmp_path).close()  # released with its file


def test_a_damaged_manifest_is_refused_before_anything_is_written(tmp_path):
    make_run(tmp_path)
    (tmp_path / "manifest.json").write_text(json.dumps({"recipe": 1}), encoding="utf-8")
    with pytest.raises(TinygenError, match="not a tinygen manifest"):
        refuse_foreign_dir(tmp_path, overwrite=False)
