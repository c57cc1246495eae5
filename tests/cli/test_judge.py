"""The LLM judge end to end, against loopback servers that grade as an OpenAI endpoint
would (structured output, or OpenAI's 400 for a model without it)."""

from __future__ import annotations

import json
from collections import Counter

from tests.conftest import cli, gen_args, read_jsonl, shard_records
from tests.openai_server import JUDGE_ASK

JUDGE = ("--judge", "tinystories")


def test_scores_are_recorded_and_low_ones_rejected(server, tmp_path):
    srv = server()
    out = tmp_path / "run"
    code, stdout, err = cli(*gen_args(srv.base_url, out, 20, "--json", *JUDGE))
    assert code == 0, err
    summary = json.loads(stdout)
    records = shard_records(out)
    assert len(records) == 20
    assert all(r["checks"]["judge"]["mean"] >= 6 for r in records)
    low = [r for r in read_jsonl(out / "rejected.jsonl") if r["reason"] == "judge_low"]
    assert low and all(r["checks"]["judge"]["mean"] < 6 for r in low)
    assert low[0]["detail"].startswith("mean score ")
    judged = len(records) + len(low)
    assert summary["requests"] == 2 * judged == len(srv.requests())
    assert summary["rejected_by_reason"] == {"judge_low": len(low)}
    code, stats, err = cli("stats", str(out), "--json")
    assert code == 0, err
    scores = json.loads(stats)["judge"]
    assert scores["judged"] == judged and scores["judged_accepted"] == 20
    assert sum(b["records"] for b in scores["distribution"].values()) == judged
    assert set(scores["score_means"]) == {"grammar", "creativity", "consistency", "plot", "age_fit"}
    code, table, err = cli("stats", str(out))
    assert "Judge scores" in table and "mean age_fit" in table


def test_unreadable_answers_are_asked_again_and_counted(server, tmp_path):
    srv = server("--judge-malformed", "0.4")
    out = tmp_path / "run"
    code, stdout, err = cli(*gen_args(srv.base_url, out, 15, "--json", "--max-items", "60", *JUDGE))
    assert code in (0, 3), err
    summary = json.loads(stdout)
    rejected = read_jsonl(out / "rejected.jsonl")
    judged = shard_records(out) + rejected
    asked = Counter(r["checks"].get("judge", {}).get("requests", 2) for r in judged)
    assert asked[2] > 0  # some needed the second asking
    unreadable = [r for r in rejected if r["reason"] == "judge_unreadable"]
    assert all("not a JSON object" in r["detail"] for r in unreadable)
    assert summary["requests"] == len(srv.requests())


def test_a_host_without_structured_output_gets_plain_judge_requests(server, tmp_path):
    srv = server("--judge-no-schema")
    out = tmp_path / "run"
    code, stdout, err = cli(*gen_args(srv.base_url, out, 6, "--json", *JUDGE))
    assert code == 0, err
    notices = json.loads(stdout)["notices"]
    assert any("response_format" in notice for notice in notices)
    statuses = Counter(r["status"] for r in srv.requests())
    assert statuses[400] == 1  # learnt once, then sent without it
    assert all("judge" in r["checks"] for r in shard_records(out))


def test_judge_requests_count_toward_the_request_budget(server, tmp_path):
    srv = server()
    out = tmp_path / "run"
    args = gen_args(srv.base_url, out, 50, "--json", "--max-requests", "15", "--concurrency", "4")
    code, stdout, err = cli(*args, *JUDGE)
    assert code != 0
    assert json.loads(stdout)["requests"] == len(srv.requests()) <= 15
    judged = shard_records(out) + read_jsonl(out / "rejected.jsonl")
    assert all("judge" in r["checks"] for r in judged)  # none written unjudged
    again = server()
    code, stdout, err = cli(*gen_args(again.base_url, out, 5, "--json", *JUDGE))
    assert code == 0, err  # the run resumes and finishes under a fresh budget


def test_the_judge_may_ask_its_own_endpoint_and_model(server, tmp_path, monkeypatch):
    teacher, grader = server(), server("--require-key", "judge-key")
    monkeypatch.setenv("JUDGE_KEY", "judge-key")
    out = tmp_path / "run"
    where = f"{grader.base_url} model=big-judge key-env=JUDGE_KEY"
    code, _, err = cli(*gen_args(teacher.base_url, out, 5, "--judge-url", where, *JUDGE))
    assert code == 0, err
    assert {r["model"] for r in grader.requests()} == {"big-judge"}
    assert {r["status"] for r in grader.requests()} == {200}
    assert {r["model"] for r in teacher.requests()} == {"test-model"}
    records = shard_records(out)
    assert len(grader.requests()) >= len(records) == 5
    assert {r["checks"]["judge"]["model"] for r in records} == {"big-judge"}


def test_workers_count_the_judges_requests(server, tmp_path):
    srv = server()
    out = tmp_path / "run"
    args = gen_args(srv.base_url, out, 12, "--json", "--workers", "2", "--concurrency", "8")
    code, stdout, err = cli(*args, *JUDGE)
    assert code == 0, err
    summary = json.loads(stdout)
    assert summary["requests"] == len(srv.requests())
    assert summary["completion_tokens"] > 0


def test_the_shipped_rubrics_end_with_the_ask_the_server_knows():
    from tinygen.recipe.datafiles import prompts_dir

    for rubric in ("tinystories", "textbook"):
        assert JUDGE_ASK in (prompts_dir() / "rubrics" / f"{rubric}.j2").read_text()
