"""ManifestWriter: what manifest.json says, when it is written, totals across sessions."""

from __future__ import annotations

import hashlib
import json

import pytest

from tests.helpers import manifest, tiny
from tinygen import SCHEMA_VERSION, __version__
from tinygen.engine.counters import RunStats
from tinygen.errors import TinygenError
from tinygen.rundir import manifest as manifest_module
from tinygen.rundir.manifest import ManifestWriter, read_manifest
from tinygen.rundir.outdir import prepare_out_dir
from tinygen.teachers.limits import Budget, Gate
from tinygen.teachers.prices import Prices

TEACHER = {"kind": "fake", "host": "fake", "model": "test-model"}
EARLY = "2020-01-02T03:04:05+00:00"


def writer(out, **counts) -> ManifestWriter:
    gate = Gate(Budget(), Prices(1.0, 2.0))
    gate.tally(counts.pop("requests", 0), 0, 0)  # the gate counts the requests
    gate.cost = counts.pop("cost", 0.0)
    return ManifestWriter(out, tiny(), TEACHER, RunStats(target=10, gate=gate, **counts))


def test_start_writes_a_running_manifest(tmp_path):
    mw = writer(tmp_path, accepted=2, requests=3)
    assert (mw.started, mw.finished) == (False, False)
    mw.start(30)
    assert (mw.started, mw.finished) == (True, False)
    written = manifest(tmp_path)
    assert written["status"] == "running"
    assert (written["tinygen_version"], written["schema_version"]) == (__version__, SCHEMA_VERSION)
    assert written["recipe"]["name"] == "tiny"
    assert written["recipe"]["fingerprint"] == tiny().fingerprint
    assert written["recipe"]["template_hash"] == tiny().template_hash
    assert written["recipe"]["resolved"]["teacher"]["model"] == "test-model"
    assert written["teacher"] == TEACHER
    assert (written["seed"], written["item_cap"], written["sessions"]) == (0, 30, 1)
    assert written["counts"]["accepted"] == 2
    assert written["session"]["requests"] == 3
    assert written["started_at"] == mw.started_at
    assert "shards" not in written
    assert not (tmp_path / "manifest.json.tmp").exists()


def test_finish_lists_every_shard_with_count_and_hash(tmp_path):
    (tmp_path / "data").mkdir()
    shard = tmp_path / "data" / "part-00000.jsonl"
    shard.write_bytes(b'{"a":1}\n{"a":2}\n')
    mw = writer(tmp_path)
    mw.start(30)
    mw.finish("done")
    assert mw.finished
    written = manifest(tmp_path)
    assert written["status"] == "done"
    digest = hashlib.sha256(shard.read_bytes()).hexdigest()
    assert written["shards"] == [{"file": "data/part-00000.jsonl", "records": 2, "sha256": digest}]


def test_totals_are_carried_across_sessions(tmp_path):
    first = writer(tmp_path, requests=3, prompt_tokens=10, completion_tokens=20, cost=0.25)
    first.started_at = EARLY
    first.start(30)
    first.finish("budget_reached")
    second = writer(tmp_path, requests=2, prompt_tokens=1, completion_tokens=2, cost=0.5)
    second.start(30, read_manifest(tmp_path))
    written = manifest(tmp_path)
    assert written["sessions"] == 2
    assert written["started_at"] == EARLY
    assert written["session"]["requests"] == 2
    assert written["totals"] == {
        "requests": 5,
        "prompt_tokens": 11,
        "completion_tokens": 22,
        "cost_usd": 0.75,
    }
    second.finish("done")
    third = writer(tmp_path, requests=1)
    third.start(30, read_manifest(tmp_path))
    assert manifest(tmp_path)["sessions"] == 3
    assert manifest(tmp_path)["totals"]["requests"] == 6


def test_maybe_write_waits_a_few_seconds(tmp_path, monkeypatch):
    mw = writer(tmp_path)
    mw.start(30)
    (tmp_path / "manifest.json").unlink()
    mw.maybe_write()
    assert not (tmp_path / "manifest.json").exists()
    monkeypatch.setattr(manifest_module, "WRITE_EVERY_S", 0.0)
    mw.maybe_write()
    assert manifest(tmp_path)["status"] == "running"


def test_read_manifest_refuses_what_it_cannot_trust(tmp_path):
    assert read_manifest(tmp_path) is None
    path = tmp_path / "manifest.json"
    path.write_text("{not json", encoding="utf-8")
    with pytest.raises(TinygenError, match="is corrupt"):
        read_manifest(tmp_path)
    path.write_text(json.dumps({"recipe": {"name": "x", "fingerprint": 5}}), encoding="utf-8")
    with pytest.raises(TinygenError, match=r"not a tinygen manifest \(field recipe.fingerprint"):
        read_manifest(tmp_path)
    with pytest.raises(TinygenError, match="not a tinygen manifest"):
        prepare_out_dir(tmp_path, tiny(), overwrite=False)  # no session builds on it
