"""A run's tally gives the statistics a reread of its files gives."""

from __future__ import annotations

from tests.conftest import read_jsonl, shard_records
from tests.helpers import run
from tinygen.report.corpus import corpus_stats
from tinygen.report.outcomes import Outcomes, RunTally, outcome_fields
from tinygen.rundir.layout import ACCEPTED_KIND
from tinygen.teachers.base import Completion, TeacherCallError
from tinygen.teachers.fake import FakeTeacher, story


def _without_timing(stats: dict) -> dict:
    return {key: value for key, value in stats.items() if key != "elapsed_s"}


def _mixed_teacher(seed: int) -> FakeTeacher:
    """Accepted stories, an exact copy, an empty answer, one cut at the length limit and
    a failure, then the fake's own stories."""
    text = story(["cat", "jump"], seed)
    return FakeTeacher(
        text,
        text.upper(),
        "",
        Completion(story(["dog"], seed + 1), "length", 10, 200),
        TeacherCallError("client_error", "HTTP 400: no", retryable=False),
        Completion(story(["owl"], seed + 2), "stop", None, None),
    )


def test_the_card_counts_what_a_reread_counts_also_after_a_resume(tmp_path):
    first = run(tmp_path, _mixed_teacher(10**6), 6, concurrency=1, max_items=40)
    assert _without_timing(first.corpus) == _without_timing(corpus_stats(tmp_path, sample=500))
    second = run(tmp_path, _mixed_teacher(2 * 10**6), 14, concurrency=3, max_items=60)
    reread = corpus_stats(tmp_path, sample=500)
    assert _without_timing(second.corpus) == _without_timing(reread)
    records = reread["records"]
    assert records["accepted"] == len(shard_records(tmp_path)) == 14
    assert records["rejected"] == len(read_jsonl(tmp_path / "rejected.jsonl")) >= 4
    assert records["failed"] == 2 and records["rejected_by_reason"]["duplicate"] == 2
    assert reread["tokens"]["records_without_usage"] == 2


def test_outcome_fields_count_as_the_whole_record():
    judged = {
        "usage": {"prompt_tokens": 40, "completion_tokens": 7},
        "finish_reason": "stop",
        "variables": {"noun": "cat", "features": ["Dialogue", "Twist"]},
        "checks": {"judge": {"scores": {"grammar": 8, "plot": 6}, "mean": 7.0}, "x": 1},
        "text": "A story.",
        "messages": [{"role": "user", "content": "Write."}],
    }
    rejected = {**judged, "reason": "judge_low", "detail": "mean 5"}
    failed = {"error": {"kind": "timeout", "message": "slow"}, "attempts": 6}
    whole, fields = Outcomes(), Outcomes()
    for outcomes, pick in ((whole, dict), (fields, outcome_fields)):
        outcomes.add_accepted(pick(judged))
        outcomes.add_rejected(pick(rejected))
        outcomes.add_failed(pick(failed))
    assert vars(whole).keys() == vars(fields).keys()
    for name in vars(whole):
        if name == "judge":
            assert vars(whole.judge) == vars(fields.judge)
        else:
            assert getattr(whole, name) == getattr(fields, name), name
    assert "text" not in outcome_fields(judged) and "messages" not in outcome_fields(judged)


def test_the_tally_gathers_only_its_sample_whole():
    class Gathered(list):
        sample = 2
        add = list.append

    gathered = Gathered()
    tally = RunTally(gathered)
    for n in range(5):
        tally.add(ACCEPTED_KIND, {"finish_reason": "stop"}, f'{{"n": {n}, "text": "t"}}')
    assert tally.accepted == 5 and [record["n"] for record in gathered] == [0, 1]
