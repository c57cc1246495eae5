"""Corpus statistics on small hand-made run directories whose right answers are known:
outcomes, tokens, features, reading damaged files, sampling."""

from __future__ import annotations

import json

import pytest

from tests.helpers import story_run
from tinygen.errors import TinygenError
from tinygen.report.corpus import SampleTexts, corpus_stats
from tinygen.report.outcomes import RunTally, outcome_fields
from tinygen.rundir.layout import ACCEPTED_KIND


def test_features_lengths_and_histogram(tmp_path):
    stats = corpus_stats(story_run(tmp_path))
    assert stats["features"]["counts"] == {"Dialogue": 2, "Twist": 1}
    assert stats["features"]["per_record"] == {"0": 2, "1": 1, "2": 1}
    length = stats["length"]
    assert (length["min"], length["max"], length["median"]) == (8, 12, 11.0)
    assert sum(b["count"] for b in length["histogram"]) == 4


def test_outcomes_tokens_and_cost(tmp_path):
    run = story_run(tmp_path)
    reasons = ["duplicate", "duplicate", "near_duplicate", "length"]
    rejected = [
        {"index": 10 + i, "reason": r, "usage": {"prompt_tokens": 10, "completion_tokens": 100}}
        for i, r in enumerate(reasons)
    ]
    (run / "rejected.jsonl").write_text("".join(json.dumps(r) + "\n" for r in rejected))
    (run / "failed.jsonl").write_text(
        json.dumps({"index": 20, "error": {"kind": "timeout"}}) + "\n"
    )
    stats = corpus_stats(run)
    r, t = stats["records"], stats["tokens"]
    assert (r["accepted"], r["rejected"], r["failed"]) == (4, 4, 1)
    assert r["rejected_by_reason"] == {"duplicate": 2, "length": 1, "near_duplicate": 1}
    assert (r["duplicate_rate"], r["near_duplicate_rate"]) == (0.25, 0.125)
    assert (t["prompt"], t["completion"], t["accepted_completion"]) == (80, 800, 400)
    assert t["cost"]["usd"] == pytest.approx((80 * 0.15 + 800 * 0.60) / 1e6)


def test_near_duplicates_from_a_dedup_pass(tmp_path):
    run = story_run(tmp_path)
    (run / "dedup_summary.json").write_text(json.dumps({"read": 8, "kept": 4, "near": 2}))
    r = corpus_stats(run)["records"]
    assert (r["near_duplicate_rate"], r["near_duplicate_source"]) == (0.25, "dedup_summary.json")


def test_torn_last_line_is_skipped_not_repaired(tmp_path):
    run = story_run(tmp_path)
    shard = run / "data" / "part-00000.jsonl"
    before = shard.read_bytes() + b'{"text": "torn'
    shard.write_bytes(before)
    stats = corpus_stats(run)
    assert stats["records"]["accepted"] == 4
    assert stats["records"]["file_problems"] == {"torn_last_line": 1}
    assert shard.read_bytes() == before  # stats never writes


def test_not_a_run_is_an_error(tmp_path):
    with pytest.raises(TinygenError):
        corpus_stats(tmp_path)


def test_sample_limits_text_stats_but_not_counts(tmp_path):
    stats = corpus_stats(story_run(tmp_path), sample=2)
    assert stats["records"]["accepted"] == 4 and stats["analysed_records"] == 2
    assert stats["tokens"]["accepted_completion"] == 400
    assert stats["length"]["records"] == 2
    assert stats["sampled"] == ["text statistics use the first 2 of 4 records"]


@pytest.mark.parametrize("sample", [2, 10])
def test_what_a_run_gathers_as_it_goes_gives_the_stats_of_its_files(tmp_path, sample):
    run = story_run(tmp_path)
    manifest = json.loads((run / "manifest.json").read_text())
    tally = RunTally(SampleTexts(manifest["recipe"], sample))
    for line in (run / "data" / "part-00000.jsonl").read_text().splitlines():
        tally.add(ACCEPTED_KIND, outcome_fields(json.loads(line)), line)
    gathered = corpus_stats(run, sample=sample, tally=tally)
    reread = corpus_stats(run, sample=sample)
    assert gathered.pop("elapsed_s") >= 0 and reread.pop("elapsed_s") >= 0
    assert gathered == reread and gathered["analysed_records"] == min(sample, 4)
    assert gathered["diversity"]["compression"]["raw_bytes"] > 0


def test_lines_that_are_not_json_objects_are_counted_not_raised(tmp_path):
    run = story_run(tmp_path)
    shard = run / "data" / "part-00000.jsonl"
    shard.write_bytes(shard.read_bytes() + b"[1, 2]\n7\nnot json\n" + b"[" * 100_000 + b"\n")
    stats = corpus_stats(run)
    assert stats["records"]["accepted"] == 4
    assert stats["records"]["file_problems"] == {"invalid_lines": 4}
