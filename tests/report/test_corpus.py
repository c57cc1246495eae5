"""Corpus statistics on small hand-made run directories whose right answers are known."""

from __future__ import annotations

import json

import pytest
from rich.console import Console

from tests.helpers import make_run, story_run
from tinygen.errors import TinygenError
from tinygen.report import corpus as report
from tinygen.report.corpus import corpus_stats, histogram, names_in
from tinygen.report.view import render_stats, short_summary
from tinygen.teachers.prices import price_entry


def test_distinct_n_is_unique_over_total_ngrams(tmp_path):
    stats = corpus_stats(make_run(tmp_path, ["a b a b", "A, b. C!"]))
    d = stats["diversity"]
    # unigrams 3/7; bigrams ab ba ab | ab bc: 3/5; trigrams aba bab | abc: 3/3
    assert (d["distinct_1"], d["distinct_2"], d["distinct_3"]) == (0.4286, 0.6, 1.0)
    assert d["words"] == 7 and d["vocabulary"] == 3 and d["sampled"] is False


def test_openings_and_names(tmp_path):
    d = corpus_stats(story_run(tmp_path))["diversity"]
    assert d["opening_3"]["most_common"] == "once upon a"
    assert d["opening_3"]["share"] == 0.75
    assert d["opening_5"]["most_common"] == "once upon a time tom"
    assert d["opening_5"]["share"] == 0.5
    assert d["opening_3"]["top"][1] == {"text": "one day mia", "records": 1, "share": 0.25}
    assert d["name"]["most_common"] == "Tom" and d["name"]["share"] == 0.5
    assert [row["text"] for row in d["name"]["top"]] == ["Tom", "Mia"]


def test_names_skip_sentence_starts_quotes_and_stoplist():
    text = 'Then Lily smiled. Tom said, "Look, Mom!" "Hi," Ben said. I saw Dad with Sam.'
    assert names_in(text) == {"Lily", "Ben", "Sam"}


def test_coverage_required_in_text_and_followed(tmp_path):
    stats = corpus_stats(story_run(tmp_path))
    noun, verb, place = (stats["coverage"][k] for k in ("noun", "verb", "place"))
    # nouns asked: cat dog ball tree (4/5); in texts: cat dog ball hat (4/5);
    # asked and used: cat dog ball, not tree (3/4)
    assert (noun["required_share"], noun["in_text_share"], noun["followed_share"]) == (
        0.8,
        0.8,
        0.75,
    )
    # verbs asked: run jump sing (3/3); in texts "ran" and "jumped" (2/3, irregular forms
    # count); used when asked: ran, jumped (2/4)
    assert (verb["required_share"], verb["in_text_share"], verb["followed_share"]) == (
        1.0,
        0.6667,
        0.5,
    )
    # phrases: "a farm" appears, "the big park" does not ("a big ball" is no match)
    assert (place["multiword_entries"], place["in_text"], place["followed_share"]) == (2, 1, None)
    curve = stats["coverage_curve"]
    assert [p["records"] for p in curve] == [1, 2, 3, 4]
    assert curve[0]["required"]["noun"] == 0.2 and curve[-1]["required"]["noun"] == 0.8


def test_coverage_reads_list_files_and_reports_missing_ones(tmp_path):
    lists = {
        "noun": {"file": "words.txt", "items": None, "draw": 1},  # next to the recipe
        "verb": {"file": "vocab/verbs.txt", "items": None, "draw": 1},  # shipped
        "gone": {"file": "nope/missing.txt", "items": None, "draw": 1},
    }
    (tmp_path / "words.txt").write_text("cat\n\ndog\ncat\n")
    stats = corpus_stats(make_run(tmp_path / "run", ["The cats jumped."], lists=lists))
    coverage = stats["coverage"]
    assert (coverage["noun"]["entries"], coverage["noun"]["in_text_share"]) == (2, 0.5)
    assert coverage["verb"]["entries"] > 100 and coverage["verb"]["in_text"] >= 1
    assert "not found" in coverage["gone"]["error"]


def test_features_lengths_and_histogram(tmp_path):
    stats = corpus_stats(story_run(tmp_path))
    assert stats["features"]["counts"] == {"Dialogue": 2, "Twist": 1}
    assert stats["features"]["per_record"] == {"0": 2, "1": 1, "2": 1}
    length = stats["length"]
    assert (length["min"], length["max"], length["median"]) == (8, 12, 11.0)
    assert sum(b["count"] for b in length["histogram"]) == 4


def test_histogram_bins_known_values():
    bins = histogram([1, 2, 2, 3, 10])
    assert [b["count"] for b in bins] == [1, 2, 1, 0, 0, 0, 0, 0, 0, 1]
    assert (bins[0]["lo"], bins[0]["hi"], bins[-1]["hi"]) == (1, 2, 11)
    # one far outlier goes to an open-ended overflow bin
    bins = histogram([10] * 99 + [1000])
    assert bins[0] == {"lo": 10, "hi": 11, "count": 99}
    assert bins[-1] == {"lo": 21, "hi": None, "count": 1}


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


def test_prices_match_model_names(tmp_path):
    assert price_entry("gpt-4o-mini-2024-07-18")[0] == "gpt-4o-mini"
    assert price_entry("openai/gpt-4o")[0] == "gpt-4o"
    assert price_entry("llama3.2") is None
    local = report.estimate_cost({"kind": "local", "model": "gpt-4o"}, 10, 10)
    assert local["usd"] is None and "local" in local["note"]
    stats = corpus_stats(make_run(tmp_path, ["hello"], model="qwen2.5"))
    assert stats["tokens"]["cost"]["usd"] is None
    assert stats["tokens"]["cost"]["note"] == "unknown"


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


def test_hash_sampled_distinct_n_is_close_and_flagged(tmp_path, monkeypatch):
    texts = [" ".join(f"w{(i * 7 + j * j) % 500}" for j in range(60)) for i in range(300)]
    exact = corpus_stats(make_run(tmp_path / "a", texts))["diversity"]
    monkeypatch.setattr(report, "NGRAM_MAX_KEPT", 2000)
    sampled = corpus_stats(make_run(tmp_path / "b", texts))
    d = sampled["diversity"]
    assert d["sampled"] is True and d["hash_sample_rate"] < 1
    assert any("hash space" in note for note in sampled["sampled"])
    for n in (2, 3):
        assert d[f"distinct_{n}"] == pytest.approx(exact[f"distinct_{n}"], rel=0.15)


def test_duplicates_lower_the_xz_ratio(tmp_path):
    texts = [" ".join(f"w{(i * 31 + j * 17) % 997}x{j}" for j in range(80)) for i in range(200)]
    unique = corpus_stats(make_run(tmp_path / "u", texts))["diversity"]["compression"]
    doubled = corpus_stats(make_run(tmp_path / "d", texts[:100] * 2))["diversity"]["compression"]
    assert doubled["ratio"] < 0.75 * unique["ratio"]
    assert unique["raw_bytes"] == sum(len(t) + 1 for t in texts)


def _render(stats: list[dict]) -> str:
    console = Console(record=True, width=240, force_terminal=False)
    render_stats(stats, console)
    return console.export_text()


def test_rendering_shows_the_json_numbers(tmp_path):
    stats = corpus_stats(story_run(tmp_path))
    json.dumps(stats)  # JSON-able
    text = _render([stats])
    d = stats["diversity"]
    for figure in (
        f"{100 * d['opening_3']['share']:.1f}%",
        f"{100 * d['name']['share']:.1f}%",
        f"{d['distinct_1']:.4g}",
        f"{d['distinct_2']:.4g}",
        f"{d['compression']['ratio']:.4g}",
        d["opening_3"]["most_common"],
        d["name"]["most_common"],
        "80.0% · 80.0% · 75.0% of 5",
    ):
        assert figure in text, figure
    assert "█" in text  # the length histogram
    summary = short_summary(stats)
    assert "4 records" in summary and "75.0%" in summary


def test_compare_two_corpora_side_by_side(tmp_path):
    a = corpus_stats(story_run(tmp_path / "a"))
    b = corpus_stats(make_run(tmp_path / "b", ["Ana ran home.", "Then Ana sang."], name="other"))
    text = _render([a, b])
    assert "A: hand" in text and "B: other" in text
    row = next(line for line in text.splitlines() if "top 3-word opening share" in line)
    assert "75.0%" in row and "50.0%" in row
