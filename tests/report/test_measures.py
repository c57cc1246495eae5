"""The text measures (lengths, n-grams, compression, openings, coverage) on small runs
whose right answers are known."""

from __future__ import annotations

import pytest

from tests.helpers import make_run, story_run
from tinygen.report import measures
from tinygen.report.corpus import corpus_stats
from tinygen.report.measures import histogram


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


def test_histogram_bins_known_values():
    bins = histogram([1, 2, 2, 3, 10])
    assert [b["count"] for b in bins] == [1, 2, 1, 0, 0, 0, 0, 0, 0, 1]
    assert (bins[0]["lo"], bins[0]["hi"], bins[-1]["hi"]) == (1, 2, 11)
    # one far outlier goes to an open-ended overflow bin
    bins = histogram([10] * 99 + [1000])
    assert bins[0] == {"lo": 10, "hi": 11, "count": 99}
    assert bins[-1] == {"lo": 21, "hi": None, "count": 1}


def test_hash_sampled_distinct_n_is_close_and_flagged(tmp_path, monkeypatch):
    texts = [" ".join(f"w{(i * 7 + j * j) % 500}" for j in range(60)) for i in range(300)]
    exact = corpus_stats(make_run(tmp_path / "a", texts))["diversity"]
    monkeypatch.setattr(measures, "NGRAM_MAX_KEPT", 2000)
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
